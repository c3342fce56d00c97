"""States are real: every state column refuses a value outside its tuple, in the database
itself (the models' schema and the migrated one), on SQLite and PostgreSQL."""
import os
import re

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from tests.conftest import create_database, drop_database
from tests.pages import build_world
from webapp import create_app
from webapp.accounts.models import ROLES
from webapp.alerts.models import ALERT_STATES
from webapp.config import Config
from webapp.delivery.models import CHANNELS, STATES
from webapp.delivery.retention import FINISHED, DeliveryCount
from webapp.extensions import db
from webapp.meetings.models import RSVP_STATUSES
from webapp.incidents.models import INCIDENT_STATES
from webapp.priorities.models import PRIORITY_STATUSES
from webapp.rumours.models import STATUSES as RUMOUR_STATUSES
from webapp.rumours.models import VERDICTS
from webapp.threads.models import STATUSES

STATE_COLUMNS = [
    ("users", "role", ROLES),
    ("incidents", "state", tuple(INCIDENT_STATES)),
    ("incident_updates", "state", tuple(INCIDENT_STATES)),
    ("rumours", "status", tuple(RUMOUR_STATUSES)),
    ("rumours", "verdict", tuple(VERDICTS)),
    ("rumour_verdicts", "verdict", tuple(VERDICTS)),
    ("priorities", "status", PRIORITY_STATUSES),
    ("rsvps", "status", RSVP_STATUSES),
    ("alerts", "state", ALERT_STATES),
    ("deliveries", "channel", CHANNELS),
    ("deliveries", "state", STATES),
    ("conversations", "status", tuple(STATUSES)),
    ("delivery_counts", "channel", CHANNELS),
    ("delivery_counts", "state", FINISHED),
]


def _refuses(conn, table, column, values):
    """Every listed value is accepted and anything else is refused (a savepoint each)."""
    key = "alert_id" if table == "incidents" else "id"
    row_id = conn.execute(text(f"SELECT min({key}) FROM {table}")).scalar()
    assert row_id is not None, f"no {table} row to try"
    for value in values:
        with conn.begin_nested():
            conn.execute(text(f"UPDATE {table} SET {column} = :v WHERE {key} = :id"),
                         {"v": value, "id": row_id})
    with pytest.raises(IntegrityError, match=f"(?i)ck_{table}_{column}|check constraint"):
        with conn.begin_nested():
            conn.execute(text(f"UPDATE {table} SET {column} = 'bogus' WHERE {key} = :id"),
                         {"id": row_id})


@pytest.mark.parametrize("table,column,values", STATE_COLUMNS,
                         ids=[f"{t}.{c}" for t, c, _ in STATE_COLUMNS])
def test_the_database_refuses_a_state_outside_the_list(app, make_resident, make_staff,
                                                       table, column, values):
    build_world(make_resident, make_staff)
    if table == "delivery_counts":  # written only by retention: one row to update
        db.session.add(DeliveryCount(source_type="alert", source_id=1, kind="alert",
                                     channel="email", state="sent", count=1))
    db.session.commit()
    with db.engine.connect() as conn:
        with conn.begin():
            _refuses(conn, table, column, values)


def test_the_migrated_schema_refuses_them_too_and_keeps_partial_indexes(tmp_path):
    url = create_database("states")

    class MigrationConfig(Config):
        TESTING = True
        SECRET_KEY = "states-test"
        SQLALCHEMY_DATABASE_URI = url
        INSTANCE_PATH = str(tmp_path)

    app = create_app(MigrationConfig)
    try:
        with app.app_context():
            upgrade()
            engine = create_engine(db.engine.url)
            inspector = inspect(engine)
            for table, column, values in STATE_COLUMNS:  # the migration lists the models' values
                checks = {c["name"]: c["sqltext"] for c in inspector.get_check_constraints(table)}
                allowed = re.findall(r"'([a-z_]+)'", str(checks[f"ck_{table}_{column}"]))
                assert sorted(allowed) == sorted(values), (table, column)
            assert "centroid_lat" not in {c["name"] for c in inspector.get_columns("wards")}
            with engine.connect() as conn, conn.begin():
                conn.execute(text(
                    "INSERT INTO users (id, email, display_name, role, created_at, survey_step,"
                    " email_frequency, respondent_key, session_version, password_must_change)"
                    " VALUES (1, 'a@example.org', '', 'resident', CURRENT_TIMESTAMP, 1,"
                    " 'immediate', 'k', 1, false)"))
                _refuses(conn, "users", "role", ROLES)
                if engine.dialect.name == "sqlite":  # the table rebuild kept the WHERE
                    sql = dict(conn.execute(text(
                        "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'deliveries'"
                        " AND type = 'index'")).all())
                    assert "WHERE state = 'queued' AND channel <> 'digest'" in sql["ix_deliveries_due"]
                    assert "WHERE state = 'sending'" in sql["ix_deliveries_leased"]
                    assert "WHERE channel = 'digest'" in sql["ix_deliveries_digest"]
                    assert "WHERE digest_delivery_id IS NOT NULL" in sql["ix_deliveries_digest_delivery"]
            engine.dispose()
            db.engine.dispose()
    finally:
        drop_database(url)
    expected_backend = "postgresql" if os.environ.get("TEST_DATABASE_URL") else "sqlite"
    assert url.startswith(expected_backend)
