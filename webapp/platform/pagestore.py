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

A signed-in person's page is stored the same way when its view is marked
``@for_each_session(tables...)``, under a key that also holds the whole ``Cookie`` header:
the response goes back only to a request carrying the very same cookies, which the app
would have answered with the very same page. Its tables are the view's and those every
signed-in page depends on (:func:`depends_on_the_session`: the user, their wards, signed-out
sessions), so a sign-out anywhere, a changed setting or a new message shows at the next
request. For such a request the middleware reads the generations *before* the app loads the
user (only for paths that asked to be stored before, so other signed-in requests pay
nothing): what is stored is never older than its stamp. A response that sets a cookie (a
flash shown, a staff session's activity noted) or says ``no-store`` is not kept, and
:func:`limit_session_age` hooks shorten an entry's life to what is left of the session
(staff sessions end after idling). Anything but a GET always goes to the app.

A stored answer gets its own ``X-Request-ID``, request log line and metrics; its body
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
# Signed-in pages are kept apart, within limits of their own: a crowd of residents each
# seeing a page once must not push out the visitors' pages, which everyone shares.
MAX_SESSION_ENTRIES = 2048
MAX_SESSION_BYTES = 32 * 1024 * 1024
_MARK = "wardline.pagestore"  # environ: (route, tables, generations, max_age) of a storable page
_SESSION_MARK = "wardline.pagestore.session"  # the same, + user id, for a signed-in page
_PRE_READ = "wardline.pagestore.generations"  # environ: read before the app ran (signed in)
_ASKED = "wardline.pagestore.asked"  # environ: a signed-in view asked to be stored
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


_session_tables: set[str] = set()
_session_limits: list = []
_session_paths: OrderedDict = OrderedDict()  # PATH_INFOs whose signed-in page may be stored
MAX_SESSION_PATHS = 4096


def depends_on_the_session(*tables: str) -> None:
    """Tables every signed-in page depends on, through the signed-in user (at import time)."""
    _session_tables.update(watch(*tables))


def limit_session_age(seconds_left):
    """Register ``seconds_left()``: how long this request's session may still be answered
    from the store (None: no limit of its own). Decorator, at import time."""
    _session_limits.append(seconds_left)
    return seconds_left


def for_each_session(*tables: str, max_age: float = DEFAULT_MAX_AGE):
    """Mark a GET view whose signed-in response depends only on the URL, ``HX-Request``,
    the session's cookies and ``tables`` (with :func:`depends_on_the_session`'s), and on the
    clock for ``max_age`` seconds: it may be answered again to the same cookies until one of
    those tables changes. The view must have no effect a repeat would need (a read marker
    already at the last message is one it need not repeat)."""
    watched = watch(*tables)

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if request.method == "GET" and current_user.is_authenticated:
                environ = request.environ
                environ[_ASKED] = True
                found = environ.get(_PRE_READ)
                if found is not None:
                    every = tuple(sorted(_session_tables.union(watched)))
                    age = min([max_age, *(left for limit in _session_limits
                                          if (left := limit()) is not None)])
                    environ[_SESSION_MARK] = (request.url_rule.rule, every,
                                              tuple(found.get(t, 0) for t in every), age,
                                              current_user.id)
            return view(*args, **kwargs)
        wrapper.session_tables = watched  # tests/test_session_store.py checks them
        return wrapper
    return decorate


def keep_at_most(seconds: float) -> None:
    """For a view marked :func:`for_each_session`: this response may be answered again for
    at most ``seconds`` (what it shows ends then: an admin's time-limited access)."""
    mark = request.environ.get(_SESSION_MARK)
    if mark is not None:
        route, tables, stamp, age, user_id = mark
        request.environ[_SESSION_MARK] = (route, tables, stamp, min(age, max(seconds, 0.0)),
                                          user_id)


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
    user_id: int | None = None


class _Shelf:
    """Stored responses of one kind, the least recently used dropped first past its limits
    (entries, and bytes of bodies). Callers hold ``_lock`` to change it."""

    def __init__(self, max_entries: int, max_bytes: int):
        self.entries: OrderedDict = OrderedDict()
        self.bytes = 0
        self.max_entries, self.max_bytes = max_entries, max_bytes

    def put(self, key, entry: Entry) -> None:
        self.drop(key)
        self.entries[key] = entry
        self.bytes += len(entry.body)
        while len(self.entries) > self.max_entries or self.bytes > self.max_bytes:
            self.bytes -= len(self.entries.popitem(last=False)[1].body)

    def drop(self, key) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.bytes -= len(old.body)


_visitors = _Shelf(MAX_ENTRIES, MAX_BYTES)
_sessions = _Shelf(MAX_SESSION_ENTRIES, MAX_SESSION_BYTES)
_lock = threading.Lock()


def _shelf(key) -> _Shelf:
    return _sessions if key[-1] is not None else _visitors  # the key's last item: the cookies


def clear(*, keep_paths: bool = False) -> None:
    """Forget every stored response in this process (tests; ``bench/profile_pages.py
    --first-view`` keeps the paths known to ask for storing)."""
    with _lock:
        for shelf in (_visitors, _sessions):
            shelf.entries.clear()
            shelf.bytes = 0
        if not keep_paths:
            _session_paths.clear()


def _put(key, entry: Entry) -> None:
    with _lock:
        _shelf(key).put(key, entry)


def _drop(key) -> None:
    with _lock:
        _shelf(key).drop(key)


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
        signed = bool(cookie) and any(name in cookie for name in self.cookies)
        started = time.perf_counter()
        path = environ.get("PATH_INFO", "")
        key = (path, environ.get("QUERY_STRING", ""),
               environ.get("HTTP_HOST", ""), environ.get("wsgi.url_scheme", ""),
               environ.get("HTTP_X_FORWARDED_PROTO", ""), environ.get("HTTP_X_FORWARDED_HOST", ""),
               environ.get("HTTP_HX_REQUEST") == "true" and
               environ.get("HTTP_HX_HISTORY_RESTORE_REQUEST") != "true",
               environ.get("HTTP_ACCEPT_ENCODING", ""), cookie if signed else None)
        if signed and path not in _session_paths:
            return self._render(key, environ, start_response, signed)  # never asked: no read
        found = None
        shelf = _shelf(key)
        entry = shelf.entries.get(key)
        if entry is not None:
            if entry.expires > time.monotonic():
                found = self.generations.read()
                if found is not None and \
                        tuple(found.get(t, 0) for t in entry.tables) == entry.stamp:
                    with _lock:
                        if key in shelf.entries:
                            shelf.entries.move_to_end(key)  # the least recently used go first
                    return self._answer(entry, environ, start_response, started)
            _drop(key)
        if signed:
            found = found or self.generations.read()
            if found is not None:
                environ[_PRE_READ] = found  # before the app loads the user
        return self._render(key, environ, start_response, signed)

    def _render(self, key, environ, start_response, signed: bool):
        answered = []

        def keep_status(status, headers, exc_info=None):
            answered[:] = [status, headers]
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, keep_status)
        if signed:
            if environ.get(_ASKED):
                _note_path(key[0])
            mark = environ.get(_SESSION_MARK)
            storable = mark is not None and answered and _storable_privately(*answered)
        else:
            mark = environ.get(_MARK)
            storable = mark is not None and answered and _storable(*answered)
        if not storable:
            return body
        try:
            data = b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        route, tables, stamp, max_age, *user = mark
        status, headers = answered
        etag = next((v for k, v in headers if k.lower() == "etag"), None)
        _put(key, Entry(route, tables, stamp, time.monotonic() + max_age, status,
                        [(k, v) for k, v in headers if k.lower() != "x-request-id"], data, etag,
                        user[0] if user else None))
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
        write_line("GET", entry.route, int(code), seconds, request_id, parent_id,
                   entry.user_id, stored=True)
        return body


