"""Wardline as an installable, offline-capable app with push, in headless Chromium.

Each test gets a fresh browser context (so a fresh service worker and empty caches); the
live server shares the test database, so tests create users with the factories and check
what the server stored.
"""
from __future__ import annotations

import json
import re
import struct

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from tests.browser.conftest import (axe_on, cached_paths, sign_up_by_email_link, stub_push_manager,
                                    sw_registration_id, wait_sw_activated)
from tests.conftest import wait_until
from webapp.extensions import db

pytestmark = pytest.mark.browser

WARD = "E05013806"


def all_cached(page) -> set[str]:
    return {path for paths in cached_paths(page).values() for path in paths}


def start_conversation(resident, text="When is the next ward panel meeting?"):
    from webapp.threads import services as threads
    conversation = threads.start_conversation(resident, resident.home_ward, "Ward panel", text)
    db.session.commit()
    return conversation


def message_count(conversation_id: int, body: str | None = None) -> int:
    from webapp.threads.models import Message
    db.session.rollback()  # end the read snapshot: see what the live server committed
    query = select(func.count()).select_from(Message).where(Message.conversation_id == conversation_id)
    if body is not None:
        query = query.where(Message.body == body)
    return db.session.scalar(query)


def subscriptions(user) -> list:
    from webapp.delivery.subscriptions import subscriptions_for
    db.session.rollback()  # end the read snapshot: see what the live server committed
    return subscriptions_for(user)


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
    agent = push_service.agent()
    stub_push_manager(context, agent.subscription)
    context.grant_permissions(["notifications"], origin=base_url)
    page.goto("/settings")
    wait_sw_activated(page)
    page.get_by_role("button", name="Turn on notifications on this device").click()
    expect(page.locator("[data-push-status]")).to_have_text("Notifications are on for this device.")
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


# --------------------------------------------------------------------------- offline writes
def test_reply_written_offline_is_queued_and_sent_exactly_once(page, context, make_resident, sign_in):
    resident = sign_in(make_resident())
    conversation = start_conversation(resident)
    page.goto(f"/messages/{conversation.id}")
    wait_sw_activated(page)
    assert message_count(conversation.id) == 1
    text = "Written on the Underground, sent later."

    context.set_offline(True)
    page.get_by_label("Your message").fill(text) if page.get_by_label("Your message").count() \
        else page.locator("#reply-form textarea").fill(text)
    page.locator("#reply-form button[type=submit]").click()
    queued = page.locator(".outbox-item")
    expect(queued).to_have_count(1)
    expect(queued.locator(".outbox-status")).to_have_text(re.compile("^Queued"))
    expect(queued.locator(".outbox-text")).to_have_text(text)
    key = page.evaluate("WardlineOutbox.all().then(items => items[0].key)")
    assert re.fullmatch(r"[0-9a-f-]{36}", key)
    page.wait_for_timeout(300)
    assert message_count(conversation.id, text) == 0

    context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")  # also what the browser fires
    expect(queued.locator(".outbox-status")).to_have_text("Sent.")
    assert wait_until(lambda: message_count(conversation.id, text) >= 1)
    assert message_count(conversation.id, text) == 1
    assert page.evaluate("WardlineOutbox.all().then(items => items.length)") == 0

    # A retry of the same message (say the answer was lost) never duplicates it.
    status = page.evaluate("""key => {
        const form = document.getElementById('reply-form');
        const body = new URLSearchParams(new FormData(form));
        body.set('body', %s);
        return fetch(form.action, {method: 'POST', body, headers: {'Idempotency-Key': key}}).then(r => r.status);
    }""" % json.dumps(text), key)
    assert status < 400
    assert message_count(conversation.id, text) == 1
    page.reload()
    expect(page.get_by_text(text, exact=True)).to_have_count(1)


