"""Browser tests: Playwright drives Debian's Chromium (no ``playwright install``) against a
live server of the test app, sharing the test database (recipe: docs/testing-browser.md).

One browser per session (pytest-playwright), a fresh context per test, so every test
installs the service worker from scratch and nothing leaks between tests.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

AXE_JS = Path(__file__).resolve().parents[1] / "vendor" / "axe-4.14.1.min.js"


def find_chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/lib/chromium/chromium",
                      shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


CHROMIUM = find_chromium()

# CI runs three test processes, each with its own Chromium and live server, on two cores:
# an answer that takes 2 s here can take over 5 s there (one CI run saw an htmx swap miss
# Playwright's 5 s default). Waiting longer changes no assertion, only how long a real
# failure takes to report.
expect.set_options(timeout=15_000)


def pytest_collection_modifyitems(config, items):
    """Without Chromium the browser tests are skipped, loudly (``make test`` installs it)."""
    if CHROMIUM:
        return
    skip = pytest.mark.skip(reason="Chromium not found: apt-get install chromium (make chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # Playwright already adds --headless and --no-sandbox (needed as root).
    return {**browser_type_launch_args, "executable_path": CHROMIUM,
            "args": ["--disable-gpu", "--disable-quic", "--disable-sync"]}


@pytest.fixture(autouse=True)
def _close_leftover_contexts(request):
    """After each browser test, close every browser context it opened and left open (a
    test that fails half-way skips its own ``ctx.close()``). A page left open keeps polling
    the live server, which is shared by the later tests of this process: a leftover
    officer's page wrote their activity time every second into the next tests' data, and
    those tests' own transactions then met "database is locked" (a CI run, 2026-11-27)."""
    yield
    if "browser" not in request.fixturenames:
        return
    browser = request.getfixturevalue("browser")
    for ctx in list(browser.contexts):
        ctx.close()


class LiveServer:
    """The test app served by a threaded werkzeug server on a random loopback port."""

    def __init__(self, app):
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    def start(self) -> "LiveServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def live_server(_app):
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = LiveServer(_app).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def base_url(live_server):
    """pytest-playwright's base URL: ``page.goto("/wards/...")`` goes to the live server."""
    return live_server.url


@pytest.fixture
def sign_in(app, context, base_url):
    """Sign ``user`` in on this browser context by giving it a session cookie, exactly what
    the sign-in flows leave behind (staff also pass their second factor)."""
    def do_sign_in(user, *, ctx=None):
        (ctx or context).add_cookies([session_cookie(app, user, base_url)])
        return user
    return do_sign_in


def session_cookie(app, user, base_url: str) -> dict:
    """A signed session cookie for ``user``, as the sign-in flows leave it (staff also with
    their second factor)."""
    data = {"_user_id": user.get_id(), "_fresh": True}
    if user.role in ("officer", "admin"):
        data["mfa_user_id"] = user.id
        data["staff_since"] = data["staff_seen"] = int(time.time())  # a fresh staff session
    value = app.session_interface.get_signing_serializer(app).dumps(data)
    return {"name": app.config.get("SESSION_COOKIE_NAME", "session"), "value": value,
            "url": base_url}


def axe_on(browser, base_url: str, app, path: str, user=None) -> list[tuple[str, str, int]]:
    """axe-core's serious and critical violations on ``path``, seen by ``user`` (or a
    visitor), in a context that lets the axe script in (functional checks run under the real
    CSP elsewhere)."""
    ctx = browser.new_context(base_url=base_url, bypass_csp=True)
    try:
        if user is not None:
            ctx.add_cookies([session_cookie(app, user, base_url)])
        page = ctx.new_page()
        response = page.goto(path)
        assert response.status == 200, (path, response.status)
        return run_axe(page)
    finally:
        ctx.close()