def _cache_control(status: str, headers) -> str | None:
    """The lowercased Cache-Control of a 200 that sets no cookie (None for any other)."""
    if not status.startswith("200"):
        return None
    cache_control = ""
    for name, value in headers:
        name = name.lower()
        if name == "set-cookie":
            return None
        if name == "cache-control":
            cache_control = value.lower()
    return cache_control


def _storable(status: str, headers) -> bool:
    """A 200 that sets no cookie and that shared caches may keep too."""
    cache_control = _cache_control(status, headers)
    return cache_control is not None and "public" in cache_control and \
        "private" not in cache_control and "no-store" not in cache_control


def _storable_privately(status: str, headers) -> bool:
    """A 200 for a signed-in person that changes no cookie and that no one keeps for others."""
    cache_control = _cache_control(status, headers)
    return cache_control is not None and "private" in cache_control and \
        "no-store" not in cache_control


def _note_path(path: str) -> None:
    with _lock:
        _session_paths[path] = True
        _session_paths.move_to_end(path)
        while len(_session_paths) > MAX_SESSION_PATHS:
            _session_paths.popitem(last=False)


def _matches(if_none_match: str | None, etag: str) -> bool:
    """``If-None-Match`` names ``etag`` (weak comparison, as Werkzeug's ``make_conditional``
    does for a rendered page)."""
    return bool(if_none_match) and parse_etags(if_none_match).contains_weak(unquote_etag(etag)[0])


def install(app) -> None:
    """Put the stored responses in front of the app (outermost: after ProxyFix)."""
    app.wsgi_app = StoredResponses(app.wsgi_app, app)
