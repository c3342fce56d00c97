"""issue 14 (fanout): an alert is written to the outbox in parts (fanouts, fanout_parts);
the workers' claim reads partial indexes of due and of leased rows only

Revision ID: 0004_fanout
Revises: 0004_ops
"""
from alembic import op
import sqlalchemy as sa


revision = "0004_fanout"
down_revision = "0004_ops"
branch_labels = None
depends_on = None

OLD_DUE = "state IN ('queued', 'sending')"
NEW_DUE = "state = 'queued' AND channel <> 'digest'"
LEASED = "state = 'sending'"


def upgrade():
    op.create_table(
        "fanouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("audience", sa.String(length=32), nullable=False),
        sa.Column("audience_id", sa.Integer(), nullable=False),
        sa.Column("channels", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("parts_done", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("state IN ('sending', 'done')", name=op.f("ck_fanouts_state")),
        sa.ForeignKeyConstraint(["notification_id"], ["notifications.id"],
                                name=op.f("fk_fanouts_notification_id_notifications"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fanouts")),
        sa.UniqueConstraint("notification_id", name=op.f("uq_fanouts_notification_id")),
    )
    op.create_table(
        "fanout_parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fanout_id", sa.Integer(), nullable=False),
        sa.Column("first_user_id", sa.Integer(), nullable=False),
        sa.Column("last_user_id", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["fanout_id"], ["fanouts.id"],
                                name=op.f("fk_fanout_parts_fanout_id_fanouts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fanout_parts")),
    )
    op.create_index(op.f("ix_fanout_parts_fanout_id"), "fanout_parts", ["fanout_id"],
                    unique=False)
    op.create_index("ix_fanout_parts_waiting", "fanout_parts", ["id"], unique=False,
                    postgresql_where=sa.text("done_at IS NULL"),
                    sqlite_where=sa.text("done_at IS NULL"))
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.create_index("ix_deliveries_due", "deliveries", ["next_attempt_at"], unique=False,
                    postgresql_where=sa.text(NEW_DUE), sqlite_where=sa.text(NEW_DUE))
    op.create_index("ix_deliveries_leased", "deliveries", ["lease_until"], unique=False,
                    postgresql_where=sa.text(LEASED), sqlite_where=sa.text(LEASED))


def downgrade():
    op.drop_index("ix_deliveries_leased", table_name="deliveries")
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.create_index("ix_deliveries_due", "deliveries", ["next_attempt_at"], unique=False,
                    postgresql_where=sa.text(OLD_DUE), sqlite_where=sa.text(OLD_DUE))
    op.drop_index("ix_fanout_parts_waiting", table_name="fanout_parts")
    op.drop_index(op.f("ix_fanout_parts_fanout_id"), table_name="fanout_parts")
    op.drop_table("fanout_parts")
    op.drop_table("fanouts")
