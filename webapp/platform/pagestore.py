"""Stored responses for visitors (issue 14): a page every visitor gets alike is rendered
once and answered from memory, before Flask runs, until one of its tables changes.

A view marked ``@for_visitors(tables...)`` asks for it. When a visitor (no session or
remember cookie) GETs it, the view notes the page cache's generations of those tables
(:func:`webapp.platform.pagecache.generations`, read before the page's data); the
middleware (:class:`StoredResponses`, wrapped around the app's WSGI callable) keeps the
finished response (headers and body, compressed or not as it went out) under (path, query,
host, scheme and the forwarded ones, HX-Request, Accept-Encoding) if it is a 200 that sets no cookie and says ``public`` (see
:mod:`webapp.platform.caching`: a page with a CSRF token or a flash never does). The next
visitor's request for that key reads every generation in one SQL statement on a connection
of the process's own (no ORM, no pool checkout) and gets the stored response when the
generations are those it was stored under and it is younger than ``max_age`` (text that
depends on the clock: "3 hours ago", "upcoming"); ``If-None-Match`` with its ETag gets a
304. A change committed in any process raises its tables' generations, so it shows at
the very next request everywhere.

A request carrying a session or remember cookie, or anything but a GET, always goes to the
app. A stored answer gets its own ``X-Request-ID``, request log line and metrics; its body
keeps the id of the request that rendered it (so its htmx requests name that one as their
parent, as they would behind a shared cache).
"""
from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from flask import request
from flask_login import current_user
from werkzeug.http import parse_etags, unquote_etag

from webapp.extensions import db
from webapp.platform.metrics import REQUEST_SECONDS, REQUESTS
from webapp.platform.pagecache import DEFAULT_MAX_AGE, generations, watch
from webapp.platform.requestlog import request_ids, write_line

warn = logging.getLogger("wardline.pagestore")

MAX_ENTRIES = 1024
MAX_BYTES = 64 * 1024 * 1024  # of bodies, per process
_MARK = "wardline.pagestore"  # environ: (route, tables, generations, max_age) of a storable page
GENERATIONS_SQL = "SELECT name, generation FROM cache_generations"
NOT_IN_304 = {"content-length", "content-type", "content-encoding", "x-request-id"}


def for_visitors(*tables: str, max_age: float = DEFAULT_MAX_AGE):
    """Mark a GET view whose visitor response depends only on the URL, ``HX-Request`` and
    ``tables`` (and the clock, for ``max_age`` seconds): it may be stored and answered again
    until one of ``tables`` changes."""
    watched = watch(*tables)

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if request.method == "GET" and not current_user.is_authenticated:
                found = generations()
                request.environ[_MARK] = (request.url_rule.rule, watched,
                                          tuple(found.get(t, 0) for t in watched), max_age)
            return view(*args, **kwargs)
        wrapper.visitor_tables = watched  # tests/test_pagestore.py checks them
        return wrapper
    return decorate


@dataclass(frozen=True)
class Entry:
    route: str
    tables: tuple[str, ...]
    stamp: tuple[int, ...]
    expires: float  # time.monotonic()
    status: str
    headers: list
    body: bytes
    etag: str | None


_store: OrderedDict = OrderedDict()
_bytes = 0
_lock = threading.Lock()


def clear() -> None:
    """Forget every stored response in this process (tests)."""
    global _bytes
    with _lock:
        _store.clear()
        _bytes = 0


def _put(key, entry: Entry) -> None:
    global _bytes
    with _lock:
        old = _store.pop(key, None)
        if old is not None:
            _bytes -= len(old.body)
        _store[key] = entry
        _bytes += len(entry.body)
        while len(_store) > MAX_ENTRIES or _bytes > MAX_BYTES:
            _bytes -= len(_store.popitem(last=False)[1].body)


def _drop(key) -> None:
    global _bytes
    with _lock:
        old = _store.pop(key, None)
        if old is not None:
            _bytes -= len(old.body)


class _Generations:
    """Every table's generation in one statement, on a connection of this process and
    thread of its own (PostgreSQL: autocommit, so one round trip and no pool checkout;
    psycopg prepares the statement after a few runs). SQLite: a pooled connection."""

    def __init__(self, app):
        self.app = app
        self.local = threading.local()

    def read(self) -> dict | None:
        local = self.local
        conn = getattr(local, "conn", None)
        if conn is None or local.pid != os.getpid():
            conn = local.conn = self._connect()
            local.pid = os.getpid()
        try:
            if conn is not False:
                return dict(conn.execute(GENERATIONS_SQL).fetchall())
            pooled = self.engine.raw_connection()
            try:
                cursor = pooled.cursor()
                cursor.execute(GENERATIONS_SQL)
                return dict(cursor.fetchall())
            finally:
                pooled.close()
        except Exception:  # the app answers instead (and says what is wrong)
            warn.warning("Could not read the page cache's generations", exc_info=True)
            if conn:
                try:
                    conn.close()
                except Exception:  # noqa: S110  (already broken)
                    pass
            local.conn = None
            return None

    def _connect(self):
        """A dedicated autocommit connection (PostgreSQL), or False (use the pool)."""
        with self.app.app_context():
            self.engine = db.engine
        if self.engine.dialect.name != "postgresql":
            return False
        fairy = self.engine.raw_connection()
        conn = fairy.driver_connection
        fairy.detach()  # ours for good: the pool opens another in its place
        conn.rollback()
        conn.autocommit = True
        return conn


