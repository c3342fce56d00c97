"""states are real: CHECK constraints on state columns; unread ward centroids dropped

Revision ID: 0003_edge
Revises: 0003_polish
Create Date: 2026-11-26 13:00:00

``users.role``, ``rsvps.status``, ``alerts.state``, ``deliveries.state``/``channel`` and
``conversations.status`` may only hold their listed values (the tuples in the models,
through ``webapp.states.one_of``). ``wards.centroid_lat``/``centroid_lon`` were written at
load and never read. SQLite rebuilds each table (batch "move and copy"), with foreign keys
off so dropping the old copy cascades nowhere.
"""
import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003_edge"
down_revision = "0003_polish"
branch_labels = None
depends_on = None

# (table, column, allowed values) as they are at this revision.
CHECKS = [
    ("users", "role", ("resident", "officer", "admin")),
    ("rsvps", "status", ("going", "waitlisted", "cancelled")),
    ("alerts", "state", ("scheduled", "sent", "cancelled")),
    ("deliveries", "channel", ("email", "push", "digest", "sms")),
    ("deliveries", "state", ("queued", "sending", "sent", "delivered", "batched", "dead", "gone")),
    ("conversations", "status", ("awaiting", "answered", "closed")),
]

# SQLite's rebuild keeps indexes by reflection, which forgets a partial index's WHERE:
# these are dropped before and made again after (PostgreSQL keeps them as they are).
PARTIAL_INDEXES = {
    "deliveries": [
        ("ix_deliveries_due", ["next_attempt_at"], "state IN ('queued', 'sending')"),
        ("ix_deliveries_digest", ["user_id", "created_at"],
         "channel = 'digest' AND state = 'queued'"),
        ("ix_deliveries_digest_delivery", ["digest_delivery_id"], "digest_delivery_id IS NOT NULL"),
    ],
}


def _sqlite_foreign_keys_off():
    """0002_notify's helper (a migration file is not an importable module): SQLite rebuilds
    with foreign keys off, and any foreign key broken on the way fails the migration."""
    path = Path(__file__).with_name("0002_notify.py")
    spec = importlib.util.spec_from_file_location("wardline_migration_0002_notify", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._sqlite_foreign_keys_off()


def _tables():
    return list(dict.fromkeys(table for table, _, _ in CHECKS))


def _partial_indexes(table, make):
    if op.get_bind().dialect.name != "sqlite":
        return
    for name, columns, where in PARTIAL_INDEXES.get(table, []):
        if make:
            op.create_index(name, table, columns, unique=False, sqlite_where=sa.text(where))
        else:
            op.drop_index(name, table_name=table)


def upgrade():
    with _sqlite_foreign_keys_off():
        for table in _tables():
            _partial_indexes(table, make=False)
            with op.batch_alter_table(table, schema=None) as batch_op:
                for name, column, values in CHECKS:
                    if name == table:
                        allowed = ", ".join(f"'{v}'" for v in values)
                        batch_op.create_check_constraint(op.f(f"ck_{table}_{column}"),
                                                         f"{column} IN ({allowed})")
            _partial_indexes(table, make=True)
        with op.batch_alter_table("wards", schema=None) as batch_op:
            batch_op.drop_column("centroid_lat")
            batch_op.drop_column("centroid_lon")


def downgrade():
    with _sqlite_foreign_keys_off():
        with op.batch_alter_table("wards", schema=None) as batch_op:
            batch_op.add_column(sa.Column("centroid_lat", sa.Float(), nullable=False,
                                          server_default="0"))
            batch_op.add_column(sa.Column("centroid_lon", sa.Float(), nullable=False,
                                          server_default="0"))
        for table in reversed(_tables()):
            _partial_indexes(table, make=False)
            with op.batch_alter_table(table, schema=None) as batch_op:
                for name, column, _ in CHECKS:
                    if name == table:
                        batch_op.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
            _partial_indexes(table, make=True)
