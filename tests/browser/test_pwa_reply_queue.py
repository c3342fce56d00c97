"""The reply queue in headless Chromium: a reply written offline waits in IndexedDB and is
sent exactly once (when back online, on the next page load, or by the worker's Background
Sync), and a queue kept under its old name (wardline-outbox) moves over.

Each test gets a fresh browser context (so a fresh service worker and empty caches); the
live server shares the test database, so tests create users with the factories and check
what the server stored.
"""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import wait_sw_activated
from tests.browser.pwa_support import message_count, start_conversation
from tests.conftest import wait_until

pytestmark = pytest.mark.browser


# --------------------------------------------------------------------------- reply queue
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
    queued = page.locator(".reply-queue-item")
    expect(queued).to_have_count(1)
    expect(queued.locator(".reply-queue-status")).to_have_text(re.compile("^Queued"))
    expect(queued.locator(".reply-queue-text")).to_have_text(text)
    key = page.evaluate("WardlineReplyQueue.all().then(items => items[0].key)")
    assert re.fullmatch(r"[0-9a-f-]{36}", key)
    page.wait_for_timeout(300)
    assert message_count(conversation.id, text) == 0

    context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")  # also what the browser fires
    expect(queued.locator(".reply-queue-status")).to_have_text("Sent.")
    assert wait_until(lambda: message_count(conversation.id, text) >= 1)
    assert message_count(conversation.id, text) == 1
    assert page.evaluate("WardlineReplyQueue.all().then(items => items.length)") == 0

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
    expect(page.locator(".reply-queue-item")).to_have_count(1)
    page.close()
    context.set_offline(False)
    fresh = context.new_page()
    fresh.goto(f"/messages/{conversation.id}")
    fresh.wait_for_function("() => WardlineReplyQueue.all().then(items => items.length === 0)")
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
    expect(page.locator(".reply-queue-item")).to_have_count(1)
    page.close()
    context.set_offline(False)
    worker = context.service_workers[0]
    worker.evaluate("""() => new Promise((resolve, reject) => {
        const event = new ExtendableEvent('sync');
        Object.defineProperty(event, 'tag', {value: 'wardline-reply-queue'});
        const wait = [];
        event.waitUntil = (p) => wait.push(p);
        self.dispatchEvent(event);
        Promise.all(wait).then(resolve, reject);
    })""")
    assert wait_until(lambda: message_count(conversation.id, "Sent by the service worker.") >= 1)
    assert worker.evaluate("WardlineReplyQueue.all().then(items => items.length)") == 0
    worker.evaluate("""() => { const e = new ExtendableEvent('sync');
        Object.defineProperty(e, 'tag', {value: 'wardline-reply-queue'}); self.dispatchEvent(e); }""")
    assert message_count(conversation.id, "Sent by the service worker.") == 1


def test_a_queue_kept_under_its_old_name_moves_over_and_is_sent_once(
        page, context, make_resident, sign_in):
    """Before the rename the queue's IndexedDB database was "wardline-outbox": a reply left
    there by the old scripts is moved into "wardline-reply-queue", sent once, and the old
    database is deleted."""
    resident = sign_in(make_resident())
    conversation = start_conversation(resident)
    page.goto(f"/messages/{conversation.id}")
    wait_sw_activated(page)
    text = "Queued by last week's app."
    # What the old outbox.js stored: idb-keyval's store "messages" in "wardline-outbox".
    page.evaluate("""text => {
        const form = document.getElementById('reply-form');
        const data = new FormData(form);
        const key = crypto.randomUUID();
        data.set('body', text);
        data.set('idempotency_key', key);
        const fields = [];
        data.forEach((value, name) => fields.push([name, value]));
        const item = {key, action: form.action, fields, csrf: data.get('csrf_token'), text,
                      page: location.pathname, createdAt: new Date().toISOString()};
        const old = idbKeyval.createStore('wardline-outbox', 'messages');
        return idbKeyval.set(key, item, old).then(() =>
            old('readonly', store => store.transaction.db.close()));
    }""", text)
    assert message_count(conversation.id, text) == 0
    # The service worker keeps its own connection to the queue: start from a fresh one.
    context.service_workers[0].evaluate("() => self.registration.unregister()")
    page.reload()
    assert wait_until(lambda: message_count(conversation.id, text) >= 1)
    page.wait_for_function("""() => indexedDB.databases().then(list =>
        !list.some(db => db.name === 'wardline-outbox'))""")
    page.wait_for_function("() => WardlineReplyQueue.all().then(items => items.length === 0)")
    page.reload()
    page.wait_for_function("() => window.wardlinePWA.ready")
    assert message_count(conversation.id, text) == 1


def test_a_queued_reply_the_guard_holds_back_says_why_and_points_to_999(
        page, context, make_resident, sign_in):
    """Offline, nothing checks the text; on replay the server's guard holds it back (it
    reads like an emergency). The queue says so and offers 999, not a bare "failed"."""
    resident = sign_in(make_resident())
    conversation = start_conversation(resident)
    page.goto(f"/messages/{conversation.id}")
    wait_sw_activated(page)
    text = "A man is being attacked outside the shop right now"
    context.set_offline(True)
    page.locator("#reply-form textarea").fill(text)
    page.locator("#reply-form button[type=submit]").click()
    queued = page.locator(".reply-queue-item")
    expect(queued.locator(".reply-queue-status")).to_have_text(re.compile("^Queued"))
    context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(queued.locator(".reply-queue-status")).to_contain_text("may describe an emergency")
    expect(queued.locator(".reply-queue-status")).to_contain_text("call 999")
    expect(queued.get_by_role("link", name="Call 999")).to_have_attribute("href", "tel:999")
    assert message_count(conversation.id, text) == 0  # held back, not sent
    assert page.evaluate("WardlineReplyQueue.all().then(items => items.length)") == 0
