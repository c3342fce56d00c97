"""Notifications on this device in headless Chromium: subscribing, showing a push and its
click, repairing and removing subscriptions, and honest words where push cannot work.

Each test gets a fresh browser context (so a fresh service worker and empty caches); the
live server shares the test database, so tests create users with the factories and check
what the server stored.
"""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import (sign_up_by_email_link, stub_push_manager, sw_registration_id,
                                    turn_on_push, wait_sw_activated)
from tests.browser.pwa_support import WARD, subscriptions
from webapp.extensions import db
from webapp.platform.db import write_transaction

pytestmark = pytest.mark.browser


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


def test_without_test_hooks_a_push_is_shown_and_nothing_is_told_to_the_page(
        app, page, context, base_url):
    """Production (PWA_TEST_HOOKS off): no wardlinePWA.messages and no test broadcast, while
    the worker still shows the notification."""
    app.config["PWA_TEST_HOOKS"] = False
    try:
        context.grant_permissions(["notifications"], origin=base_url)
        page.goto("/")
        wait_sw_activated(page)
        page.evaluate("""() => { window.told = [];
            navigator.serviceWorker.addEventListener('message', e => window.told.push(e.data)); }""")
        cdp = context.new_cdp_session(page)
        reg_id = sw_registration_id(page, cdp, f"{base_url}/")
        cdp.send("ServiceWorker.deliverPushMessage", {"origin": base_url, "registrationId": reg_id,
                                                       "data": json.dumps({"title": "Hello"})})
        page.wait_for_function("""() => navigator.serviceWorker.ready
            .then(r => r.getNotifications()).then(ns => ns.length === 1)""")
        page.wait_for_timeout(200)
        assert page.evaluate("window.wardlinePWA.messages === undefined")
        assert page.evaluate("window.told") == []
    finally:
        app.config["PWA_TEST_HOOKS"] = True


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
    agent = turn_on_push(page, context, base_url, push_service)
    assert page.evaluate("window.__pushSubscribeOptions") == 65  # the VAPID public key's bytes
    [saved] = subscriptions(resident)
    assert saved.endpoint == agent.endpoint and saved.p256dh == agent.subscription["keys"]["p256dh"]

    with write_transaction():  # the page may still be writing: take the lock first
        notify(resident, Event(kind="reply", source_type="message", source_id=991,
                               title="Your ward team replied", body="The gate is locked at 9pm.",
                               url="/messages/3", tag="conversation-3"))
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
    agent = turn_on_push(page, context, base_url, push_service)
    from webapp.delivery.subscriptions import remove_subscription
    db.session.rollback()  # a fresh snapshot that sees the subscription the page saved
    with write_transaction():
        assert remove_subscription(resident, agent.endpoint)
    assert subscriptions(resident) == []
    page.goto(f"/wards/{WARD}")
    assert page.evaluate("wardlinePWA.repaired") == "repaired"
    assert [s.endpoint for s in subscriptions(resident)] == [agent.endpoint]
    page.reload()
    assert page.evaluate("wardlinePWA.repaired") == "ok"


def test_a_device_removed_in_settings_turns_off_instead_of_repairing(
        page, context, base_url, make_resident, sign_in, push_service, client, login):
    resident = sign_in(make_resident())
    turn_on_push(page, context, base_url, push_service)
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
    page.wait_for_function("() => WardlineReplyQueue.csrfToken().then(Boolean)")
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
    with write_transaction():
        user = db.session.scalar(select(User).where(User.email == "sam.pwa@example.org"))
        set_wards(user, WARD)
        user.survey_step = 2
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
