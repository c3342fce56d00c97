"""issue 14 (fanout): deliveries lose their foreign keys to users and notifications

Their checks (a trigger and a row lock for each inserted row, on the resident and on the
notification) were ~40 % of PostgreSQL's CPU in a London-wide fan-out. The rows still go
with their resident and notification: account deletion deletes them explicitly, under
the outbox lock (webapp.delivery.services.outbox_lock).

Revision ID: 0005_fanout_keys
Revises: 0004_pages
"""
from alembic import op


revision = "0005_fanout_keys"
down_revision = "0004_pages"
branch_labels = None
depends_on = None

KEYS = (("fk_deliveries_notification_id_notifications", "notifications", "notification_id"),
        ("fk_deliveries_user_id_users", "users", "user_id"))


def upgrade():
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        for name, _table, _column in KEYS:
            batch_op.drop_constraint(name, type_="foreignkey")


def downgrade():
    # Rows left without their resident or notification (none should be) would stop the
    # keys from being made: they go first.
    op.execute("DELETE FROM deliveries WHERE user_id NOT IN (SELECT id FROM users) "
               "OR notification_id NOT IN (SELECT id FROM notifications)")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        for name, table, column in KEYS:
            batch_op.create_foreign_key(name, table, [column], ["id"], ondelete="CASCADE")
