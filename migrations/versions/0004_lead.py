"""CHECK constraints on the state columns added since the constraints migration
(incidents, incident updates, rumours, rumour verdicts, priorities), and a per-ward
"stop updates about this ward" switch (user_wards.muted, from the unsubscribe page)

Revision ID: 0004_lead
Revises: 0003_newcomer
"""
import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op


revision = "0004_lead"
down_revision = "0003_newcomer"
branch_labels = None
depends_on = None

# The values as they stand in this revision (the models' tuples may grow in later ones).
CHECKS = [
    ("incidents", "state", ("ongoing", "closed", "outcome")),
    ("incident_updates", "state", ("ongoing", "closed", "outcome")),
    ("rumours", "status", ("open", "published")),
    ("rumours", "verdict", ("true", "false", "partly", "unknown")),
    ("rumour_verdicts", "verdict", ("true", "false", "partly", "unknown")),
    ("priorities", "status", ("current", "closed")),
]


def _sqlite_foreign_keys_off():
    """0002_notify's helper (a migration file is not an importable module): SQLite rebuilds
    each table with foreign keys off, so dropping the old copy of ``rumours`` does not
    cascade to its verdicts."""
    path = Path(__file__).with_name("0002_notify.py")
    spec = importlib.util.spec_from_file_location("wardline_migration_0002_notify", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._sqlite_foreign_keys_off()


def _tables():
    return list(dict.fromkeys(table for table, _, _ in CHECKS))


def upgrade():
    with op.batch_alter_table("user_wards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("muted", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with _sqlite_foreign_keys_off():
        for table in _tables():
            with op.batch_alter_table(table, schema=None) as batch_op:
                for name, column, values in CHECKS:
                    if name == table:
                        allowed = ", ".join(f"'{value}'" for value in values)
                        batch_op.create_check_constraint(op.f(f"ck_{table}_{column}"),
                                                         f"{column} IN ({allowed})")


def downgrade():
    with _sqlite_foreign_keys_off():
        for table in reversed(_tables()):
            with op.batch_alter_table(table, schema=None) as batch_op:
                for name, column, _values in CHECKS:
                    if name == table:
                        batch_op.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
    with op.batch_alter_table("user_wards", schema=None) as batch_op:
        batch_op.drop_column("muted")
