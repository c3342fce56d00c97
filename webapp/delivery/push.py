"""Web Push sending: the only code that talks to push services.

What makes it fast and correct (measured in ``bench/fanout.py``):

* one pooled keep-alive ``requests.Session`` per sending thread, explicit timeout
  (pywebpush's default is no timeout at all); pywebpush encrypts, and the POST goes
  straight through the session's urllib3 connection pool (see :meth:`PushClient.send`);
* the VAPID ``Authorization`` header is signed once per push-service origin and reused
  while it is valid (RFC 8292 allows up to 24 h; we sign for 12 h and renew an hour
  early), built from a fresh claims dict per origin (pywebpush mutates the dict it is
  given, which would leak one origin's ``aud`` to the next);
* several messages in flight at once (a thread pool), because the round trip, not the
  crypto, is the cost; a per-batch deadline keeps one slow push service from holding up
  the batch (see :meth:`PushClient.send_many`).

Only endpoints that pass :func:`webapp.delivery.endpoints.endpoint_problem` reach
:meth:`PushClient.send` (the worker checks each one before sending).
"""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
import urllib3
from pywebpush import WebPusher

MAX_PAYLOAD = 3800  # bytes of JSON; the encrypted message must stay under 4096
VAPID_LIFETIME = 12 * 3600
VAPID_RENEW_BEFORE = 3600


@dataclass
class PushResult:
    """Outcome of one push: ``status`` is "sent", "gone" (404/410: remove the
    subscription), "retry" (429/5xx/network; ``retry_after`` seconds if the service
    said) or "failed" (any other 4xx: a permanent error)."""

    status: str
    code: int | None = None
    error: str = ""
    retry_after: float | None = None


def build_payload(title: str, body: str, url: str, tag: str | None) -> str:
    """The JSON the service worker receives: {title, body (short), url, tag}, kept under
    :data:`MAX_PAYLOAD` bytes by shortening the body (then the title)."""
    body = " ".join((body or "").split())
    if len(body) > 240:
        body = body[:239].rstrip() + "…"
    data = {"title": title or "Wardline", "body": body, "url": url or "/", "tag": tag or ""}
    encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    while len(encoded.encode()) > MAX_PAYLOAD and (data["body"] or len(data["title"]) > 20):
        if data["body"]:
            data["body"] = data["body"][: len(data["body"]) // 2]
        else:
            data["title"] = data["title"][: len(data["title"]) // 2]
        encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return encoded


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class VapidHeaders:
    """Signed VAPID ``Authorization`` headers, cached per push-service origin."""

    def __init__(self, key, subject: str, clock=time.time):
        self.key = key
        self.subject = subject
        self.clock = clock
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.signed = 0  # how many times we signed (tests check the reuse)

    def for_endpoint(self, endpoint: str) -> str:
        parts = urlsplit(endpoint)
        origin = f"{parts.scheme}://{parts.netloc}"
        now = self.clock()
        with self._lock:
            cached = self._cache.get(origin)
            if cached and cached[1] - now > VAPID_RENEW_BEFORE:
                return cached[0]
            exp = int(now) + VAPID_LIFETIME
            # A fresh dict per origin: signing must never see another origin's aud.
            header = self.key.sign({"sub": self.subject, "aud": origin, "exp": exp})["Authorization"]
            self._cache[origin] = (header, exp)
            self.signed += 1
            return header


class PushClient:
    """Sends push messages concurrently over pooled sessions (one per thread)."""

    def __init__(self, key, subject: str, *, timeout: float = 10.0, ttl: int = 86400,
                 concurrency: int = 8):
        self.vapid = VapidHeaders(key, subject)
        self.timeout = timeout
        self.ttl = ttl
        self.concurrency = concurrency
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=16,
                                                    max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            self._local.session = session
        return session

    def _connection_pool(self, endpoint: str):
        """The keep-alive connection pool of this thread's session for ``endpoint``'s
        origin, with certificate verification required."""
        adapter = self._session().get_adapter(endpoint)
        return adapter.poolmanager.connection_from_url(
            endpoint, pool_kwargs={"cert_reqs": "CERT_REQUIRED"} if endpoint.startswith("https") else None)

    def send(self, subscription: dict, payload: str, urgency: str = "normal") -> PushResult:
        """Encrypt ``payload`` for ``subscription`` (pywebpush, aes128gcm) and POST it;
        never raises.

        The request goes through the pooled keep-alive connections of a
        ``requests.Session``'s adapter, driven via urllib3 directly: requests' per-call
        layers (environment merging, hooks, cookies, Response objects) cost more than the
        encryption itself. Push services are reached directly (no HTTP(S)_PROXY).
        """
        endpoint = subscription["endpoint"]
        try:
            body = WebPusher(subscription).encode(payload.encode(), "aes128gcm")["body"]
            headers = {"Authorization": self.vapid.for_endpoint(endpoint),
                       "Content-Encoding": "aes128gcm",
                       "Content-Type": "application/octet-stream",
                       "TTL": str(self.ttl), "Urgency": urgency}
        except Exception as exc:  # bad keys in a stored subscription, etc.
            return PushResult("failed", error=f"{type(exc).__name__}: {exc}"[:500])
        try:
            parts = urlsplit(endpoint)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            response = self._connection_pool(endpoint).urlopen(
                "POST", path or "/", body=body, headers=headers, retries=False,
                redirect=False, timeout=urllib3.Timeout(total=self.timeout),
                preload_content=True)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return PushResult("retry", error=f"network: {type(exc).__name__}: {exc}"[:500])
        code = response.status
        if code <= 202:
            return PushResult("sent", code)
        text = response.data[:200].decode("utf-8", "replace")
        error = f"HTTP {code} {response.reason or ''} {text}".strip()
        if code in (404, 410):
            return PushResult("gone", code, error)
        if code == 429 or code >= 500:
            return PushResult("retry", code, error,
                              parse_retry_after(response.headers.get("Retry-After")))
        return PushResult("failed", code, error)

    def send_many(self, items: list[tuple], deadline: float | None = None) -> list[PushResult]:
        """Send ``(subscription, payload[, urgency])`` items concurrently; results in the
        same order.

        ``deadline`` (seconds) bounds the whole batch: an item not answered by then (a slow
        or trickling push service holding a thread, or items queued behind it) comes back
        as "retry" and the batch goes on; its request ends by its own timeout.
        """
        if not items:
            return []
        with self._pool_lock:  # several batch loops share one pool
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max(1, self.concurrency),
                                                thread_name_prefix="push")
            pool = self._pool
        futures = [pool.submit(self.send, *item) for item in items]
        done, _late = wait(futures, timeout=deadline)
        results = []
        for future in futures:
            if future in done:
                results.append(future.result())
            else:
                future.cancel()  # not started yet: never sent
                results.append(PushResult("retry", error="push batch deadline passed"))
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
