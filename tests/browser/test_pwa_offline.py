"""Wardline's service worker in headless Chromium: registration, updates, the pages it keeps
for reading offline (and never keeps), and clean-up on sign-out.

Each test gets a fresh browser context (so a fresh service worker and empty caches); the
live server shares the test database, so tests create users with the factories and check
what the server stored.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import cached_paths, turn_on_push, wait_sw_activated
from tests.browser.pwa_support import WARD, all_cached, start_conversation, subscriptions
from webapp.extensions import db

pytestmark = pytest.mark.browser


# --------------------------------------------------------------------------- service worker
def test_service_worker_registers_activates_and_precaches_the_shell(page, context, base_url):
    from webapp.pwa.routes import static_version
    page.goto("/")
    wait_sw_activated(page)
    assert [w.url for w in context.service_workers] == [f"{base_url}/sw.js"]
    version = page.evaluate("fetch('/sw.js').then(r => r.text())")
    assert static_version() in version
    caches = cached_paths(page)
    shell = caches[f"wardline-shell-{static_version()}"]
    for path in ("/offline", "/offline?fragment=1", "/manifest.webmanifest"):
        assert path in shell
    assert any(p.startswith("/static/css/app.css?v=") for p in shell)
    assert any(p.startswith("/static/vendor/htmx-2.0.11.min.js?v=") for p in shell)


def test_offline_ward_home_is_a_saved_copy_and_unseen_pages_fall_back(
        page, context, make_resident, sign_in):
    resident = sign_in(make_resident(ward=WARD))
    page.goto(f"/wards/{WARD}")
    wait_sw_activated(page)
    page.reload()  # now controlled: this load is the one the worker keeps
    heading = page.locator("h1").first.inner_text()
    page.wait_for_function("() => caches.open('wardline-pages').then(c => c.keys()).then(k => k.length > 0)")
    assert f"/wards/{WARD}" in cached_paths(page)["wardline-pages"]
    expect(page.locator(".pwa-offline")).to_have_count(0)

    context.set_offline(True)
    try:
        response = page.reload()
        assert response.from_service_worker
        assert "script-src 'self'" in response.headers["content-security-policy"]
        expect(page.locator("h1").first).to_have_text(heading)
        notice = page.locator(".pwa-offline")
        expect(notice).to_have_text(re.compile(r"^Offline: saved copy from \d\d:\d\d\."))
        expect(notice).to_have_attribute("role", "status")
        # The start URL ("/" redirects a resident to their ward) opens the saved ward home.
        page.goto("/?source=app")
        expect(page.locator("h1").first).to_have_text(heading)
        # A page never opened on this device: the offline page.
        response = page.goto("/messages/424242")
        assert response.from_service_worker
        expect(page.locator("h1")).to_have_text("You are offline")
        # An htmx request gets the offline fragment.
        fragment = page.evaluate("""fetch('/wards/search?q=x', {headers: {'HX-Request': 'true'}})
            .then(async r => [r.headers.get('X-Wardline-Offline'), await r.text()])""")
        assert fragment[0] == "fragment" and "You are offline" in fragment[1]
    finally:
        context.set_offline(False)
    page.goto(f"/wards/{WARD}")
    expect(page.locator(".pwa-offline")).to_have_count(0)
    assert resident.id


def test_offline_htmx_requests_get_the_fragment_but_polls_never_swap_it(
        page, context, make_resident, sign_in):
    sign_in(make_resident())
    page.goto(f"/wards/{WARD}")
    wait_sw_activated(page)
    page.evaluate("""() => {
        const main = document.getElementById('main');
        main.insertAdjacentHTML('beforeend',
          '<div id="tapped" hx-get="/wards/search?q=st" hx-trigger="click">before</div>' +
          '<div id="polled" hx-get="/wards/search?q=st" hx-trigger="every 1s">before</div>');
        htmx.process(main);
    }""")
    context.set_offline(True)
    try:
        page.locator("#tapped").click()
        expect(page.locator("#tapped")).to_contain_text("You are offline")
        expect(page.locator(".pwa-offline")).to_contain_text("You are offline")
        page.wait_for_timeout(2500)  # at least two polls answered by the worker
        expect(page.locator("#polled")).to_have_text("before")
    finally:
        context.set_offline(False)


def test_offline_conversation_opened_before_reads_offline(page, context, make_resident, sign_in):
    resident = sign_in(make_resident())
    conversation = start_conversation(resident, "Is the park gate locked at night?")
    page.goto("/")
    wait_sw_activated(page)
    page.goto(f"/messages/{conversation.id}")
    page.wait_for_function(f"() => caches.match('/messages/{conversation.id}').then(Boolean)")
    context.set_offline(True)
    try:
        page.reload()
        expect(page.locator(".pwa-offline")).to_contain_text("Offline: saved copy from")
        expect(page.get_by_text("Is the park gate locked at night?")).to_be_visible()
        context.set_offline(False)
        expect(page.locator(".pwa-offline")).to_contain_text("You are back online.")
        page.get_by_role("link", name="Load the latest version").click()
        expect(page.locator(".pwa-offline")).to_have_count(0)
    finally:
        context.set_offline(False)


def test_offline_alert_opened_before_reads_offline(page, context, make_resident, make_staff, sign_in):
    from webapp.alerts.services import AlertInput, create_alert, resolve_target
    from webapp.wards.services import get_ward
    officer = make_staff("officer", wards=[WARD])
    alert = create_alert(officer, AlertInput(
        title="Phone snatches near the station", body="Keep your phone out of sight.",
        category="prevention", channels=["email"],
        target=resolve_target(officer, "wards", [get_ward(WARD).id])))
    db.session.commit()
    sign_in(make_resident())
    page.goto("/")
    wait_sw_activated(page)
    page.goto(f"/alerts/{alert.id}")
    page.wait_for_function(f"() => caches.match('/alerts/{alert.id}').then(Boolean)")
    context.set_offline(True)
    try:
        page.reload()
        expect(page.locator(".pwa-offline")).to_contain_text("Offline: saved copy from")
        expect(page.get_by_role("heading", name="Phone snatches near the station")).to_be_visible()
    finally:
        context.set_offline(False)


def test_officer_and_account_pages_are_never_cached(page, context, base_url, make_staff, make_resident,
                                                   sign_in):
    officer = sign_in(make_staff("officer", wards=[WARD]))
    page.goto("/staff")
    wait_sw_activated(page)
    for path in ("/officer/meetings", f"/wards/{WARD}", "/staff", "/officer/meetings"):
        page.goto(path)
    page.wait_for_timeout(300)  # give a (wrongly) caching worker time to write
    cached = all_cached(page)
    assert not [p for p in cached if p.startswith(("/officer", "/wards/", "/staff"))], cached
    context.set_offline(True)
    try:
        page.goto("/officer/meetings")
        expect(page.locator("h1")).to_have_text("You are offline")
    finally:
        context.set_offline(False)
    assert officer.id
    # A resident's settings and export are never kept either.
    resident_ctx = page.context.browser.new_context(base_url=base_url)
    try:
        sign_in(make_resident(), ctx=resident_ctx)
        rpage = resident_ctx.new_page()
        rpage.goto("/settings")
        wait_sw_activated(rpage)
        rpage.goto("/settings")
        rpage.goto(f"/wards/{WARD}")
        rpage.wait_for_function(f"() => caches.match('/wards/{WARD}').then(Boolean)")
        kept = all_cached(rpage)
        assert not [p for p in kept if p.startswith(("/settings", "/account"))], kept
    finally:
        resident_ctx.close()


def test_sign_out_empties_the_caches_and_drops_this_devices_subscription(
        page, context, base_url, make_resident, sign_in, push_service):
    resident = sign_in(make_resident())
    agent = turn_on_push(page, context, base_url, push_service)
    assert [s.endpoint for s in subscriptions(resident)] == [agent.endpoint]
    page.goto(f"/wards/{WARD}")
    page.wait_for_function(f"() => caches.match('/wards/{WARD}').then(Boolean)")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/$|/\?"))
    page.wait_for_function("() => window.wardlinePWA && window.wardlinePWA.ready")
    cached = cached_paths(page)
    assert "wardline-pages" not in cached
    assert not [p for paths in cached.values() for p in paths if not p.startswith(("/static/", "/offline", "/manifest"))]
    assert subscriptions(resident) == []
    assert page.evaluate("navigator.serviceWorker.ready.then(r => r.pushManager.getSubscription())") is None


def test_another_resident_signing_in_here_drops_the_first_ones_pages(
        page, context, make_resident, sign_in):
    first, second = make_resident(), make_resident(ward="E05013807")
    sign_in(first)
    page.goto("/")
    wait_sw_activated(page)
    page.goto(f"/wards/{WARD}")
    page.wait_for_function(f"() => caches.match('/wards/{WARD}').then(Boolean)")
    context.clear_cookies()  # the session ended without "Sign out"
    sign_in(second)
    page.goto("/messages")
    page.wait_for_function("() => caches.match('/messages').then(Boolean)")
    kept = cached_paths(page)["wardline-pages"]
    assert f"/wards/{WARD}" not in kept and "/messages" in kept


def test_update_waits_and_the_page_offers_reload(page, live_server, monkeypatch):
    import webapp.pwa.routes as routes
    page.goto("/")
    wait_sw_activated(page)
    old = page.evaluate("caches.keys()")
    monkeypatch.setattr(routes, "static_version", lambda: "nextversion1")
    page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.update())")
    button = page.get_by_role("button", name="Update available: reload")
    expect(button).to_be_visible()
    # The new worker waits: the old one still controls the page.
    assert page.evaluate("navigator.serviceWorker.getRegistration().then(r => Boolean(r.waiting))")
    with page.expect_navigation():
        button.click()
    page.wait_for_function("() => caches.keys().then(k => k.includes('wardline-shell-nextversion1'))")
    assert not [k for k in page.evaluate("caches.keys()") if k in old and k.startswith("wardline-shell-")]
