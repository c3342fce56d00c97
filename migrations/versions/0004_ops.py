"""issue 15 (ops): counts kept of deleted deliveries (retention, account deletion)

Revision ID: 0004_ops
Revises: 0004_lead
"""
from alembic import op
import sqlalchemy as sa


revision = "0004_ops"
down_revision = "0004_lead"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "delivery_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_type", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.CheckConstraint("channel IN ('email', 'push', 'digest', 'sms')",
                           name=op.f("ck_delivery_counts_channel")),
        sa.CheckConstraint("state IN ('sent', 'delivered', 'dead', 'gone')",
                           name=op.f("ck_delivery_counts_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_counts")),
        sa.UniqueConstraint("source_type", "source_id", "kind", "channel", "state",
                            name=op.f("uq_delivery_counts_source_type_source_id_kind_channel_state")),
    )


def downgrade():
    op.drop_table("delivery_counts")
