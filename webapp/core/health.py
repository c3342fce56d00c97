"""Liveness and readiness: what ``/healthz`` and ``/readyz`` answer, and what the restore
drill (``deploy/backup/restore-drill.sh``) and monitoring check.

* alive: the process answers requests (no database touched: a database outage must not
  make a supervisor restart every web process);
* ready: the database answers, its schema is at the migrations' head (``flask db upgrade``
  has run: an instance started on an old schema would fail on the first new column), and
  the outbox keeps up (the oldest due delivery has waited less than
  ``READY_MAX_OUTBOX_LAG_SECONDS``: no worker running, or too few).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import inspect, text

from webapp.delivery.health import outbox_health
from webapp.extensions import db
from webapp.platform.timeutil import utcnow


@dataclass
class Readiness:
    checks: dict = field(default_factory=dict)  # name -> "ok" or the reason it is not
    outbox_lag_seconds: float | None = None

    @property
    def ready(self) -> bool:
        return all(value == "ok" for value in self.checks.values())


@lru_cache(maxsize=4)
def migration_heads(directory: str) -> frozenset[str]:
    """The head revision(s) of the Alembic scripts in ``directory`` (read once per process)."""
    return frozenset(ScriptDirectory(directory).get_heads())


def database_revisions() -> frozenset[str] | None:
    """The revisions stamped in ``alembic_version``, or None when the table is missing."""
    if not inspect(db.session.connection()).has_table("alembic_version"):
        return None
    return frozenset(db.session.scalars(text("SELECT version_num FROM alembic_version")))


def readiness() -> Readiness:
    """Check the database, the schema revision and the outbox lag; never raises."""
    result = Readiness()
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means the database is unavailable
        db.session.rollback()
        result.checks["database"] = f"unavailable ({type(exc).__name__})"
        return result
    result.checks["database"] = "ok"
    heads = migration_heads(current_app.extensions["migrate"].directory)
    stamped = database_revisions()
    if stamped is None:
        result.checks["migrations"] = "not migrated (no alembic_version): run flask db upgrade"
    elif stamped != heads:
        result.checks["migrations"] = (f"at {', '.join(sorted(stamped)) or 'nothing'}, head is "
                                       f"{', '.join(sorted(heads))}: run flask db upgrade")
    else:
        result.checks["migrations"] = "ok"
    now = utcnow()
    due_since = outbox_health(now).due_since
    lag = max(0.0, (now - due_since).total_seconds()) if due_since else 0.0
    result.outbox_lag_seconds = round(lag, 1)
    limit = float(current_app.config["READY_MAX_OUTBOX_LAG_SECONDS"])
    result.checks["outbox"] = "ok" if lag <= limit else \
        f"oldest due delivery waited {lag:.0f} s (limit {limit:.0f} s): are workers running?"
    db.session.rollback()
    return result
