"""Database helpers every domain uses: transactions, SQLite's one-writer rule, ON CONFLICT.

:func:`write_transaction` (the session's work as one write transaction),
:func:`write_connection` (a connection of its own, for workers), :func:`read_only`,
:func:`insert_ignore`, and the engine setup for SQLite (:func:`install_sqlite_begin`).

SQLite's one-writer rule is handled here for every transaction.

SQLite allows one writer at a time. In WAL mode a transaction that reads first and writes
later fails at once ("database is locked", without waiting for the busy timeout) if another
writer committed in between, because its read snapshot cannot be upgraded. So on SQLite
every transaction begins ``BEGIN IMMEDIATE`` (it waits, up to ``SQLITE_BUSY_TIMEOUT``
seconds, for the write lock up front): web requests, scheduler ticks, workers and CLI
commands alike, whatever they turn out to do. SQLAlchemy's documented pysqlite recipe:
``isolation_level=None`` on the DBAPI connection and a ``begin`` listener that emits BEGIN
(see :func:`install_sqlite_begin`).

Work that only reads may ask for a deferred transaction with :func:`read_only` (readers do
not wait for writers in WAL mode). PostgreSQL needs none of this: callers lock rows
(``FOR UPDATE``) or use conditional UPDATEs and unique constraints.
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite

from webapp.extensions import db

IMMEDIATE = "BEGIN IMMEDIATE"
DEFERRED = "BEGIN"

_begin = contextvars.ContextVar("wardline_sqlite_begin", default=None)


def install_sqlite_begin(engine, busy_timeout: float) -> None:
    """Configure an SQLite engine: foreign keys, WAL, a busy timeout, and BEGIN IMMEDIATE
    for every transaction (BEGIN for connections checked out inside :func:`read_only`)."""
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not pysqlite, issue BEGIN, so "BEGIN IMMEDIATE" works.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "checkout")
    def _checkout(_dbapi_connection, record, _proxy):
        record.info["sqlite_begin"] = _begin.get() or IMMEDIATE

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql(conn.info.get("sqlite_begin") or IMMEDIATE)


@contextmanager
def _beginning(mode: str):
    token = _begin.set(mode)
    try:
        yield
    finally:
        _begin.reset(token)


@contextmanager
def read_only():
    """Connections checked out inside the block begin DEFERRED on SQLite: for work that
    never writes and must not queue behind writers (or hold up a writer in this thread)."""
    with _beginning(DEFERRED):
        yield


@contextmanager
def write_transaction():
    """Run the block's session work as one write transaction: commit at the end, roll back
    on error. Whatever the session had pending is committed first, so the block starts a
    fresh transaction (on SQLite it begins IMMEDIATE, holding the write lock from its
    start, even inside :func:`read_only`: a DEFERRED transaction that has read cannot take
    the lock once another connection has committed, and SQLite answers "database is
    locked" at once; on PostgreSQL callers lock the rows they read with ``FOR UPDATE``)."""
    db.session.commit()
    with _beginning(IMMEDIATE):
        try:
            yield
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise


@contextmanager
def write_connection():
    """A connection of its own in a write transaction (BEGIN IMMEDIATE on SQLite, even
    inside :func:`read_only`), committed on exit: a worker's claims, heartbeats and results
    never wait for, or mix with, the session's work."""
    with _beginning(IMMEDIATE), db.engine.begin() as conn:
        yield conn


def commit_keeping_loaded() -> None:
    """Commit without expiring what the session loaded: for a view that has already
    rendered its page from it and writes last (a read marker), so nothing after the
    commit (the after-request hooks reading ``current_user``) loads it again."""
    session = db.session()
    session.expire_on_commit = False
    try:
        db.session.commit()
    finally:
        session.expire_on_commit = True


def dialect_insert(table):
    """An INSERT of the current dialect, with its ``on_conflict_do_update`` (PostgreSQL and
    SQLite both have ON CONFLICT ... DO UPDATE)."""
    if db.engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignore(table):
    """An INSERT for ``table`` that skips rows violating a unique constraint, on the
    current dialect (PostgreSQL and SQLite both spell it ON CONFLICT DO NOTHING)."""
    if db.engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def rows(statement, params=None):
    """``db.session.execute(statement, params)`` for a statement of columns (no entities),
    run on the session's connection: the same transaction and rows without the ORM's
    execution path, which cost ~60 µs of CPU per statement more (issue 14). Pending changes
    are flushed first, as the session would (its autoflush)."""
    session = db.session
    if session.autoflush:
        session.flush()  # returns at once when nothing is pending
    return session.connection().execute(statement, params)
