"""Read-then-write transactions, with SQLite's one-writer rule handled in one place.

SQLite allows one writer at a time: a transaction that reads first and writes later fails
at once ("database is locked") if another writer committed in between, because a read lock
cannot be upgraded. Work that reads and then writes therefore runs inside
:func:`write_transaction`, whose transactions begin with ``BEGIN IMMEDIATE`` on SQLite and
so wait (``busy_timeout``) for the write lock up front. PostgreSQL needs no hint: callers
lock rows (``FOR UPDATE``) or use conditional UPDATEs and unique constraints.
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager

from sqlalchemy import event

from webapp.extensions import db

_immediate = contextvars.ContextVar("wardline_sqlite_immediate", default=False)


def install_sqlite_immediate(engine) -> None:
    """Make SQLite connections checked out inside :func:`write_transaction` begin
    IMMEDIATE (read by the ``begin`` listener in ``webapp._configure_sqlite``)."""
    @event.listens_for(engine, "checkout")
    def _checkout(_dbapi_connection, record, _proxy):
        if _immediate.get():
            record.info["sqlite_begin"] = "BEGIN IMMEDIATE"


@contextmanager
def write_transaction():
    """Run the block's session work as write transactions: commit at the end, roll back
    on error. Whatever the session had pending is committed first, so the block starts a
    fresh transaction (which, on SQLite, holds the write lock from its first statement)."""
    db.session.commit()  # release the connection: the next checkout gets the hint
    token = _immediate.set(True)
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        _immediate.reset(token)
