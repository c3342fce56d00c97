"""Web Push sending: the only code that talks to push services.

What makes it fast and correct (measured in ``bench/fanout.py``):

* one pooled keep-alive ``requests.Session`` per sending thread, explicit timeout
  (pywebpush's default is no timeout at all);
* the VAPID ``Authorization`` header is signed once per push-service origin and reused
  while it is valid (RFC 8292 allows up to 24 h; we sign for 12 h and renew an hour
  early), built from a fresh claims dict per origin (pywebpush mutates the dict it is
  given, which would leak one origin's ``aud`` to the next);
* several messages in flight at once (a thread pool), because the round trip, not the
  crypto, is the cost.
"""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
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

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=16)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            self._local.session = session
        return session

    def send(self, subscription: dict, payload: str) -> PushResult:
        """Encrypt ``payload`` for ``subscription`` and POST it; never raises."""
        try:
            headers = {"Authorization": self.vapid.for_endpoint(subscription["endpoint"]),
                       "Urgency": "normal"}
            response = WebPusher(subscription, requests_session=self._session()).send(
                payload, headers, ttl=self.ttl, timeout=self.timeout)
        except requests.RequestException as exc:
            return PushResult("retry", error=f"network: {type(exc).__name__}: {exc}"[:500])
        except Exception as exc:  # bad keys in a stored subscription, etc.
            return PushResult("failed", error=f"{type(exc).__name__}: {exc}"[:500])
        code = response.status_code
        if code <= 202:
            return PushResult("sent", code)
        error = f"HTTP {code} {response.reason or ''} {response.text[:200]}".strip()
        if code in (404, 410):
            return PushResult("gone", code, error)
        if code == 429 or code >= 500:
            return PushResult("retry", code, error,
                              parse_retry_after(response.headers.get("Retry-After")))
        return PushResult("failed", code, error)

    def send_many(self, items: list[tuple[dict, str]]) -> list[PushResult]:
        """Send ``(subscription, payload)`` pairs concurrently; results in the same order."""
        if not items:
            return []
        if self.concurrency <= 1 or len(items) == 1:
            return [self.send(sub, payload) for sub, payload in items]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="push")
        return list(self._pool.map(lambda item: self.send(*item), items))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
