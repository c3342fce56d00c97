"""Web Push sending: the only code that talks to push services. What both senders share
(:func:`encrypt`, :func:`push_headers`, :func:`classify`, :class:`VapidHeaders`), and the
threaded sender (``PUSH_SENDER=threads``; the default, asyncio, is
:mod:`webapp.delivery.push_async`).

What makes it fast and correct (measured in ``bench/fanout.py``):

* each message encrypted from the ``cryptography`` calls alone (:func:`encrypt`), a
  quarter cheaper than ``pywebpush``'s ``WebPusher.encode``;
* one pooled keep-alive ``requests.Session`` per sending thread, explicit timeout
  (pywebpush's default is no timeout at all); the POST goes straight through the
  session's urllib3 connection pool (see :meth:`PushClient.send`);
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

import base64
import hmac
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
import urllib3
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from webapp.delivery.push_http import origin_of

MAX_PAYLOAD = 3800  # bytes of JSON; the encrypted message must stay under 4096
VAPID_LIFETIME = 12 * 3600
VAPID_RENEW_BEFORE = 3600
_P256 = ec.SECP256R1()
_ECDH = ec.ECDH()


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


def _b64u(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def encrypt(subscription: dict, data: bytes) -> bytes:
    """``data`` encrypted for ``subscription`` as RFC 8291 says (aes128gcm, RFC 8188, one
    record): a fresh ephemeral P-256 key and salt per message, ECDH with the browser's
    ``p256dh`` key, HKDF (HMAC-SHA-256) with its ``auth`` secret, AES-128-GCM.

    What ``pywebpush.WebPusher(subscription).encode(data)`` gives (the tests decrypt it
    with ``http_ece``, as a browser would), from the ``cryptography`` calls alone: WebPusher
    copies the subscription and http_ece re-derives the public keys and builds HKDF
    objects per message, a quarter of the encryption's cost. Raises ValueError for keys
    that are not a P-256 point and a 16-byte secret.
    """
    keys = subscription["keys"]
    receiver, auth = _b64u(keys["p256dh"]), _b64u(keys["auth"])
    if len(receiver) != 65 or len(auth) != 16:
        raise ValueError("keys.p256dh must be a 65-byte P-256 point, keys.auth 16 bytes")
    if len(data) > 4096 - 16 - 1 - 86:
        raise ValueError("a push message must fit one 4096-byte record")
    peer = ec.EllipticCurvePublicKey.from_encoded_point(_P256, receiver)  # checks the point
    ephemeral = ec.generate_private_key(_P256)
    sender = ephemeral.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    shared = ephemeral.exchange(_ECDH, peer)
    # RFC 8291 3.4: IKM = HKDF(auth, shared, "WebPush: info" || 0 || ua_public || as_public)
    ikm = hmac.digest(hmac.digest(auth, shared, "sha256"),
                      b"WebPush: info\x00" + receiver + sender + b"\x01", "sha256")
    salt = os.urandom(16)
    prk = hmac.digest(salt, ikm, "sha256")  # RFC 8188 2.2 and 2.3: the key and nonce
    cek = hmac.digest(prk, b"Content-Encoding: aes128gcm\x00\x01", "sha256")[:16]
    nonce = hmac.digest(prk, b"Content-Encoding: nonce\x00\x01", "sha256")[:12]
    # The header (salt, record size 4096, key id = the ephemeral public key), then the
    # single record: the data, the last-record delimiter 2, and GCM's tag.
    return (salt + b"\x00\x00\x10\x00\x41" + sender
            + AESGCM(cek).encrypt(nonce, data + b"\x02", None))


def prepare(subscription: dict, payload: str, urgency: str, vapid, ttl: int):
    """The encrypted body (aes128gcm, :func:`encrypt`) and headers of one push, or the
    "failed" :class:`PushResult` of a subscription that cannot be encrypted for."""
    try:
        body = encrypt(subscription, payload.encode())
        headers = push_headers(vapid.for_endpoint(subscription["endpoint"]), ttl, urgency)
    except Exception as exc:  # bad keys in a stored subscription, etc.
        return PushResult("failed", error=f"{type(exc).__name__}: {exc}"[:500])
    return body, headers


def push_headers(authorization: str, ttl: int, urgency: str) -> dict:
    """The headers of a push (besides its length): the same for every message to one
    push service with one urgency."""
    return {"Authorization": authorization, "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream", "TTL": str(ttl), "Urgency": urgency}


def classify(code: int, reason: str | None, start: bytes, retry_after: str | None) -> PushResult:
    """What a push service's answer means: 2xx sent, 404/410 gone, 429/5xx retry (after
    ``Retry-After``), any other 4xx failed. ``start``: the first bytes of the answer."""
    if code <= 202:
        return PushResult("sent", code)
    text = start[:200].decode("utf-8", "replace")
    error = f"HTTP {code} {reason or ''} {text}".strip()
    if code in (404, 410):
        return PushResult("gone", code, error)
    if code == 429 or code >= 500:
        return PushResult("retry", code, error, parse_retry_after(retry_after))
    return PushResult("failed", code, error)


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
        origin = origin_of(endpoint)
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


class PushSender:
    """What both push clients hold: the VAPID headers, the request timeout, the messages'
    TTL and how many requests may be in flight at once."""

    def __init__(self, key, subject: str, *, timeout: float = 10.0, ttl: int = 86400,
                 concurrency: int = 8):
        self.vapid = VapidHeaders(key, subject)
        self.timeout = timeout
        self.ttl = ttl
        self.concurrency = concurrency


class PushClient(PushSender):
    """Sends push messages concurrently over pooled sessions (one per thread)."""

    def __init__(self, key, subject: str, **options):
        super().__init__(key, subject, **options)
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
        """Encrypt ``payload`` for ``subscription`` (:func:`encrypt`) and POST it;
        never raises.

        The request goes through the pooled keep-alive connections of a
        ``requests.Session``'s adapter, driven via urllib3 directly: requests' per-call
        layers (environment merging, hooks, cookies, Response objects) cost more than the
        encryption itself. Push services are reached directly (no HTTP(S)_PROXY).
        """
        endpoint = subscription["endpoint"]
        prepared = prepare(subscription, payload, urgency, self.vapid, self.ttl)
        if isinstance(prepared, PushResult):
            return prepared
        body, headers = prepared
        try:
            parts = urlsplit(endpoint)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            response = self._connection_pool(endpoint).urlopen(
                "POST", path or "/", body=body, headers=headers, retries=False,
                redirect=False, timeout=urllib3.Timeout(total=self.timeout),
                preload_content=True)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return PushResult("retry", error=f"network: {type(exc).__name__}: {exc}"[:500])
        return classify(response.status, response.reason, response.data[:200],
                        response.headers.get("Retry-After"))

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
