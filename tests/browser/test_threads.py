"""Conversations in headless Chromium under the real CSP: sending appends without a
reload, an officer's reply arrives by polling, the TOTP QR code renders, and the pages
pass axe's serious/critical checks."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import run_axe, session_cookie
from webapp.extensions import db
from webapp.platform.db import write_transaction

pytestmark = pytest.mark.browser
ST_JAMES = "E05013806"
POLLS = re.compile(r"/messages/\d+/poll\b")


def _csp_errors(page):
    errors = []
    page.on("console", lambda m: errors.append(m.text)
            if "Content Security Policy" in m.text or m.type == "error" else None)
    return errors


@pytest.fixture
def fast_polling(app):
    before, app.config["THREADS_POLL_SECONDS"] = app.config["THREADS_POLL_SECONDS"], 1
    yield
    app.config["THREADS_POLL_SECONDS"] = before


def test_send_appends_without_reload_and_reply_arrives_by_polling(
        page, app, sign_in, make_resident, make_staff, fast_polling):
    from webapp.threads import services
    from webapp.threads.models import Conversation
    sign_in(make_resident(ST_JAMES, name="Ruth Resident"))
    officer = make_staff("officer", wards=[ST_JAMES], name="Jane Smith", shoulder_number="1234")
    errors = _csp_errors(page)
    page.goto("/messages")
    page.get_by_label("Subject").fill("Scooters on the pavement")
    page.get_by_label("Your message").fill("They ride very fast past the school.")
    page.get_by_role("button", name="Send to my ward team").click()
    expect(page.locator("#messages")).to_contain_text("They ride very fast past the school.")
    conv_id = int(page.url.rsplit("/", 1)[1])
    page.evaluate("window.__noReload = true")
    page.get_by_label("Your message").fill("It happens every morning.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#messages")).to_contain_text("It happens every morning.")
    expect(page.get_by_label("Your message")).to_have_value("")
    assert page.evaluate("window.__noReload") is True
    with write_transaction():  # the page may still be writing: take the lock first
        conv = db.session.get(Conversation, conv_id)
        services.add_message(conv, officer, "We will be outside the school on Monday.")
    expect(page.locator("#messages")).to_contain_text("We will be outside the school on Monday.",
                                                      timeout=8000)
    expect(page.locator("#messages")).to_contain_text("PC Jane Smith (1234)")
    assert page.evaluate("window.__noReload") is True
    # Each message appears once (send and poll do not duplicate).
    assert page.locator("#messages li.message").count() == 3
    assert errors == []



@pytest.mark.parametrize("who", ["resident", "officer"])
def test_send_while_a_poll_is_in_flight_is_not_lost(page, app, sign_in, make_resident,
                                                    make_staff, fast_polling, who):
    """Pressing Send while the page's poll for new messages is still waiting for its
    answer sends the message: the send cancels the poll (hx-sync "abort"), it is not the
    send that is dropped (a CI run lost an officer's reply that way under load)."""
    from webapp.threads import services
    from webapp.threads.models import Message
    resident = make_resident(ST_JAMES, name="Ruth Resident")
    officer = make_staff("officer", wards=[ST_JAMES], name="Jane Smith")
    conv = services.start_conversation(resident, resident.home_ward, "Scooters", "Too fast.")
    db.session.commit()
    sign_in(resident if who == "resident" else officer)
    held = []  # polls held unanswered: in flight for as long as the test wants

    def hold(route):
        held.append(route)
    page.context.route(POLLS, hold)
    page.goto(f"/messages/{conv.id}" if who == "resident" else f"/officer/messages/{conv.id}")
    page.wait_for_function("document.querySelector('#poller') !== null")
    deadline = 50
    while not held and deadline:  # the first poll (every second) is now in flight
        page.wait_for_timeout(100)
        deadline -= 1
    assert held, "no poll was made"
    page.get_by_label("Your message").fill("Sent while a poll waited.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#messages")).to_contain_text("Sent while a poll waited.")
    page.context.unroute(POLLS, hold)
    for route in held:
        try:
            route.abort()
        except Exception:  # the page already cancelled it
            pass
    db.session.rollback()
    assert db.session.query(Message).filter_by(conversation_id=conv.id,
                                                body="Sent while a poll waited.").count() == 1

def test_totp_enrolment_qr_renders_under_csp(page, app, make_staff):
    from webapp.accounts.passwords import hash_password
    officer = make_staff("officer", wards=[ST_JAMES], email_address="qr@police.example")
    officer.password_hash = hash_password("a long enough password")
    db.session.commit()
    errors = _csp_errors(page)
    page.goto("/officer/login")
    page.get_by_label("Work email").fill("qr@police.example")
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_role("button", name="Continue").click()
    qr = page.locator("figure.qr svg")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box["width"] > 100 and box["height"] > 100
    assert errors == []


def test_threads_pages_pass_axe(browser, base_url, app, make_resident, make_staff):
    from webapp.threads import services
    resident = make_resident(ST_JAMES)
    officer = make_staff("officer", wards=[ST_JAMES])
    conv = services.start_conversation(resident, resident.home_ward, "Noise", "Loud music at night")
    services.add_message(conv, officer, "Thanks, we will visit.")
    db.session.commit()
    for user, paths in ((resident, ["/messages", f"/messages/{conv.id}", f"/wards/{ST_JAMES}"]),
                        (officer, ["/officer/inbox", f"/officer/messages/{conv.id}",
                                   f"/officer/messages/{conv.id}/publish", "/officer/posts/new"])):
        for path in paths:
            ctx = browser.new_context(base_url=base_url, bypass_csp=True)
            try:
                ctx.add_cookies([session_cookie(app, user, base_url)])
                page = ctx.new_page()
                assert page.goto(path).status == 200
                assert run_axe(page) == [], path
            finally:
                ctx.close()


def test_ward_posts_show_more_without_reload(page, app, make_staff):
    from datetime import timedelta

    from webapp.platform.timeutil import utcnow
    from webapp.posts import create_ward_post
    from webapp.wards.services import get_ward
    officer = make_staff("officer", wards=[ST_JAMES])
    base = utcnow() - timedelta(days=10)
    for i in range(7):
        create_ward_post(get_ward(ST_JAMES), officer, f"Update number {i}", "Body",
                         now=base + timedelta(days=i))
    db.session.commit()
    errors = _csp_errors(page)
    page.goto(f"/wards/{ST_JAMES}")
    posts = page.locator(".ward-post-list .ward-post")
    expect(posts).to_have_count(5)
    page.evaluate("window.__noReload = true")
    page.get_by_role("link", name="Show more posts").click()
    expect(posts).to_have_count(7)
    expect(posts.nth(6)).to_contain_text("Update number 0")
    assert page.evaluate("window.__noReload") is True
    assert page.get_by_role("link", name="Show more posts").count() == 0
    assert errors == []