class StoredResponses:
    """WSGI middleware: answer a visitor's GET from a stored response, or let the app answer
    and keep its response when the view asked for it (:func:`for_visitors`)."""

    def __init__(self, wsgi_app, app):
        self.wsgi_app = wsgi_app
        self.cookies = (app.config["SESSION_COOKIE_NAME"] + "=",
                        app.config["REMEMBER_COOKIE_NAME"] + "=")
        self.trust_request_id = int(app.config["TRUSTED_PROXIES"]) > 0
        self.generations = _Generations(app)

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") != "GET":
            return self.wsgi_app(environ, start_response)
        cookie = environ.get("HTTP_COOKIE")
        if cookie and any(name in cookie for name in self.cookies):
            return self.wsgi_app(environ, start_response)  # signed in (or a session): the app's
        started = time.perf_counter()
        key = (environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""),
               environ.get("HTTP_HOST", ""), environ.get("wsgi.url_scheme", ""),
               environ.get("HTTP_X_FORWARDED_PROTO", ""), environ.get("HTTP_X_FORWARDED_HOST", ""),
               environ.get("HTTP_HX_REQUEST") == "true" and
               environ.get("HTTP_HX_HISTORY_RESTORE_REQUEST") != "true",
               environ.get("HTTP_ACCEPT_ENCODING", ""))
        entry = _store.get(key)
        if entry is not None:
            if entry.expires > time.monotonic():
                found = self.generations.read()
                if found is not None and \
                        tuple(found.get(t, 0) for t in entry.tables) == entry.stamp:
                    with _lock:
                        if key in _store:
                            _store.move_to_end(key)  # the least recently used go first
                    return self._answer(entry, environ, start_response, started)
            _drop(key)
        return self._render(key, environ, start_response)

    def _render(self, key, environ, start_response):
        answered = []

        def keep_status(status, headers, exc_info=None):
            answered[:] = [status, headers]
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, keep_status)
        mark = environ.get(_MARK)
        if mark is None or not answered or not _storable(*answered):
            return body
        try:
            data = b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        route, tables, stamp, max_age = mark
        status, headers = answered
        etag = next((v for k, v in headers if k.lower() == "etag"), None)
        _put(key, Entry(route, tables, stamp, time.monotonic() + max_age, status,
                        [(k, v) for k, v in headers if k.lower() != "x-request-id"], data, etag))
        return [data]

    def _answer(self, entry: Entry, environ, start_response, started: float):
        request_id, parent_id = request_ids(environ.get("HTTP_X_REQUEST_ID", ""),
                                            environ.get("HTTP_X_PARENT_REQUEST_ID", ""),
                                            self.trust_request_id)
        if entry.etag and _matches(environ.get("HTTP_IF_NONE_MATCH"), entry.etag):
            status, body = "304 Not Modified", []
            headers = [(k, v) for k, v in entry.headers if k.lower() not in NOT_IN_304]
        else:
            status, body, headers = entry.status, [entry.body], list(entry.headers)
        headers.append(("X-Request-ID", request_id))
        start_response(status, headers)
        code = status[:3]
        seconds = time.perf_counter() - started
        REQUESTS.labels(entry.route, "GET", code).inc()
        REQUEST_SECONDS.labels(entry.route, "GET").observe(seconds)
        write_line("GET", entry.route, int(code), seconds, request_id, parent_id, None,
                   stored=True)
        return body


def _storable(status: str, headers) -> bool:
    """A 200 that sets no cookie and that shared caches may keep too."""
    if not status.startswith("200"):
        return False
    cache_control = ""
    for name, value in headers:
        name = name.lower()
        if name == "set-cookie":
            return False
        if name == "cache-control":
            cache_control = value.lower()
    return "public" in cache_control and "private" not in cache_control and \
        "no-store" not in cache_control


def _matches(if_none_match: str | None, etag: str) -> bool:
    """``If-None-Match`` names ``etag`` (weak comparison, as Werkzeug's ``make_conditional``
    does for a rendered page)."""
    return bool(if_none_match) and parse_etags(if_none_match).contains_weak(unquote_etag(etag)[0])


def install(app) -> None:
    """Put the stored responses in front of the app (outermost: after ProxyFix)."""
    app.wsgi_app = StoredResponses(app.wsgi_app, app)
