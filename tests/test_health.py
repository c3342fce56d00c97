"""``/healthz`` (alive) and ``/readyz`` (database, schema at the migrations' head, outbox
lag), on the test database (SQLite, or PostgreSQL with TEST_DATABASE_URL). The test
database is made with ``create_all`` and stamped at the head (tests/conftest.py); a test
that changes ``alembic_version`` uses the ``stamp`` fixture, which puts the head back."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text, update

from webapp.core.health import migration_heads
from webapp.delivery import Event, notify
from webapp.delivery.models import Delivery
from webapp.extensions import db
from webapp.platform.timeutil import utcnow


@pytest.fixture
def stamp(app):
    """``stamp(*revisions)``: write ``alembic_version`` as Alembic does (none: no table);
    stamped at the head again afterwards."""
    def do_stamp(*revisions):
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        if not revisions:
            db.session.commit()
            return
        db.session.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL "
                                "PRIMARY KEY)"))
        for revision in revisions:
            db.session.execute(text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})
        db.session.commit()
    yield do_stamp
    db.session.rollback()
    do_stamp(*heads(app))


def heads(app):
    return sorted(migration_heads(app.extensions["migrate"].directory))


def test_healthz_answers_alive_without_the_database(app, client, monkeypatch):
    assert client.get("/healthz").json == {"status": "ok"}

    def broken(*args, **kwargs):
        raise ConnectionError("database is down")

    monkeypatch.setattr(db.session, "execute", broken)
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_ok_at_head_with_an_empty_outbox(app, client, stamp):
    stamp(*heads(app))
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json == {"status": "ok", "database": "ok", "migrations": "ok",
                             "outbox": "ok", "outbox_lag_seconds": 0.0}
    assert "no-store" in response.headers["Cache-Control"]


def test_readyz_503_when_the_database_is_down(app, client, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("database is down")

    monkeypatch.setattr(db.session, "execute", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["status"] == "not ready"
    assert response.json["database"] == "unavailable (ConnectionError)"


def test_readyz_503_when_never_migrated(app, client, stamp):
    stamp()  # no alembic_version table
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["database"] == "ok"
    assert response.json["migrations"].startswith("not migrated")


def test_readyz_503_on_an_older_revision(app, client, stamp):
    stamp("0002_auth")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["migrations"] == \
        f"at 0002_auth, head is {', '.join(heads(app))}: run flask db upgrade"
    assert response.json["outbox"] == "ok"


def test_readyz_503_when_a_due_delivery_waits_too_long(app, client, stamp, make_resident):
    stamp(*heads(app))
    resident = make_resident()
    notify(resident, Event(kind="reply", source_type="message", source_id=1, title="A reply",
                           body="We will look into it.", url="/messages/1"))
    db.session.commit()
    # Just queued: due now, no lag to speak of.
    assert client.get("/readyz").status_code == 200
    # Waiting 11 minutes with no worker: over the 600 s default.
    db.session.execute(update(Delivery).values(next_attempt_at=utcnow() - timedelta(minutes=11)))
    db.session.commit()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["migrations"] == "ok"
    assert response.json["outbox"].startswith("oldest due delivery waited 66")
    assert 659 < response.json["outbox_lag_seconds"] < 700
    # A higher limit tolerates it; a delivery due only later is not lag at all.
    app.config["READY_MAX_OUTBOX_LAG_SECONDS"] = 3600
    try:
        assert client.get("/readyz").status_code == 200
    finally:
        app.config["READY_MAX_OUTBOX_LAG_SECONDS"] = 600
    db.session.execute(update(Delivery).values(next_attempt_at=utcnow() + timedelta(minutes=5)))
    db.session.commit()
    assert client.get("/readyz").json["outbox_lag_seconds"] == 0.0
