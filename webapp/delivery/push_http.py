"""A small HTTP/1.1 client on asyncio protocols, for the asyncio push sender
(:mod:`webapp.delivery.push_async`): one POST at a time per connection, keep-alive
connections pooled per push-service origin.

aiohttp cost ~100 µs of CPU per request here (a quarter of a whole push: its request and
response objects, header multidicts, URL parsing, timers and stream readers); this does
what a push needs in a fraction of that: the request written in one call, the answer
parsed from the bytes as they arrive (status, headers, a Content-Length, chunked or
close-delimited body, of which the first bytes are kept), the connection put back for
the next request when the answer allows it.

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
    """One connection to a push service; parses the answer to the request in flight."""

    def __init__(self):
        self.transport = None
        self.closed = False
        self.reusable = False
        self.idle_since = 0.0
        self.received = False  # any byte of an answer to the request in flight
        self._waiter: asyncio.Future | None = None
        self._buf = b""
        self._reset()

    def _reset(self):
        self._head = None  # (status, reason, headers) once parsed
        self._mode = None  # "length", "chunked", "close"
        self._left = 0  # bytes left of a Content-Length body, or of the current chunk
        self._body = []  # kept bytes of the body
        self._kept = 0
        self._read = 0  # body bytes read in all
        self._trailer = False  # after the last chunk, reading the trailer
        self._crlf = False  # a chunk's data read, its CRLF not yet

    # asyncio.Protocol
    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        self.closed = True
        if self._mode == "close" and self._waiter is not None and exc is None:
            self._finish(False)
        else:
            self._fail(HTTPError(f"connection closed{': ' + str(exc) if exc else ''}"))

    def eof_received(self):
        if self._mode == "close":
            self._finish(False)
        return False  # close the transport

    def data_received(self, data):
        if self._waiter is None:  # an answer nobody asked for: the connection is spoilt
            self.closed = True
            self.transport.abort()
            return
        self.received = True
        self._buf += data
        try:
            self._parse()
        except (HTTPError, ValueError) as exc:
            self._fail(HTTPError(f"bad answer: {exc}"))
            self.abort()

    # the client side
    def request(self, data: bytes) -> asyncio.Future:
        self._waiter = asyncio.get_running_loop().create_future()
        self.received = False
        self._buf = b""
        self._reset()
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
        status, reason, headers = self._head
        waiter, self._waiter = self._waiter, None
        self.reusable = reusable and not self.closed
        if waiter is not None and not waiter.done():
            waiter.set_result(Answer(status, reason, headers, b"".join(self._body)))

    def _keep(self, chunk: bytes):
        self._read += len(chunk)
        if self._kept < KEEP:
            self._body.append(chunk[:KEEP - self._kept])
            self._kept += len(self._body[-1])
        if self._read > MAX_BODY:  # enough: answer with what we have, drop the connection
            self._finish(False)
            self.abort()

    def _parse(self):
        while self._head is None:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_HEAD:
                    raise HTTPError("headers too long")
                return
            head, self._buf = self._buf[:end], self._buf[end + 4:]
            self._start(head)
        if self._mode == "length":
            take = self._buf[:self._left]
            self._buf = self._buf[len(take):]
            self._left -= len(take)
            self._keep(take)
            if self._left == 0 and self._waiter is not None:
                self._finish(self._keep_alive and not self._buf)
        elif self._mode == "chunked":
            self._chunks()
        elif self._mode == "close":
            self._keep(self._buf)
            self._buf = b""

    def _start(self, head: bytes):
        lines = head.split(b"\r\n")
        version, _, rest = lines[0].partition(b" ")
        code, _, reason = rest.partition(b" ")
        if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
            raise HTTPError(f"status line {lines[0][:80]!r}")
        status = int(code)
        headers = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip() or line[:1] in b" \t":
                raise HTTPError(f"header line {line[:80]!r}")
            name = name.decode("latin-1").lower()
            value = value.strip().decode("latin-1")
            if name in headers:
                if name == "content-length" and headers[name] != value:
                    raise HTTPError("two Content-Lengths")
                headers[name] += ", " + value
            else:
                headers[name] = value
        if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            return
        connection = headers.get("connection", "").lower()
        self._keep_alive = "close" not in connection and (
            version == b"HTTP/1.1" or "keep-alive" in connection)
        self._head = (status, reason.decode("latin-1"), headers)
        coding = headers.get("transfer-encoding", "").lower()
        if status in (204, 304):
            self._mode, self._left = "length", 0
        elif coding:
            if coding.rsplit(",", 1)[-1].strip() != "chunked":
                raise HTTPError(f"Transfer-Encoding {coding[:40]!r}")
            self._mode = "chunked"
            self._keep_alive = self._keep_alive and "content-length" not in headers
        elif "content-length" in headers:
            length = headers["content-length"]
            if not length.isdigit() or len(length) > 18:
                raise HTTPError(f"Content-Length {length[:40]!r}")
            self._mode, self._left = "length", int(length)
        else:
            self._mode, self._keep_alive = "close", False
        if self._mode == "length" and self._left == 0:
            self._finish(self._keep_alive and not self._buf)

    def _chunks(self):
        while self._waiter is not None:
            if self._left:  # inside a chunk's data
                take = self._buf[:self._left]
                if not take:
                    return
                self._buf = self._buf[len(take):]
                self._left -= len(take)
                self._keep(take)
                self._crlf = not self._left
            elif self._crlf or self._trailer:  # the CRLF after a chunk; trailer lines
                end = self._buf.find(b"\r\n")
                if end < 0:
                    if len(self._buf) > MAX_HEAD:
                        raise HTTPError("trailer too long")
                    return
                line, self._buf = self._buf[:end], self._buf[end + 2:]
                if self._crlf:
                    if line:
                        raise HTTPError("chunk not followed by CRLF")
                    self._crlf = False
                elif not line:
                    self._finish(self._keep_alive and not self._buf)
            else:  # a chunk-size line; size 0 is the last chunk, the trailer follows
                end = self._buf.find(b"\r\n")
                if end < 0:
                    if len(self._buf) > 1024:
                        raise HTTPError("chunk size line too long")
                    return
                size = self._buf[:end].split(b";", 1)[0].strip()
                if not size or len(size) > 15 or size.strip(b"0123456789abcdefABCDEF"):
                    raise HTTPError(f"chunk size {size[:20]!r}")
                self._buf = self._buf[end + 2:]
                self._left = int(size, 16)
                self._trailer = not self._left


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
