"""Aggregates and page sections every request would compute alike, kept per process and
dropped the moment one of their tables changes (issue 14).

Each cached value names the tables it is computed from. Every table has a *generation*
in ``cache_generations``, raised once by each transaction that writes it (after its commit:
ORM flushes and ``insert``/``update``/``delete`` statements sent through the session are
seen). A request reads all generations in one query (once, on first use) and finds a
value only if it was computed under the same generations of its tables: a change is
seen by the very next request, in every process, with no message between processes.

A value computed while a write commits is stored under the generations read before it,
which the write has already raised or is about to: it is never served after the change.
``max_age`` bounds how long a value may be shown when it also depends on the clock
("upcoming" meetings, "3 hours ago").

Writes through a connection of their own (``write_connection()``: the delivery workers,
which write only ``deliveries``) are not seen: a watched table is written through the session.

    dependencies = watch("concerns")
    chart = cached("concern-chart", ward.id, dependencies, lambda: compute(ward.id))

In a template, a section the same for everyone who sees it the same way (the key says
who that is):

    {% call cached_html("ward-sections", ward.id, viewer, tables=WARD_HOME_TABLES) %}...{% endcall %}
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from flask import has_request_context, request
from markupsafe import Markup
from sqlalchemy import String, event, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from webapp.extensions import db
from webapp.platform.db import rows

log = logging.getLogger("wardline.pagecache")

MAX_ENTRIES = 4096
DEFAULT_MAX_AGE = 60.0  # seconds
_TOUCHED = "pagecache_touched"
_COMMITTED = "pagecache_committed"  # touched by a commit, raised when its transaction ends
_REQUEST_KEY = "wardline.pagecache_generations"  # per request (g lives as long as the app context)


class CacheGeneration(db.Model):
    """How many committed transactions have written a table (only tables a cached value
    depends on)."""

    __tablename__ = "cache_generations"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(default=0)


_watched: set[str] = set()
_store: OrderedDict = OrderedDict()
_lock = threading.Lock()


def watch(*tables: str) -> tuple[str, ...]:
    """Declare that a cached value depends on ``tables`` (at import time)."""
    _watched.update(tables)
    return tuple(sorted(tables))


_GENERATIONS = select(CacheGeneration.name, CacheGeneration.generation)  # built once


def generations() -> dict[str, int]:
    """Every table's generation, read once per request."""
    if has_request_context() and _REQUEST_KEY in request.environ:
        return request.environ[_REQUEST_KEY]
    found = dict(rows(_GENERATIONS).all())
    if has_request_context():
        request.environ[_REQUEST_KEY] = found
    return found


def cached(name: str, key, tables: Iterable[str], compute: Callable, max_age: float = DEFAULT_MAX_AGE):
    """The value ``compute()`` returns for (``name``, ``key``), computed again when one of
    ``tables`` changed or ``max_age`` seconds passed. Cache only plain values (numbers,
    strings, tuples, dataclasses, Markup), never ORM objects: they belong to one session."""
    current = generations()
    stamp = tuple(current.get(t, 0) for t in tables)
    now = time.monotonic()
    with _lock:
        entry = _store.get((name, key))
        if entry is not None and entry[0] == stamp and entry[1] > now:
            _store.move_to_end((name, key))
            return entry[2]
    value = compute()
    with _lock:
        _store[(name, key)] = (stamp, now + max_age, value)
        _store.move_to_end((name, key))
        while len(_store) > MAX_ENTRIES:
            _store.popitem(last=False)
    return value


def cached_html(name: str, *key, tables: Iterable[str], max_age: float = DEFAULT_MAX_AGE,
                caller: Callable) -> Markup:
    """``{% call cached_html(name, key..., tables=...) %}body{% endcall %}``: the body as
    rendered for this key, rendered again when one of ``tables`` changed. A ``key`` of
    None renders without the cache (someone whose view is their own, such as staff)."""
    if None in key:
        return Markup(caller())
    return cached(name, key, tuple(sorted(tables)), lambda: Markup(caller()), max_age)


