"""A loopback Web Push service for tests (adapted from the probe push service credited in docs/testing-browser.md).

* :class:`FakeUserAgent`: the browser side of a subscription, with a real P-256 key pair
  and auth secret; ``.subscription`` is what ``PushSubscription.toJSON()`` gives.
* :class:`PushService`: a threaded HTTP/1.1 server that keeps connections alive (as real
  push services do; werkzeug's closes every one). Every POST to ``/push/<id>`` is
  recorded; the answer can be scripted per path (``service.respond(path, 410)``, or
  ``service.respond(path, 429, retry_after=60, times=1)``), and delayed
  (``service.delay(agent, 5)``). ``messages()`` decrypts each
  received body (aes128gcm, with the agent's private key) and verifies its VAPID header;
  each received push notes the client's port (``"connection"``: one per connection).
* :func:`verify_vapid` checks an RFC 8292 ``Authorization: vapid t=…,k=…`` header fully.
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import threading
import time

import http_ece
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_ids = itertools.count(1)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_dec(s: str) -> bytes:
    s = s.strip()
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class FakeUserAgent:
    """A browser's push subscription with real keys, able to decrypt what it receives."""

    def __init__(self, endpoint: str):
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.public_raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        self.auth = os.urandom(16)
        self.endpoint = endpoint
        self.subscription = {
            "endpoint": endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64u(self.public_raw), "auth": b64u(self.auth)},
        }

    def decrypt(self, body: bytes) -> bytes:
        return http_ece.decrypt(body, private_key=self.private_key,
                                auth_secret=self.auth, version="aes128gcm")


def verify_vapid(authorization: str, audience: str, expected_key_b64u: str | None = None,
                 now: float | None = None) -> dict:
    """Return the JWT claims, or raise AssertionError/InvalidSignature."""
    now = time.time() if now is None else now
    scheme, _, params = authorization.partition(" ")
    assert scheme.lower() == "vapid", f"scheme {scheme!r}"
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    token, key_b64u = parts["t"], parts["k"]
    if expected_key_b64u is not None:
        assert b64u_dec(key_b64u) == b64u_dec(expected_key_b64u), "k != applicationServerKey"
    header_b64, claims_b64, sig_b64 = token.split(".")
    header = json.loads(b64u_dec(header_b64))
    assert header.get("alg") == "ES256", header
    sig = b64u_dec(sig_b64)
    assert len(sig) == 64, "JWS ES256 signature must be raw r||s (64 bytes)"
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64u_dec(key_b64u))
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    pub.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    claims = json.loads(b64u_dec(claims_b64))
    assert claims["aud"] == audience, (claims["aud"], audience)
    assert now < claims["exp"] <= now + 24 * 3600 + 60, "exp must be in (now, now+24h]"
    assert claims["sub"].startswith(("mailto:", "https:")), claims["sub"]
    return claims


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so pooled connections are exercised
    service: PushService

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, headers = self.service.answer(self, body)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class PushService:
    """``with PushService() as svc``: ``svc.url``, ``svc.agent()``, ``svc.received``."""

    def __init__(self):
        self.received: list[dict] = []
        self.agents: dict[str, FakeUserAgent] = {}
        self._script: dict[str, list[tuple[int, dict]]] = {}
        self._delays: dict[str, float] = {}
        self._cond = threading.Condition()
        handler = type("Handler", (_Handler,), {"service": self})
        self._srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._srv.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._srv.server_port}"

    def agent(self) -> FakeUserAgent:
        """A new browser subscribed at this service."""
        ua = FakeUserAgent(f"{self.url}/push/{next(_ids)}")
        self.agents[ua.endpoint] = ua
        return ua

    def respond(self, agent_or_endpoint, status: int, *, retry_after: int | None = None,
                times: int = 10**9) -> None:
        """Answer the next ``times`` pushes to that endpoint with ``status``."""
        endpoint = getattr(agent_or_endpoint, "endpoint", agent_or_endpoint)
        path = endpoint[len(self.url):]
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        with self._cond:
            self._script[path] = [(status, headers)] * min(times, 1000)

    def delay(self, agent_or_endpoint, seconds: float) -> None:
        """Answer pushes to that endpoint only after ``seconds`` (a slow push service)."""
        endpoint = getattr(agent_or_endpoint, "endpoint", agent_or_endpoint)
        self._delays[endpoint[len(self.url):]] = seconds

    def answer(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict]:
        """Record a POST (to ``/push/<id>``: anything else is 404) and say what to answer."""
        path = request.path
        if not path.startswith("/push/"):
            return 404, {}
        if self._delays.get(path):
            time.sleep(self._delays[path])
        with self._cond:
            script = self._script.get(path)
            status, headers = script.pop(0) if script else (201, {})
            # Header names as werkzeug gave them before ("Ttl", "Content-Encoding").
            self.received.append({"path": path,
                                  "headers": {k.title(): v for k, v in request.headers.items()},
                                  "body": body, "status": status, "at": time.time(),
                                  "connection": request.client_address[1]})
            self._cond.notify_all()
        return status, headers

    def accepted(self) -> list[dict]:
        return [r for r in self.received if r["status"] == 201]

    def messages(self, expected_key: str | None = None) -> list[dict]:
        """Every accepted push, decrypted and with its VAPID header verified:
        dicts of ``endpoint``, ``payload`` (parsed JSON), ``claims``, ``headers``."""
        out = []
        for rec in self.accepted():
            endpoint = self.url + rec["path"]
            agent = self.agents[endpoint]
            claims = verify_vapid(rec["headers"]["Authorization"], audience=self.url,
                                  expected_key_b64u=expected_key)
            out.append({"endpoint": endpoint, "payload": json.loads(agent.decrypt(rec["body"])),
                        "claims": claims, "headers": rec["headers"]})
        return out

    def wait_for(self, n: int, timeout: float = 5.0):
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.received) >= n, timeout), \
                f"push service got {len(self.received)} < {n} messages"
            return self.received[:n]

    def __enter__(self):
        self._t = threading.Thread(target=self._srv.serve_forever, args=(0.05,), daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._srv.shutdown()
        self._srv.server_close()