def test_queued_reply_is_sent_on_the_next_page_load(page, context, make_resident, sign_in):
    # This test is about the page-load path: keep Background Sync out of it.
    context.add_init_script("if (window.SyncManager) SyncManager.prototype.register = "
                            "() => Promise.reject(new Error('no Background Sync here'));")
    resident = sign_in(make_resident())
    conversation = start_conversation(resident)
    page.goto(f"/messages/{conversation.id}")
    wait_sw_activated(page)
    context.set_offline(True)
    page.locator("#reply-form textarea").fill("Queued, then the app was closed.")
    page.locator("#reply-form button[type=submit]").click()
    expect(page.locator(".outbox-item")).to_have_count(1)
    page.close()
    context.set_offline(False)
    fresh = context.new_page()
    fresh.goto(f"/messages/{conversation.id}")
    fresh.wait_for_function("() => WardlineOutbox.all().then(items => items.length === 0)")
    text = "Queued, then the app was closed."
    assert wait_until(lambda: message_count(conversation.id, text) >= 1)
    fresh.reload()  # another page load must not send it again
    fresh.wait_for_function("() => window.wardlinePWA.ready")
    assert message_count(conversation.id, text) == 1


def test_background_sync_in_the_worker_sends_the_queue_with_no_page_open(
        page, context, make_resident, sign_in):
    """Chromium fires ``sync`` when connectivity returns (not emulated offline mode, so the
    test dispatches the event itself): the worker alone sends the queued reply, once."""
    resident = sign_in(make_resident())
    conversation = start_conversation(resident)
    page.goto(f"/messages/{conversation.id}")
    wait_sw_activated(page)
    context.set_offline(True)
    page.locator("#reply-form textarea").fill("Sent by the service worker.")
    page.locator("#reply-form button[type=submit]").click()
    expect(page.locator(".outbox-item")).to_have_count(1)
    page.close()
    context.set_offline(False)
    worker = context.service_workers[0]
    worker.evaluate("""() => new Promise((resolve, reject) => {
        const event = new ExtendableEvent('sync');
        Object.defineProperty(event, 'tag', {value: 'wardline-outbox'});
        const wait = [];
        event.waitUntil = (p) => wait.push(p);
        self.dispatchEvent(event);
        Promise.all(wait).then(resolve, reject);
    })""")
    assert wait_until(lambda: message_count(conversation.id, "Sent by the service worker.") >= 1)
    assert worker.evaluate("WardlineOutbox.all().then(items => items.length)") == 0
    worker.evaluate("""() => { const e = new ExtendableEvent('sync');
        Object.defineProperty(e, 'tag', {value: 'wardline-outbox'}); self.dispatchEvent(e); }""")
    assert message_count(conversation.id, "Sent by the service worker.") == 1


# --------------------------------------------------------------------------- push
def test_push_shows_a_notification_and_click_picks_its_url(page, context, base_url):
    context.grant_permissions(["notifications"], origin=base_url)
    page.goto("/")
    wait_sw_activated(page)
    cdp = context.new_cdp_session(page)
    reg_id = sw_registration_id(page, cdp, f"{base_url}/")
    payload = {"title": "PC Shah replied", "body": "About the park gate", "url": "/messages/7",
               "tag": "conversation-7"}
    for _ in range(2):  # the same tag twice collapses into one notification
        cdp.send("ServiceWorker.deliverPushMessage",
                 {"origin": base_url, "registrationId": reg_id, "data": json.dumps(payload)})
    page.wait_for_function("() => wardlinePWA.messages.filter(m => m.type === 'push').length === 2")
    shown = page.evaluate("""navigator.serviceWorker.ready.then(r => r.getNotifications())
        .then(ns => ns.map(n => ({title: n.title, body: n.body, tag: n.tag, url: n.data.url,
                                  icon: n.icon, badge: n.badge})))""")
    assert len(shown) == 1
    [note] = shown
    assert (note["title"], note["tag"], note["url"]) == \
        ("PC Shah replied", "conversation-7", f"{base_url}/messages/7")
    assert note["icon"].endswith("/static/img/icon-192.png") and note["badge"].endswith("badge-96.png")

    sw = context.service_workers[0]
    sw.evaluate("""async () => {
        const [n] = await self.registration.getNotifications({tag: 'conversation-7'});
        self.dispatchEvent(new NotificationEvent('notificationclick', {notification: n}));
    }""")
    page.wait_for_function("() => wardlinePWA.messages.some(m => m.type === 'notificationclick')")
    click = page.evaluate("wardlinePWA.messages.find(m => m.type === 'notificationclick')")
    assert click["url"] == f"{base_url}/messages/7"
    # Headless Chromium refuses focus()/openWindow() without a real click: the handler tried.
    page.wait_for_function("() => wardlinePWA.messages.some(m => m.type === 'notificationclick-refused')")


