"""A small HTTP/1.1 client on asyncio protocols, for the asyncio push sender
(:mod:`webapp.delivery.push_async`): one POST at a time per connection, keep-alive
connections pooled per push-service origin.

aiohttp cost ~100 µs of CPU per request here (a quarter of a whole push: its request and
response objects, header multidicts, URL parsing, timers and stream readers); this does
what a push needs in a fraction of that: the request written in one call, the answer
parsed from the bytes as they arrive by llhttp (:mod:`httptools`, as uvicorn does:
status, headers, a Content-Length, chunked or close-delimited body, of which the first
bytes are kept), the connection put back for the next request when the answer allows it.

What it keeps from the aiohttp session it replaces:

* TLS for ``https`` with the default context: certificates and host names verified
  against the system's CAs (a push service whose certificate cannot be verified is never
  sent anything);
* a total timeout per request (connecting, TLS, writing and the whole answer), after
  which the connection is dropped;
* no proxy, no cookies, no redirects followed, no compression asked for;
* at most ``limit`` requests in flight in all, and at most that many idle connections per
  origin, each closed after :data:`IDLE_SECONDS` unused.

A request on a kept-alive connection that the server had closed meanwhile (it answered
nothing at all) is sent once more on a new connection, as browsers and urllib3 do.
"""
from __future__ import annotations

import asyncio
import re
import ssl
import time
from urllib.parse import quote, urlsplit

import httptools

IDLE_SECONDS = 15.0  # a kept-alive connection unused this long is closed, not reused
MAX_HEAD = 65536  # bytes of status line and headers
MAX_BODY = 1 << 20  # bytes of an answer's body read before the connection is dropped
KEEP = 200  # bytes of the body kept (for the error message)


class HTTPError(Exception):
    """A malformed answer, or a connection that ended before the answer did."""


class Answer:
    __slots__ = ("status", "reason", "headers", "body")

    def __init__(self, status: int, reason: str, headers: dict, body: bytes):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body


class _Connection(asyncio.Protocol):
    """One connection to a push service; the answer to the request in flight is parsed
    by llhttp (:mod:`httptools`), whose callbacks (``on_*``) fill in the answer."""

    def __init__(self):
        self.transport = None
        self.closed = False
        self.reusable = False
        self.idle_since = 0.0
        self.received = False  # any byte of an answer to the request in flight
        self._waiter: asyncio.Future | None = None
        self._eof_ends = False  # the answer's body ends with the connection
        self._parser = httptools.HttpResponseParser(self)  # one for the answers in turn

    # asyncio.Protocol
    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        self.closed = True
        if self._eof_ends and self._waiter is not None and exc is None:
            self._finish(False)
        else:
            self._fail(HTTPError(f"connection closed{': ' + str(exc) if exc else ''}"))

    def eof_received(self):
        # httptools cannot tell llhttp of the EOF (no llhttp_finish), so an answer whose
        # body ends with the connection (no length, not chunked) is finished here.
        if self._eof_ends and self._waiter is not None:
            self._finish(False)
        return False  # close the transport

    def data_received(self, data):
        if self._waiter is None:  # an answer nobody asked for: the connection is spoilt
            self.closed = True
            self.transport.abort()
            return
        self.received = True
        self._fed += len(data)
        try:
            self._parser.feed_data(data)
            if self._status is None and self._fed > MAX_HEAD:
                raise HTTPError("headers too long")
        except (HTTPError, httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(HTTPError(f"bad answer: {exc.__context__ or exc}"))
            self.abort()

    # httptools' callbacks
    def on_message_begin(self):
        if self._waiter is None:  # bytes after the answer: the connection is spoilt
            self.reusable = False

    def on_status(self, reason: bytes):  # the reason phrase, perhaps in pieces
        self._reason += reason

    def on_header(self, name: bytes, value: bytes):  # trailers too
        self._head_bytes += len(name) + len(value)
        if self._head_bytes > MAX_HEAD:
            raise HTTPError("headers too long")
        name = name.decode("latin-1").lower()
        value = value.decode("latin-1").rstrip(" \t")
        headers = self._headers
        headers[name] = f"{headers[name]}, {value}" if name in headers else value

    def on_headers_complete(self):
        parser = self._parser
        if parser.get_http_version() not in ("1.1", "1.0"):
            raise HTTPError(f"HTTP/{parser.get_http_version()}")
        status = parser.get_status_code()
        if status < 200:  # an interim answer (100 Continue): the real one follows
            return
        coding = self._headers.get("transfer-encoding")
        if coding is not None and coding.rsplit(",", 1)[-1].strip().lower() != "chunked":
            raise HTTPError(f"Transfer-Encoding {coding[:40]!r}")
        self._status = status
        self._eof_ends = coding is None and "content-length" not in self._headers \
            and status not in (204, 304)

    def on_body(self, chunk: bytes):
        self._read += len(chunk)
        if self._kept < KEEP:
            self._body.append(chunk[:KEEP - self._kept])
            self._kept += len(self._body[-1])
        if self._read > MAX_BODY and self._waiter is not None:
            self._finish(False)  # enough: answer with what we have, drop the connection
            self.abort()

    def on_message_complete(self):
        if self._status is None:  # the end of an interim answer
            self._reason, self._headers, self._head_bytes = b"", {}, 0
        elif self._waiter is not None:
            self._finish(self._parser.should_keep_alive())

    # the client side
    def request(self, data: bytes) -> asyncio.Future:
        self._waiter = asyncio.get_running_loop().create_future()
        self.received = self._eof_ends = False
        self._status = None
        self._reason, self._headers, self._body = b"", {}, []
        self._head_bytes = self._fed = self._read = self._kept = 0
        self.transport.write(data)
        return self._waiter

    def abort(self):
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, exc: Exception):
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _finish(self, reusable: bool):
        waiter, self._waiter = self._waiter, None
        self.reusable = reusable and not self.closed
        if waiter is not None and not waiter.done():
            waiter.set_result(Answer(self._status, self._reason.decode("latin-1"),
                                     self._headers, b"".join(self._body)))


