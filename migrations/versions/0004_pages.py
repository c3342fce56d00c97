"""Issue 14: cache_generations, the generation of each table cached page sections depend on.

Revision ID: 0004_pages
Revises: 0004_fanout
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_pages"
down_revision = "0004_fanout"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "cache_generations",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cache_generations")),
    )


def downgrade():
    op.drop_table("cache_generations")