def test_a_push_without_data_still_shows_a_notification(page, context, base_url):
    context.grant_permissions(["notifications"], origin=base_url)
    page.goto("/")
    wait_sw_activated(page)
    context.service_workers[0].evaluate("self.dispatchEvent(new PushEvent('push', {}))")
    page.wait_for_function("() => wardlinePWA.messages.some(m => m.type === 'push')")
    titles = page.evaluate("navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.map(n => n.title))")
    assert titles == ["Wardline"]


def test_full_loop_subscribe_notify_deliver_decrypt_show(
        page, context, base_url, make_resident, sign_in, push_service):
    from webapp.delivery.services import Event, notify
    from webapp.delivery.subscriptions import vapid_public_key
    from webapp.delivery.worker import deliver_due
    resident = sign_in(make_resident())
    agent = push_service.agent()
    stub_push_manager(context, agent.subscription)
    context.grant_permissions(["notifications"], origin=base_url)
    page.goto("/settings")
    wait_sw_activated(page)
    page.get_by_role("button", name="Turn on notifications on this device").click()
    expect(page.locator("[data-push-status]")).to_have_text("Notifications are on for this device.")
    assert page.evaluate("window.__pushSubscribeOptions") == 65  # the VAPID public key's bytes
    [saved] = subscriptions(resident)
    assert saved.endpoint == agent.endpoint and saved.p256dh == agent.subscription["keys"]["p256dh"]

    notify(resident, Event(kind="reply", source_type="message", source_id=991,
                           title="Your ward team replied", body="The gate is locked at 9pm.",
                           url="/messages/3", tag="conversation-3"))
    db.session.commit()
    deliver_due()
    push_service.wait_for(1)
    [message] = push_service.messages(expected_key=vapid_public_key())
    assert message["claims"]["sub"].startswith(("mailto:", "https:"))
    payload = message["payload"]
    assert payload["title"] == "Your ward team replied" and payload["tag"] == "conversation-3"

    cdp = context.new_cdp_session(page)
    cdp.send("ServiceWorker.deliverPushMessage", {
        "origin": base_url, "registrationId": sw_registration_id(page, cdp, f"{base_url}/"),
        "data": json.dumps(payload)})
    page.wait_for_function("() => wardlinePWA.messages.some(m => m.type === 'push')")
    shown = page.evaluate("navigator.serviceWorker.ready.then(r => r.getNotifications())"
                          ".then(ns => ns.map(n => [n.title, n.tag, n.data.url]))")
    assert shown == [["Your ward team replied", "conversation-3", f"{base_url}/messages/3"]]

    # Settings lists the device, with a remove form that works without JavaScript.
    page.reload()
    devices = page.locator("#devices .device")
    expect(devices).to_have_count(1)
    expect(devices).to_contain_text("Chrome")
    devices.get_by_role("button", name=re.compile("^Remove")).click()
    expect(page.locator("#devices .device")).to_have_count(0)
    assert subscriptions(resident) == []


def test_each_app_open_repairs_a_subscription_the_server_lost(
        page, context, base_url, make_resident, sign_in, push_service):
    resident = sign_in(make_resident())
    agent = push_service.agent()
    stub_push_manager(context, agent.subscription)
    context.grant_permissions(["notifications"], origin=base_url)
    page.goto("/settings")
    wait_sw_activated(page)
    page.get_by_role("button", name="Turn on notifications on this device").click()
    expect(page.locator("[data-push-status]")).to_have_text("Notifications are on for this device.")
    from webapp.delivery.subscriptions import remove_subscription
    db.session.rollback()  # a fresh snapshot that sees the subscription the page saved
    assert remove_subscription(resident, agent.endpoint)
    db.session.commit()
    assert subscriptions(resident) == []
    page.goto(f"/wards/{WARD}")
    assert page.evaluate("wardlinePWA.repaired") == "repaired"
    assert [s.endpoint for s in subscriptions(resident)] == [agent.endpoint]
    page.reload()
    assert page.evaluate("wardlinePWA.repaired") == "ok"


