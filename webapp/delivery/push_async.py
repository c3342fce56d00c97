"""Web Push sending on asyncio (aiohttp), the default sender (``PUSH_SENDER``): the same
messages, rules and results as :class:`webapp.delivery.push.PushClient`, for less CPU per
push (``bench/fanout.py`` (b)).

One event loop runs in a thread of its own for the life of the worker process, with one
``aiohttp.ClientSession``: keep-alive connections per push service (at most
``concurrency`` in all), certificates verified by the default TLS context, no proxy from
the environment, no cookies kept, redirects not followed, a total timeout per request.

:meth:`AsyncPushClient.send_many` encrypts a batch's messages in the calling batch loop's
thread (:func:`webapp.delivery.push.encrypt`; not in a thread pool, whose hand-offs cost
more than they saved) and hands the batch to the loop's thread once, not once per message:
there ``concurrency`` senders take its requests in turn. The batch waits up to its
deadline, as the threaded client does; 404/410 "gone", 429/5xx "retry" after
``Retry-After``, other 4xx "failed" (:func:`webapp.delivery.push.classify`).
"""
from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout

import aiohttp

from webapp.delivery.push import PushResult, PushSender, classify, prepare

LATE = "push batch deadline passed"


class AsyncPushClient(PushSender):
    """Sends push messages concurrently from one event loop thread."""

    def __init__(self, key, subject: str, **options):
        super().__init__(key, subject, **options)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._session: aiohttp.ClientSession | None = None
        self._lock = threading.Lock()

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
        connector = aiohttp.TCPConnector(limit=max(1, self.concurrency), ssl=True)
        self._session = aiohttp.ClientSession(
            connector=connector, trust_env=False, auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=self.timeout))

    async def _post(self, endpoint: str, body: bytes, headers: dict) -> PushResult:
        try:
            async with self._session.post(endpoint, data=body, headers=headers,
                                          allow_redirects=False) as response:
                start = await response.content.read(200)
                return classify(response.status, response.reason, start,
                                response.headers.get("Retry-After"))
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
            return PushResult("retry", error=f"network: {type(exc).__name__}: {exc}"[:500])

    async def _batch(self, prepared: list, deadline: float | None) -> list[PushResult]:
        """POST the ``prepared`` messages ((endpoint, body, headers), or the PushResult of
        one that could not be encrypted) with ``concurrency`` senders taking them in turn;
        whatever is not answered within ``deadline`` seconds is cancelled: "retry"."""
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
        another batch's encryption overlaps its waits for answers.
        """
        if not items:
            return []
        loop = self._started()
        started = time.monotonic()
        prepared = []
        for subscription, payload, *urgency in items:
            ready = prepare(subscription, payload, urgency[0] if urgency else "normal",
                            self.vapid, self.ttl)
            prepared.append(ready if isinstance(ready, PushResult)
                            else (subscription["endpoint"], *ready))
        left = None if deadline is None else max(0.0, deadline - (time.monotonic() - started))
        future = asyncio.run_coroutine_threadsafe(self._batch(prepared, left), loop)
        try:
            # The batch ends itself at its deadline; this only guards against a stuck loop.
            return future.result(None if left is None else left + self.timeout + 5)
        except FutureTimeout:
            future.cancel()
            return [PushResult("retry", error=LATE)] * len(items)

    def close(self) -> None:
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._session.close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)
        loop.close()
