"""issue 9 (scope): blocked addresses kept as a keyed hash; admins' "view as admin" step;
"Was this useful?" answers outlive the account as anonymous counts

Revision ID: 0002_scope
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = "0002_scope"
down_revision = "0002_auth"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "blocked_addresses",
        sa.Column("address_hmac", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("address_hmac", name=op.f("pk_blocked_addresses")),
    )
    op.create_table(
        "conversation_access",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_conversation_access_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_conversation_access")),
    )
    with op.batch_alter_table("alert_answers", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
        batch_op.drop_constraint("fk_alert_answers_user_id_users", type_="foreignkey")
        batch_op.create_foreign_key("fk_alert_answers_user_id_users", "users", ["user_id"],
                                    ["id"], ondelete="SET NULL")


def downgrade():
    op.execute("DELETE FROM alert_answers WHERE user_id IS NULL")
    with op.batch_alter_table("alert_answers", schema=None) as batch_op:
        batch_op.drop_constraint("fk_alert_answers_user_id_users", type_="foreignkey")
        batch_op.create_foreign_key("fk_alert_answers_user_id_users", "users", ["user_id"],
                                    ["id"], ondelete="CASCADE")
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
    op.drop_table("conversation_access")
    op.drop_table("blocked_addresses")