def test_a_device_removed_in_settings_turns_off_instead_of_repairing(
        page, context, base_url, make_resident, sign_in, push_service, client, login):
    resident = sign_in(make_resident())
    agent = push_service.agent()
    stub_push_manager(context, agent.subscription)
    context.grant_permissions(["notifications"], origin=base_url)
    page.goto("/settings")
    wait_sw_activated(page)
    page.get_by_role("button", name="Turn on notifications on this device").click()
    expect(page.locator("[data-push-status]")).to_have_text("Notifications are on for this device.")
    # The resident removes this phone from their laptop's Settings page.
    [device] = subscriptions(resident)
    login(client, resident)
    assert client.post(f"/push/devices/{device.id}/remove").status_code == 303
    page.reload()
    assert page.evaluate("wardlinePWA.repaired") == "removed"
    expect(page.locator("[data-push-status]")).to_have_text(re.compile("^Notifications are off"))
    assert subscriptions(resident) == []
    page.reload()
    assert page.evaluate("wardlinePWA.repaired") == "none"
    assert subscriptions(resident) == []


def test_pushsubscriptionchange_resubscribes_and_tells_the_server(
        page, context, base_url, make_resident, sign_in, push_service):
    """The push service replaced the subscription: the worker sends the new one (with the
    session's CSRF token, kept for it in IndexedDB) and the server drops the old one."""
    from webapp.delivery.subscriptions import save_subscription
    resident = sign_in(make_resident())
    old, new = push_service.agent(), push_service.agent()
    save_subscription(resident, old.subscription)
    db.session.commit()
    page.goto(f"/wards/{WARD}")
    wait_sw_activated(page)
    page.wait_for_function("() => WardlineOutbox.csrfToken().then(Boolean)")
    context.service_workers[0].evaluate("""([oldSub, newSub]) => {
        const event = new ExtendableEvent('pushsubscriptionchange');
        Object.defineProperty(event, 'oldSubscription', {value: {endpoint: oldSub.endpoint}});
        Object.defineProperty(event, 'newSubscription', {value: {endpoint: newSub.endpoint, toJSON: () => newSub}});
        self.dispatchEvent(event);
    }""", [old.subscription, new.subscription])
    page.wait_for_function("() => wardlinePWA.messages.some(m => m.type === 'pushsubscriptionchange')")
    assert [s.endpoint for s in subscriptions(resident)] == [new.endpoint]


def test_survey_last_step_turns_on_notifications_after_a_real_sign_up(
        page, context, base_url, mail, push_service):
    from webapp.accounts.models import User
    from webapp.accounts.services import set_wards
    agent = push_service.agent()
    stub_push_manager(context, agent.subscription)
    context.grant_permissions(["notifications"], origin=base_url)
    sign_up_by_email_link(page, mail, base_url, "sam.pwa@example.org")
    db.session.rollback()
    user = db.session.scalar(select(User).where(User.email == "sam.pwa@example.org"))
    set_wards(user, WARD)
    user.survey_step = 2
    db.session.commit()
    page.goto("/survey?step=2")
    # Step 2 -> step 3 by htmx: the control arrives in a swapped fragment and still works.
    page.get_by_role("button", name="Continue").click()
    button = page.get_by_role("button", name="Turn on notifications on this device")
    expect(button).to_be_visible()
    button.click()
    expect(page.locator("[data-push-status]")).to_have_text("Notifications are on for this device.")
    assert [s.endpoint for s in subscriptions(user)] == [agent.endpoint]