KEPT_ENTRIES = 20_000
# Characters kept per process, counted as twice the HTML (the key holds what the row shows):
# 20,000 short messages fit; 2,000-character ones (escaped, the worst) are fewer.
KEPT_CHARS = 32 * 1024 * 1024
_kept: OrderedDict = OrderedDict()
_kept_chars = [0]


def kept_html(name: str, *key, caller: Callable) -> Markup:
    """``{% call kept_html(name, key...) %}body{% endcall %}``: the body as rendered for this
    key, kept (per process, the least recently used dropped first) and never rendered
    again. Only for HTML that depends on nothing but its key: a list's row as a frozen
    dataclass holding everything the row shows, so a changed row is another key and needs
    no invalidation, and no query (unlike :func:`cached_html`). A key with None in it
    renders without keeping (a viewer whose row shows more: an officer's tools)."""
    if None in key:
        return Markup(caller())
    for part in key:  # an entity hashes by identity, not by what it holds
        if hasattr(part, "_sa_instance_state"):
            raise TypeError(f"kept_html({name!r}): key with an ORM entity")
    full = (name, *key)
    with _lock:
        html = _kept.get(full)
        if html is not None:
            _kept.move_to_end(full)
            return html
    html = Markup(caller())
    with _lock:
        if full not in _kept:
            _kept[full] = html
            _kept_chars[0] += 2 * len(html)
        while len(_kept) > KEPT_ENTRIES or _kept_chars[0] > KEPT_CHARS:
            _kept_chars[0] -= 2 * len(_kept.popitem(last=False)[1])
    return html


def clear() -> None:
    """Forget every cached value in this process (tests)."""
    with _lock:
        _store.clear()
        _kept.clear()
        _kept_chars[0] = 0


# --------------------------------------------------------------------------- invalidation
def _touch(session, tables) -> None:
    found = {t for t in tables if t in _watched}
    if found:
        session.info.setdefault(_TOUCHED, set()).update(found)


def note_written(session, *tables: str) -> None:
    """Count ``tables`` as written by ``session``'s transaction: for a statement sent on its
    connection (``session.connection().execute``), which the session's events do not see,
    when it did change rows."""
    _touch(session, tables)


@event.listens_for(Session, "after_flush")
def _after_flush(session, flush_context):
    tables = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        mapper = getattr(obj, "__mapper__", None)
        if mapper is not None:
            tables.update(table.name for table in mapper.tables)
            for prop in mapper.relationships:  # many-to-many link tables (team_members)
                if prop.secondary is not None and not prop.viewonly:
                    tables.add(prop.secondary.name)
    _touch(session, tables)


@event.listens_for(Session, "do_orm_execute")
def _statement(state):
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if table is not None and hasattr(table, "name"):
            _touch(state.session, {table.name})


@event.listens_for(Session, "after_commit")
def _after_commit(session):
    # A savepoint's release is not the commit. (After a rollback the tables stay noted: the
    # next commit raises them needlessly, which costs a computation, never a stale page.)
    if session.in_nested_transaction():
        return
    tables = session.info.pop(_TOUCHED, None)
    if not tables:
        return
    if has_request_context():
        request.environ.pop(_REQUEST_KEY, None)  # this request reads the new ones too
    session.info.setdefault(_COMMITTED, set()).update(tables)


@event.listens_for(Session, "after_transaction_end")
def _raise_generations(session, transaction):
    """Raise the committed tables' generations once the session has given its connection
    back to the pool: taking a second one while holding the first would let as many
    concurrent writers as the pool holds wait on each other until the pool's timeout (20
    sign-ups at once did)."""
    if transaction.parent is not None:
        return
    tables = session.info.pop(_COMMITTED, None)
    if not tables:
        return
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    # A table's first generation is random, so that a table emptied and filled again (a
    # restored backup, the tests) does not repeat generations a process has cached under.
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO cache_generations (name, generation) VALUES (:name, :start) "
                "ON CONFLICT (name) DO UPDATE SET generation = cache_generations.generation + 1"),
                [{"name": t, "start": secrets.randbelow(2**30)} for t in sorted(tables)])
    except SQLAlchemyError:  # the change is committed: at worst a page is stale for max_age
        log.warning("Could not raise the page cache's generations of %s", sorted(tables),
                    exc_info=True)
