"""issue 14 (fanout): the outbox's index by resident leaves out rows still being sent

``ix_deliveries_user_id`` held every row; ``ix_deliveries_user`` holds texts and the rows
whose sending is over. A London-wide fan-out writes ~720,000 waiting email, push and
digest rows, and their entries were ~15 % of its PostgreSQL time; each push's claim added
another. A resident's waiting rows are found through the other partial indexes
(``webapp.delivery.models.RESIDENT_PARTS``).

Revision ID: 0006_resident_index
Revises: 0005_fanout_keys
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_resident_index"
down_revision = "0005_fanout_keys"
branch_labels = None
depends_on = None

# As webapp.delivery.models.USER_INDEXED on the day of this migration.
USER_INDEXED = "channel = 'sms' OR state IN ('sent', 'delivered', 'batched', 'dead', 'gone')"


def upgrade():
    op.drop_index("ix_deliveries_user_id", table_name="deliveries")
    op.create_index("ix_deliveries_user", "deliveries", ["user_id"],
                    postgresql_where=sa.text(USER_INDEXED), sqlite_where=sa.text(USER_INDEXED))


def downgrade():
    op.drop_index("ix_deliveries_user", table_name="deliveries")
    op.create_index("ix_deliveries_user_id", "deliveries", ["user_id"])
