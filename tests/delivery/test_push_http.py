"""The asyncio push sender's HTTP client (``webapp/delivery/push_http.py``): keep-alive
connections reused, a server's silent close survived without sending twice, the total
timeout, Retry-After and the body in chunked answers, "gone" on 410, malformed answers
refused. (Certificates: tests/delivery/test_push_senders.py; the outbox rules for each
sender: the same file.)"""
from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from webapp.config import Config
from webapp.delivery.endpoints import endpoint_problem
from webapp.delivery.push_async import AsyncPushClient
from webapp.delivery.push_http import Pool, destination
from webapp.delivery.subscriptions import vapid
from tests.support.push_service import FakeUserAgent
from tests.support.tls import certificate

CREATED = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"


class ScriptedServer:
    """A loopback HTTP server answering each request with ``answer(n)`` (n counts the
    requests from 1): the bytes to send, then "keep" (the connection open), "close" (close
    it silently), "hang" (send nothing more, never close) or "trickle" (send the bytes one
    at a time, 0.2 s apart)."""

    def __init__(self, answer, tls: ssl.SSLContext | None = None):
        self.answer = answer
        self.tls = tls
        self.requests: list[tuple[int, bytes]] = []  # (connection number, request)
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self.url = f"{'https://localhost' if tls else 'http://127.0.0.1'}:" \
            f"{self._sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn, self.connections),
                             daemon=True).start()

    def _serve(self, conn, number):
        conn.settimeout(5)
        if self.tls:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):
                return  # the client refused the certificate
        buf = b""
        with conn:
            while not self._stop.is_set():
                while b"\r\n\r\n" not in buf:
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                while len(buf) < length:
                    buf += conn.recv(65536)
                self.requests.append((number, head + b"\r\n\r\n" + buf[:length]))
                buf = buf[length:]
                data, then = self.answer(len(self.requests))
                try:
                    if then == "trickle":
                        for i in range(len(data)):
                            conn.sendall(data[i:i + 1])
                            time.sleep(0.2)
                    else:
                        conn.sendall(data)
                except OSError:  # the client gave up (the timeout tests)
                    return
                if then == "close":
                    return
                if then == "hang":
                    self._stop.wait(10)
                    return

    def close(self):
        self._stop.set()
        self._sock.close()


@pytest.fixture
def scripted():
    servers = []

    def make(answer, tls=None):
        servers.append(ScriptedServer(answer, tls))
        return servers[-1]
    yield make
    for server in servers:
        server.close()


def send(client, url, n=1, path="/push/1"):
    agent = FakeUserAgent(url + path)
    return client.send_many([(agent.subscription, '{"title":"x"}')] * n, deadline=10)


@pytest.fixture
def client(app):
    made = []

    def make(**options):
        made.append(AsyncPushClient(vapid(), "mailto:test@wardline.example",
                                    **{"timeout": 5, "concurrency": 1, **options}))
        return made[-1]
    yield make
    for c in made:
        c.close()


def test_connections_are_kept_alive_across_requests_and_batches(client, push_service):
    pusher = client(concurrency=2)
    agents = [push_service.agent() for _ in range(6)]
    for batch in (agents[:3], agents[3:]):
        results = pusher.send_many([(a.subscription, '{"title":"x"}') for a in batch],
                                   deadline=10)
        assert [r.status for r in results] == ["sent"] * 3
    assert len(push_service.messages()) == 6  # each one decrypted and its VAPID verified
    assert pusher._pool.opened <= 2
    assert len({r["connection"] for r in push_service.received}) == pusher._pool.opened


def test_a_kept_alive_connection_the_server_closed_is_replaced_without_sending_twice(
        client, scripted):
    server = scripted(lambda n: (CREATED, "close"))  # answers, then closes without saying
    pusher = client()
    for _ in range(3):
        assert [r.status for r in send(pusher, server.url)] == ["sent"]
        time.sleep(0.1)
    assert [number for number, _ in server.requests] == [1, 2, 3]  # once each, new connections