def sign_up_by_email_link(page, mail, base_url, email: str, name: str = "Sam") -> None:
    """Sign up through the real flow: the form, the emailed link, the "Continue" button."""
    page.goto("/signup")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Send me a sign-up link").click()
    [message] = mail.wait_for(1)
    text = message.get_body(preferencelist=("plain",)).get_content()
    path = re.search(r"https?://[^/\s]+(/signin/\S+)", text).group(1)
    page.goto(base_url + path)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile("/survey"))


def wait_sw_activated(page) -> None:
    """Wait until the page is controlled by an activated service worker."""
    assert page.evaluate("window.wardlinePWA.ready") == "activated"
    page.wait_for_function("() => navigator.serviceWorker.controller?.state === 'activated'")


def sw_registration_id(page, cdp, scope: str, timeout: float = 5.0) -> str:
    """The CDP registration id of the service worker for ``scope``."""
    regs: dict = {}
    cdp.on("ServiceWorker.workerRegistrationUpdated",
           lambda e: regs.update({r["scopeURL"]: r for r in e["registrations"]}))
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reg = regs.get(scope)
        if reg and not reg["isDeleted"]:
            return reg["registrationId"]
        page.wait_for_timeout(50)  # sync API: CDP events are dispatched inside Playwright calls
    raise AssertionError(f"no service worker registration for {scope}: {regs}")


def cached_paths(page) -> dict[str, list[str]]:
    """Every cache and the paths (with query) it holds."""
    return page.evaluate("""async () => {
        const out = {};
        for (const name of await caches.keys()) {
            const keys = await (await caches.open(name)).keys();
            out[name] = keys.map(r => { const u = new URL(r.url); return u.pathname + u.search; });
        }
        return out;
    }""")


def stub_push_manager(context, subscription: dict) -> None:
    """Replace PushManager in every page with one that "subscribes" with ``subscription``
    (a FakeUserAgent's keys): Chromium cannot subscribe without Google's push service."""
    context.add_init_script("""(() => {
      const sub = %s;
      const bytes = s => Uint8Array.from(atob(s.replace(/-/g,'+').replace(/_/g,'/')), c => c.charCodeAt(0)).buffer;
      const fake = {endpoint: sub.endpoint, expirationTime: null, options: {userVisibleOnly: true},
        getKey: n => bytes(sub.keys[n]), toJSON: () => sub,
        unsubscribe: async () => { localStorage.setItem('fake-push', 'off'); return true; }};
      PushManager.prototype.subscribe = async function (opts) {
        localStorage.setItem('fake-push', 'on');
        window.__pushSubscribeOptions = opts && opts.applicationServerKey ? Array.from(new Uint8Array(opts.applicationServerKey)).length : 0;
        return fake;
      };
      PushManager.prototype.getSubscription = async function () {
        return localStorage.getItem('fake-push') === 'on' ? fake : null;
      };
      PushManager.prototype.permissionState = async function () { return 'granted'; };
    })();""" % json.dumps(subscription))


def run_axe(page, impacts=("serious", "critical")) -> list[tuple[str, str, int]]:
    """Run axe-core's WCAG 2.2 A/AA rules on the page; return the violations of ``impacts``
    (serious and critical unless told)."""
    page.add_script_tag(path=str(AXE_JS))
    result = page.evaluate("axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']})")
    assert result["passes"], "axe ran no rules"
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in result["violations"] if v["impact"] in impacts]


@pytest.fixture(autouse=True)
def _app_context(app):
    """Every browser test runs with the app context and a clean database (``app``)."""
    yield app


def turn_on_push(page, context, base_url, push_service):
    """Turn on notifications from Settings with a loopback push agent (PushManager stubbed,
    as a headless browser cannot subscribe for real) and return that agent."""
    from playwright.sync_api import expect
    agent = push_service.agent()
    stub_push_manager(context, agent.subscription)
    context.grant_permissions(["notifications"], origin=base_url)
    page.goto("/settings")
    wait_sw_activated(page)
    page.get_by_role("button", name="Turn on notifications on this device").click()
    expect(page.locator("[data-push-status]")).to_have_text("Notifications are on for this device.")
    return agent
