"""Retention: deleting what is kept no longer, in small batches.

Every retention tick (see ``webapp.delivery.scheduler.TICKS``) deletes through
:func:`delete_in_batches`: at most ``RETENTION_BATCH`` rows per transaction, committed one
after the other, so no lock on a big table is held for long and a second scheduler running
the same tick at once only finds fewer rows (a delete is idempotent). This module holds the
audit log's own tick too: the audit log lives in the platform.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select

from webapp.extensions import db
from webapp.platform.audit import AuditEvent
from webapp.platform.db import write_transaction
from webapp.platform.timeutil import utcnow


def batch_size() -> int:
    """Rows deleted per transaction (``RETENTION_BATCH``)."""
    return max(1, int(current_app.config["RETENTION_BATCH"]))


def cutoff(setting: str, now: datetime | None = None) -> datetime:
    """``now`` less the number of days in the setting ``setting`` (naive UTC)."""
    return (now or utcnow()) - timedelta(days=float(current_app.config[setting]))


def delete_in_batches(table, *where, batch: int | None = None, before_commit=None,
                      key=None) -> int:
    """Delete the rows of ``table`` matching ``where``, lowest ``key`` (default: ``id``) first, ``batch`` per
    transaction; return how many went. ``before_commit(rows)``, when given, receives each
    batch's deleted rows (all columns, from ``DELETE … RETURNING``) in the same transaction,
    so what it writes (counts kept) commits with the delete or not at all."""
    batch = batch or batch_size()
    key = table.c.id if key is None else key
    total = 0
    while True:
        with write_transaction():
            # PostgreSQL: rows another scheduler is deleting are skipped, not waited for.
            pick = (select(key).where(*where).order_by(key).limit(batch)
                    .with_for_update(skip_locked=True))
            stmt = delete(table).where(key.in_(pick.scalar_subquery()))
            if before_commit is None:
                done = db.session.execute(stmt).rowcount
            else:
                rows = db.session.execute(stmt.returning(*table.c)).all()
                before_commit(rows)
                done = len(rows)
        total += done
        if done < batch:
            return total


def purge_audit_events(now: datetime | None = None) -> dict | None:
    """Scheduler tick: delete audit events older than ``RETENTION_AUDIT_DAYS``."""
    table = AuditEvent.__table__
    gone = delete_in_batches(table, table.c.created_at < cutoff("RETENTION_AUDIT_DAYS", now))
    return {"audit_events": gone} if gone else None