@pytest.mark.parametrize("setup, expected", [
    ("denied", "Notifications are blocked for Wardline in this browser"),
    ("unsupported", "This browser can't show notifications from Wardline"),
    ("ios", "On iPhone and iPad, notifications work only in the installed app"),
])
def test_honest_ui_where_push_is_impossible(browser, base_url, make_resident, app, setup, expected):
    options = {"base_url": base_url}
    if setup == "ios":
        options["user_agent"] = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
                                 "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
    ctx = browser.new_context(**options)
    try:
        if setup in ("unsupported", "ios"):
            ctx.add_init_script("delete window.PushManager;")
        if setup == "denied":  # as after the resident chose "Block" in the browser's prompt
            ctx.add_init_script("""Object.defineProperty(Notification, 'permission', {get: () => 'denied'});
                Notification.requestPermission = async () => 'denied';""")
        resident = make_resident()
        value = app.session_interface.get_signing_serializer(app).dumps(
            {"_user_id": resident.get_id(), "_fresh": True})
        ctx.add_cookies([{"name": "session", "value": value, "url": base_url}])
        page = ctx.new_page()
        page.goto("/settings")
        if setup == "denied":  # headless Chromium denies notifications unless granted
            assert page.evaluate("Notification.permission") == "denied"
        status = page.locator("[data-push-status]")
        expect(status).to_contain_text(expected)
        expect(page.get_by_role("button", name="Turn on notifications on this device")).to_be_hidden()
    finally:
        ctx.close()


# --------------------------------------------------------------------------- install
def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_manifest_parses_and_its_images_have_the_declared_sizes(page):
    page.goto("/")
    href = page.locator("link[rel=manifest]").get_attribute("href")
    response = page.request.get(href)
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(response.text())
    assert manifest["display"] == "standalone" and manifest["scope"] == "/"
    assert manifest["id"] == "/" and manifest["start_url"].startswith("/")
    assert manifest["name"] and manifest["short_name"] == "Wardline" and manifest["description"]
    assert manifest["theme_color"] and manifest["background_color"]
    assert [s["name"] for s in manifest["shortcuts"]] == ["My ward", "Messages", "Meetings"]
    assert {i["purpose"] for i in manifest["icons"]} == {"any", "maskable"}
    sizes = set()
    for image in manifest["icons"] + manifest["screenshots"]:
        data = page.request.get(image["src"]).body()
        width, height = png_size(data)
        assert image["sizes"] == f"{width}x{height}", image["src"]
        sizes.add(width)
    assert {192, 512} <= sizes
    assert {s["form_factor"] for s in manifest["screenshots"]} == {"narrow", "wide"}
    assert page.locator("link[rel=apple-touch-icon]").count() == 1


def test_chromium_reports_the_app_installable(browser_type, browser_type_launch_args, base_url, tmp_path):
    """``Page.getInstallabilityErrors`` needs a persistent profile (not incognito)."""
    ctx = browser_type.launch_persistent_context(str(tmp_path / "profile"), **browser_type_launch_args)
    try:
        page = ctx.new_page()
        page.goto(base_url + "/")
        wait_sw_activated(page)
        cdp = ctx.new_cdp_session(page)
        assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["url"] == f"{base_url}/manifest.webmanifest" and manifest["errors"] == []
    finally:
        ctx.close()


# --------------------------------------------------------------------------- accessibility


@pytest.mark.parametrize("name", ["landing", "sign-up", "survey", "ward home", "conversation",
                                  "settings", "officer inbox", "offline"])
def test_no_serious_accessibility_violations(browser, base_url, app, make_resident, make_staff, name):
    user, path = None, {"landing": "/", "sign-up": "/signup", "offline": "/offline"}.get(name)
    if name == "survey":
        user, path = make_resident(completed=False), "/survey"
    elif name == "ward home":
        user, path = make_resident(), f"/wards/{WARD}"
    elif name == "conversation":
        user = make_resident()
        path = f"/messages/{start_conversation(user).id}"
    elif name == "settings":
        user, path = make_resident(), "/settings"
    elif name == "officer inbox":
        user, path = make_staff("officer", wards=[WARD]), "/officer/inbox"
    assert axe_on(browser, base_url, app, path, user) == []
