"""issue 13 (polish): published questions the resident may withdraw for a day; when the
resident answered the ward home's "Turn on notifications?" prompt

Revision ID: 0003_polish
Revises: 0003_priorities
"""
from alembic import op
import sqlalchemy as sa


revision = "0003_polish"
down_revision = "0003_incidents"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "published_questions",
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("withdrawable_until", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["ward_posts.id"],
                                name=op.f("fk_published_questions_post_id_ward_posts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"],
                                name=op.f("fk_published_questions_conversation_id_conversations"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("post_id", name=op.f("pk_published_questions")),
    )
    with op.batch_alter_table("published_questions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_published_questions_conversation_id"),
                              ["conversation_id"], unique=False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("push_prompt_answered_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("push_prompt_answered_at")
    with op.batch_alter_table("published_questions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_published_questions_conversation_id"))
    op.drop_table("published_questions")
