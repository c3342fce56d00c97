"""Web Push sending on asyncio, the default sender (``PUSH_SENDER``): the same messages,
rules and results as :class:`webapp.delivery.push.PushClient`, for less CPU per push
(``bench/fanout.py`` (b)).

One event loop runs in a thread of its own for the life of the worker process, with one
:class:`webapp.delivery.push_http.Pool`: keep-alive connections per push service (at most
``concurrency`` requests in flight in all), certificates verified by the default TLS
context, no proxy, no cookies, redirects not followed, a total timeout per request. (It
was an ``aiohttp.ClientSession``, whose ~100 µs of CPU a request was a quarter of a push.)

:meth:`AsyncPushClient.send_many` encrypts a batch's messages in the calling batch loop's
thread (:func:`webapp.delivery.push.encrypt`; not in a thread pool, whose hand-offs cost
more than they saved) and hands the batch to the loop's thread once, not once per message:
there ``concurrency`` senders take its requests in turn. The batch waits up to its
deadline, as the threaded client does; 404/410 "gone", 429/5xx "retry" after
``Retry-After``, other 4xx "failed" (:func:`webapp.delivery.push.classify`).
"""
from __future__ import annotations

import asyncio
import ssl
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout

from webapp.delivery.push import PushResult, PushSender, classify, encrypt, push_headers
from webapp.delivery.push_http import HTTPError, Origin, Pool, destination

LATE = "push batch deadline passed"


class AsyncPushClient(PushSender):
    """Sends push messages concurrently from one event loop thread."""

    def __init__(self, key, subject: str, *, cpu_lock=None, **options):
        """``cpu_lock``: held while a batch is encrypted (see :meth:`send_many`); by
        default a lock of this client's own."""
        super().__init__(key, subject, **options)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pool: Pool | None = None
        self._lock = threading.Lock()
        self.cpu_lock = cpu_lock or threading.Lock()

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:  # several batch loops share one client
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=loop.run_forever, name="push-loop",
                                                daemon=True)
                self._thread.start()
                asyncio.run_coroutine_threadsafe(self._open(), loop).result()
                self._loop = loop
            return self._loop

    async def _open(self) -> None:
        self._pool = Pool(self.concurrency, self.timeout)

    async def _close(self) -> None:
        self._pool.close()
        await asyncio.sleep(0)  # the aborted connections' sockets close on the next turn

    async def _post(self, origin: Origin, start: bytes, body: bytes,
                    headers: bytes) -> PushResult:
        try:
            answer = await self._pool.post(origin, start, headers, body)
        except (HTTPError, TimeoutError, OSError, ssl.SSLError, ValueError) as exc:
            return PushResult("retry", error=f"network: {type(exc).__name__}: {exc}"[:500])
        return classify(answer.status, answer.reason, answer.body,
                        answer.headers.get("retry-after"))

    async def _batch(self, prepared: list, deadline: float | None) -> list[PushResult]:
        """POST the ``prepared`` messages ((origin, request start, body, header lines), or
        the PushResult of one that could not be encrypted) with ``concurrency`` senders
        taking them in turn; whatever is not answered within ``deadline`` seconds is
        cancelled: "retry"."""
        results = [p if isinstance(p, PushResult) else None for p in prepared]
        queue = iter([i for i, p in enumerate(prepared) if not isinstance(p, PushResult)])

        async def sender():
            for i in queue:  # each index is taken by exactly one sender
                try:
                    results[i] = await self._post(*prepared[i])
                except Exception as exc:  # one odd message must not stop the others
                    results[i] = PushResult("failed", error=f"{type(exc).__name__}: {exc}"[:500])

        senders = [asyncio.ensure_future(sender()) for _ in range(max(1, self.concurrency))]
        _done, late = await asyncio.wait(senders, timeout=deadline)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)  # let the cancelled requests close their connections
        return [r if r is not None else PushResult("retry", error=LATE) for r in results]

    def send(self, subscription: dict, payload: str, urgency: str = "normal") -> PushResult:
        """Send one push (see :meth:`send_many`); never raises."""
        return self.send_many([(subscription, payload, urgency)])[0]

    def send_many(self, items: list[tuple], deadline: float | None = None) -> list[PushResult]:
        """Send ``(subscription, payload[, urgency])`` items concurrently; results in the
        same order. An item not answered within ``deadline`` seconds (encryption
        included) is cancelled and comes back as "retry".

        The messages are encrypted here, in the calling batch loop's thread, and only
        the requests go to the event loop: the loop's thread does nothing but HTTP, and
        another batch's encryption overlaps its waits for answers. One batch is encrypted
        at a time (``cpu_lock``; the worker's batch loops share theirs, see
        :data:`webapp.delivery.worker.TURN`): the encryption lets go of the interpreter
        lock several times a message, and two threads encrypting at once handed it to
        each other at every one of them: ~40 % more CPU a message, and no faster.
        """
        if not items:
            return []
        loop = self._started()
        started = time.monotonic()
        with self.cpu_lock:
            prepared = self._prepare(items)
        left = None if deadline is None else max(0.0, deadline - (time.monotonic() - started))
        future = asyncio.run_coroutine_threadsafe(self._batch(prepared, left), loop)
        try:
            # The batch ends itself at its deadline; this only guards against a stuck loop.
            return future.result(None if left is None else left + self.timeout + 5)
        except FutureTimeout:
            future.cancel()
            return [PushResult("retry", error=LATE)] * len(items)

    def _prepare(self, items: list[tuple]) -> list:
        """Each item's (origin, request start, body, header lines), or the "failed"
        PushResult of one that could not be encrypted."""
        prepared, lines = [], {}
        for subscription, payload, *urgency in items:
            urgency = urgency[0] if urgency else "normal"
            try:  # as push.prepare(), with the header lines made once per service
                endpoint = subscription["endpoint"]
                body = encrypt(subscription, payload.encode())
                origin, start = destination(endpoint)
                authorization = self.vapid.for_endpoint(endpoint)
                headers = lines.get((authorization, urgency))
                if headers is None:
                    headers = lines[authorization, urgency] = header_lines(
                        push_headers(authorization, self.ttl, urgency))
                prepared.append((origin, start, body, headers))
            except Exception as exc:  # bad keys in a stored subscription, etc.
                prepared.append(PushResult("failed", error=f"{type(exc).__name__}: {exc}"[:500]))
        return prepared

    def close(self) -> None:
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)
        loop.close()


def header_lines(headers: dict) -> bytes:
    """``headers`` as the lines of an HTTP request ("Name: value\\r\\n" each)."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    if lines.count("\n") != len(headers) or lines.count("\r") != len(headers):
        raise ValueError("a header name or value holds a line break")
    return lines.encode("latin-1")