def test_a_request_a_kept_alive_connection_dropped_unanswered_goes_once_more(client,
                                                                             scripted):
    """The server closed the connection as the request arrived (its idle timeout): sent
    again on a new connection, as browsers do. On a new connection, never."""
    answers = {2: (b"", "close")}
    server = scripted(lambda n: answers.get(n, (CREATED, "keep")))
    pusher = client()
    assert [r.status for r in send(pusher, server.url)] == ["sent"]
    assert [r.status for r in send(pusher, server.url)] == ["sent"]
    assert [number for number, _ in server.requests] == [1, 1, 2]
    dropping = scripted(lambda n: (b"", "close"))
    [result] = send(client(), dropping.url)
    assert result.status == "retry" and "connection closed" in result.error
    assert len(dropping.requests) == 1


def test_connection_close_is_honoured(client, scripted):
    server = scripted(lambda n: (b"HTTP/1.1 201 Created\r\nConnection: close\r\n"
                                 b"Content-Length: 0\r\n\r\n", "keep"))
    pusher = client()
    assert [r.status for r in send(pusher, server.url, 2)] == ["sent", "sent"]
    assert [number for number, _ in server.requests] == [1, 2]


def test_a_chunked_answer_with_retry_after_is_read_and_the_connection_reused(client, scripted):
    answers = {1: (b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 120\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n5\r\nslow \r\n4;x=y\r\ndown\r\n0\r\n\r\n",
                   "keep")}
    server = scripted(lambda n: answers.get(n, (CREATED, "keep")))
    pusher = client()
    first, second = send(pusher, server.url, 2)
    assert (first.status, first.code, first.retry_after) == ("retry", 429, 120.0)
    assert "slow down" in first.error
    assert second.status == "sent"
    assert [number for number, _ in server.requests] == [1, 1]