_ORIGIN = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)")
_TARGET = re.compile(r"[A-Za-z0-9/%:@!$&'()*+,;=._~?-]*")
_origins: dict[str, Origin] = {}


def origin_of(endpoint: str) -> str:
    """``scheme://host[:port]`` of an endpoint, the scheme in lower case: what ``urlsplit``
    gives for the endpoints :func:`webapp.delivery.endpoints.endpoint_problem` lets
    through, for a fifth of its cost. ValueError for anything else."""
    match = _ORIGIN.match(endpoint)
    if match is None:
        raise ValueError("endpoint must be a URL with a scheme and a host")
    return f"{match[1].lower()}://{match[2]}"


class Origin:
    """Where the requests to one push service's endpoints go (parsed once per origin)."""

    __slots__ = ("key", "host", "port", "tls", "host_line")

    def __init__(self, origin: str):
        parts = urlsplit(origin)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("endpoint must be an http(s) URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("endpoint must not contain credentials")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.key = (parts.scheme, self.host, self.port)
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = self.port == (443 if self.tls else 80)
        self.host_line = f"Host: {host}{'' if default else f':{self.port}'}\r\n".encode("ascii")


def destination(endpoint: str) -> tuple[Origin, bytes]:
    """The :class:`Origin` of ``endpoint`` and the start of a POST to it (request line and
    Host header). ValueError for an endpoint that is not an http(s) URL with a host."""
    origin = origin_of(endpoint)
    found = _origins.get(origin)
    if found is None:
        if len(_origins) > 1000:
            _origins.clear()
        found = _origins[origin] = Origin(origin)
    target = endpoint[len(origin):].split("#", 1)[0]
    if not target.startswith("/"):
        target = "/" + target
    if _TARGET.fullmatch(target) is None:
        target = quote(target, safe="/%:@!$&'()*+,;=._~?-")
    return found, b"POST %s HTTP/1.1\r\n%s" % (target.encode("ascii"), found.host_line)


class Pool:
    """Keep-alive connections per origin, at most ``limit`` requests in flight in all.

    Lives on one event loop (every method is called from it)."""

    def __init__(self, limit: int, timeout: float, context: ssl.SSLContext | None = None):
        self.limit = max(1, limit)
        self.timeout = timeout
        self.context = context or ssl.create_default_context()
        self._idle: dict[tuple, list[_Connection]] = {}
        self._slots: asyncio.Semaphore | None = None
        self.opened = 0  # connections opened (tests check the reuse)

    async def _connect(self, origin: Origin, timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        _transport, conn = await asyncio.wait_for(loop.create_connection(
            _Connection, origin.host, origin.port,
            ssl=self.context if origin.tls else None,
            server_hostname=origin.host if origin.tls else None), timeout)
        self.opened += 1
        return conn

    def _reused(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin.key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and not conn.transport.is_closing() \
                    and now - conn.idle_since < IDLE_SECONDS:
                return conn
            conn.abort()
        return None

    def _release(self, origin: Origin, conn: _Connection) -> None:
        if not conn.reusable or conn.closed:
            conn.abort()
            return
        conn.idle_since = time.monotonic()
        idle = self._idle.setdefault(origin.key, [])
        idle.append(conn)
        if len(idle) > self.limit:
            idle.pop(0).abort()

    async def post(self, origin: Origin, start: bytes, headers: bytes, body: bytes) -> Answer:
        """POST ``body`` with ``headers`` (ready "Name: value\\r\\n" lines) to ``origin``,
        ``start`` the request line and Host header (:func:`destination`); the answer, or
        TimeoutError / OSError / ssl.SSLError / HTTPError."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        data = b"".join((start, b"Content-Length: %d\r\n" % len(body), headers,
                         b"\r\n", body))
        async with self._slots:
            conn = self._reused(origin)
            if conn is not None:
                try:
                    return await self._exchange(origin, conn, data, deadline)
                except HTTPError:
                    if conn.received:
                        raise
                    # The server had closed the kept-alive connection (it answered
                    # nothing): once more, on a new connection.
            conn = await self._connect(origin, deadline - loop.time())
            return await self._exchange(origin, conn, data, deadline)

    async def _exchange(self, origin: Origin, conn: _Connection, data: bytes,
                        deadline: float) -> Answer:
        waiter = conn.request(data)
        timer = asyncio.get_running_loop().call_at(deadline, _expire, waiter)
        try:
            answer = await waiter
        except BaseException:  # a bad answer, timed out, or cancelled at the batch's deadline
            conn.abort()
            raise
        finally:
            timer.cancel()
        self._release(origin, conn)
        return answer

    def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.abort()
        self._idle.clear()


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("no answer in time"))
