"""Rate limits count per client, whatever the deployment: shared through Redis by several
app processes, and keyed on the client's address behind trusted reverse proxies only."""
from __future__ import annotations

import http.cookiejar
import re
import secrets
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.support.servers import free_port, gunicorn
from webapp import _trust_proxies

PROXY = "10.0.0.2"  # the reverse proxy's socket address, as the app sees it


@pytest.fixture(scope="module")
def redis_url():
    """The Redis on 127.0.0.1:6379 when one answers, else a throwaway ``redis-server`` on a
    free port (``make test`` installs Debian's redis-server)."""
    import redis
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
        yield "redis://127.0.0.1:6379/0"
        return
    except redis.ConnectionError:
        pass
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(10)


def ask_for_link(client, n: int, forwarded_for: str | None):
    """POST /login for a fresh address, from behind the proxy; return the status."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("/login", data={"email": f"limit{n}.{secrets.token_hex(3)}@example.org"},
                       headers=headers, environ_base={"REMOTE_ADDR": PROXY}).status_code


def test_without_trusted_proxies_x_forwarded_for_is_ignored(app, client, monkeypatch):
    """The default (TRUSTED_PROXIES 0): a client cannot pick its own bucket by sending
    X-Forwarded-For; every request counts against the socket address."""
    monkeypatch.setitem(app.config, "SIGNIN_LIMIT_PER_IP", "3/hour")
    assert app.config["TRUSTED_PROXIES"] == 0
    statuses = [ask_for_link(client, n, f"203.0.113.{n}") for n in range(4)]
    assert 429 not in statuses[:3] and statuses[3] == 429


def test_behind_one_trusted_proxy_each_client_has_its_own_bucket(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SIGNIN_LIMIT_PER_IP", "3/hour")
    monkeypatch.setitem(app.config, "TRUSTED_PROXIES", 1)
    monkeypatch.setattr(app, "wsgi_app", app.wsgi_app)  # restored after the test
    _trust_proxies(app)
    assert [ask_for_link(client, n, "203.0.113.7") for n in range(3)].count(429) == 0
    assert ask_for_link(client, 3, "203.0.113.7") == 429
    # A fake address the client put in front of the proxy's own entry changes nothing:
    # ProxyFix takes the last value, the one our proxy appended.
    assert ask_for_link(client, 4, "198.51.100.1, 203.0.113.7") == 429
    assert ask_for_link(client, 5, "203.0.113.8") != 429  # another resident behind the proxy
    # The scheme the proxy saw is honoured too (secure cookies, external URLs).
    response = client.get("/healthz", headers={"X-Forwarded-Proto": "https"},
                          environ_base={"REMOTE_ADDR": PROXY})
    assert response.status_code == 200


def _login_posts(bases: list[str], email: str, count: int) -> list[int]:
    """POST /login ``count`` times for one address, alternating between the servers, with
    one browser session (same secret key, so its CSRF token is valid on both)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(bases[0] + "/login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    statuses = []
    for n in range(count):
        data = urllib.parse.urlencode({"email": email, "csrf_token": token}).encode()
        try:
            statuses.append(opener.open(bases[n % len(bases)] + "/login", data, timeout=10).status)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)
    return statuses


@pytest.mark.parametrize("storage, refused", [
    ("redis", 3),  # shared: 5 an hour for the address, across both processes
    ("memory://", 0),  # per process: each of the two allows 5, the limit doubles
])
def test_two_app_processes_share_limits_through_redis(app, mail, redis_url, storage, refused):
    """Two real app processes (gunicorn), as with ``gunicorn -w 2`` or two machines: with
    RATELIMIT_STORAGE_URI=redis://… the per-address sign-in limit (5/hour) holds across
    them; with the default in-memory storage it does not."""
    import redis
    prefix = f"wardline-test-{secrets.token_hex(4)}"
    storage = redis_url if storage == "redis" else storage
    env = {"RATELIMIT_STORAGE_URI": storage, "RATELIMIT_KEY_PREFIX": prefix}
    try:
        with gunicorn(app, env) as (first, _), gunicorn(app, env) as (second, _):
            statuses = _login_posts([first, second], f"shared.{prefix}@example.org", 8)
    finally:
        server = redis.Redis.from_url(redis_url)
        keys = list(server.scan_iter(f"*{prefix}*"))
        if keys:
            server.delete(*keys)
    assert statuses.count(429) == refused, statuses
    assert all(code == 429 for code in statuses[8 - refused:])
    if storage == redis_url:
        assert keys, "the limits were counted in Redis"