@pytest.mark.parametrize("answer, status", [
    (b"HTTP/1.1 410 Gone\r\nContent-Length: 12\r\n\r\nunsubscribed", "gone"),
    (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "gone"),
    (b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n", "failed"),
    (b"HTTP/1.1 503 Busy\r\nRetry-After: 30\r\nContent-Length: 0\r\n\r\n", "retry"),
    (b"HTTP/1.1 301 Moved\r\nLocation: http://10.0.0.1/\r\nContent-Length: 0\r\n\r\n", "failed"),
    (b"HTTP/1.0 201 Created\r\n\r\n", "sent"),  # no length: the body ends with the connection
])
def test_answers_mean_what_they_say(client, scripted, answer, status):
    server = scripted(lambda n: (answer, "close"))
    [result] = send(client(), server.url)
    assert result.status == status, result
    if status == "gone":
        assert result.code in (404, 410)
    if b"Retry-After" in answer:
        assert result.retry_after == 30.0
    assert len(server.requests) == 1  # redirects are not followed


@pytest.mark.parametrize("answer", [b"HTTP/1.1 2x1 Created\r\n\r\n", b"SMTP 220 hello\r\n\r\n",
                                    b"HTTP/1.1 201 Created\r\nContent-Length: -1\r\n\r\n",
                                    b"HTTP/1.1 201 Created\r\nTransfer-Encoding: gzip\r\n\r\n",
                                    b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    b"zz\r\n"])
def test_a_malformed_answer_is_retried_later_and_its_connection_dropped(client, scripted,
                                                                        answer):
    server = scripted(lambda n: (answer if n == 1 else CREATED, "keep"))
    pusher = client()
    [result] = send(pusher, server.url)
    assert result.status == "retry" and "bad answer" in result.error
    assert [r.status for r in send(pusher, server.url)] == ["sent"]
    assert [number for number, _ in server.requests] == [1, 2]


@pytest.mark.parametrize("then", ["hang", "trickle"])
def test_the_timeout_bounds_the_whole_request(client, scripted, then):
    """No answer, or one trickling in a byte at a time: the request ends at its timeout
    (not the batch's deadline), "retry", and its connection is not reused."""
    first = (b"", "hang") if then == "hang" else (CREATED, "trickle")
    server = scripted(lambda n: first if n == 1 else (CREATED, "keep"))
    pusher = client(timeout=0.6)
    started = time.monotonic()
    [result] = send(pusher, server.url)
    assert 0.5 < time.monotonic() - started < 2
    assert result.status == "retry" and "Timeout" in result.error
    assert [r.status for r in send(pusher, server.url)] == ["sent"]
    assert [number for number, _ in server.requests] == [1, 2]


def test_connecting_is_bounded_by_the_timeout_too(client, monkeypatch):
    """A push service that never completes the connection (here: the connect itself
    stalls) costs at most the request's timeout."""
    import asyncio

    async def stalled(*args, **kwargs):
        await asyncio.sleep(30)
    pusher = client(timeout=0.5)
    pusher._started()
    monkeypatch.setattr(pusher._loop, "create_connection", stalled)
    started = time.monotonic()
    [result] = send(pusher, "https://push.example.net")
    assert time.monotonic() - started < 2
    assert result.status == "retry" and "Timeout" in result.error


def test_the_request_is_what_a_push_service_expects(client, scripted):
    server = scripted(lambda n: (CREATED, "keep"))
    send(client(), server.url, path="/push/a%2Fb?x=1#fragment")
    head, _, body = server.requests[0][1].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /push/a%2Fb?x=1 HTTP/1.1"
    headers = dict(line.split(b": ", 1) for line in lines[1:])
    assert headers[b"Host"] == server.url.removeprefix("http://").encode()
    assert int(headers[b"Content-Length"]) == len(body)
    assert headers[b"Content-Encoding"] == b"aes128gcm"
    assert headers[b"Authorization"].startswith(b"vapid t=")
    assert b"Cookie" not in headers and b"Proxy-Authorization" not in headers


def test_the_default_port_and_odd_characters_in_the_path(app):
    origin, start = destination("https://fcm.googleapis.com/fcm/send/a b\u00e9")
    assert (origin.host, origin.port, origin.tls) == ("fcm.googleapis.com", 443, True)
    assert start == (b"POST /fcm/send/a%20b%C3%A9 HTTP/1.1\r\nHost: fcm.googleapis.com\r\n")
    with pytest.raises(ValueError):
        destination("https://user:pw@fcm.googleapis.com/x")


def test_the_endpoint_check_follows_a_changed_setting():
    """The host's verdict is remembered per setting, so a narrowed allow-list applies
    to the very next check."""
    config = {name: getattr(Config, name) for name in dir(Config) if name.isupper()}
    endpoint = "https://fcm.googleapis.com/fcm/send/abc"
    assert endpoint_problem(endpoint, config) is None
    config["PUSH_ENDPOINT_HOSTS"] = "push.services.mozilla.com"
    assert endpoint_problem(endpoint, config) == "endpoint is not a known push service"
    config["PUSH_ENDPOINT_HOSTS"] = ["fcm.googleapis.com"]
    config["PUSH_ENDPOINT_PORTS"] = "8443"
    assert endpoint_problem(endpoint, config) == "endpoint uses a port push services do not use"


def run_apart(coroutine):
    """Run ``coroutine`` on an event loop of its own thread: this test process may have
    run browser tests, whose Playwright loop counts as running in the main thread."""
    with ThreadPoolExecutor(1) as executor:
        return executor.submit(asyncio.run, coroutine).result()


def test_https_is_verified_kept_alive_and_a_wrong_name_refused(scripted, tmp_path):
    """Over TLS with a certificate the client trusts: sent, on one connection. The same
    certificate for another name (here the address instead of "localhost"): refused
    before anything is sent. (An untrusted certificate: test_push_senders.py.)"""
    server_context, client_context = certificate(tmp_path, "localhost")
    server = scripted(lambda n: (CREATED, "keep"), tls=server_context)

    async def post_twice(url):
        pool = Pool(1, 5, context=client_context)
        try:
            origin, start = destination(url + "/push/1")
            return [(await pool.post(origin, start, b"TTL: 60\r\n", b"x")).status
                    for _ in range(2)], pool.opened
        finally:
            pool.close()
    assert run_apart(post_twice(server.url)) == ([201, 201], 1)
    assert [number for number, _ in server.requests] == [1, 1]
    with pytest.raises(ssl.SSLCertVerificationError):
        run_apart(post_twice(server.url.replace("localhost", "127.0.0.1")))
    assert len(server.requests) == 2
