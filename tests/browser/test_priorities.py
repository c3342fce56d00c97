"""Ward priorities in headless Chromium: an officer sets a priority and adds an action
(htmx, no page load); a resident who named the topic gets "here is what we did" by push
(the loopback push service decrypts it; the service worker shows it)."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import axe_on, sw_registration_id, turn_on_push
from webapp.extensions import db

pytestmark = pytest.mark.browser

WARD = "E05013806"


def test_officer_sets_a_priority_and_the_resident_is_told_by_push(
        page, context, browser, base_url, app, sign_in, make_resident, make_staff, push_service):
    from webapp.delivery.subscriptions import vapid_public_key
    from webapp.delivery.worker import deliver_due
    from webapp.priorities.models import Priority
    from webapp.platform.timeutil import to_london, utcnow

    # The resident named e-bikes in the survey and turns notifications on on this phone.
    sign_in(make_resident(WARD, concerns=("ebikes",)))
    make_resident(WARD, concerns=("burglary",))  # raised something else: not told
    turn_on_push(page, context, base_url, push_service)

    # The officer, on their own browser, sets the priority.
    officer_ctx = browser.new_context(base_url=base_url)
    officer = sign_in(make_staff("officer", wards=[WARD]), ctx=officer_ctx)
    desk = officer_ctx.new_page()
    desk.goto(f"/officer/wards/{WARD}/priorities")
    desk.get_by_label("Priority", exact=True).fill("Dangerous e-bikes on Piccadilly")
    desk.get_by_label("Dangerous e-bikes and e-scooters").check()
    desk.get_by_label("What the team commits to do").fill("Weekly operations to seize illegal e-bikes.")
    desk.get_by_label("Review date").fill((to_london(utcnow()).date() + timedelta(days=60)).isoformat())
    desk.get_by_role("button", name="Publish priority").click()
    card = desk.locator("article.priority")
    expect(card).to_contain_text("Dangerous e-bikes on Piccadilly")

    # An action in a few seconds: htmx swaps the card, the page does not reload.
    desk.evaluate("window.__sameDocument = true")
    card.get_by_label("What was done").fill("12 e-bikes seized on Piccadilly")
    card.get_by_role("button", name="Add action").click()
    expect(desk.locator("article.priority")).to_contain_text("Action added")
    expect(desk.locator("article.priority")).to_contain_text("12 e-bikes seized on Piccadilly")
    assert desk.evaluate("window.__sameDocument") is True
    assert axe_on(browser, base_url, app, f"/officer/wards/{WARD}/priorities", officer) == []
    officer_ctx.close()

    # The worker delivers: two pushes (set, then acted on), each one sentence with a link.
    db.session.rollback()
    priority = db.session.scalar(select(Priority))
    deliver_due()
    push_service.wait_for(2)
    messages = push_service.messages(expected_key=vapid_public_key())
    payloads = [m["payload"] for m in messages]
    assert {p["title"] for p in payloads} == \
        {"You told us about dangerous e-bikes and e-scooters. Here is what we did."}
    assert any(p["body"].endswith("12 e-bikes seized on Piccadilly") for p in payloads)
    assert all(p["url"] == f"/wards/{WARD}/priorities/{priority.id}" for p in payloads)

    # The service worker shows it; the notification opens the priority.
    latest = next(p for p in payloads if p["body"].endswith("12 e-bikes seized on Piccadilly"))
    cdp = context.new_cdp_session(page)
    cdp.send("ServiceWorker.deliverPushMessage", {
        "origin": base_url, "registrationId": sw_registration_id(page, cdp, f"{base_url}/"),
        "data": json.dumps(latest)})
    page.wait_for_function("() => wardlinePWA.messages.some(m => m.type === 'push')")
    shown = page.evaluate("navigator.serviceWorker.ready.then(r => r.getNotifications())"
                          ".then(ns => ns.map(n => [n.title, n.data.url]))")
    assert shown == [["You told us about dangerous e-bikes and e-scooters. Here is what we did.",
                      f"{base_url}/wards/{WARD}/priorities/{priority.id}"]]
    page.goto(f"/wards/{WARD}/priorities/{priority.id}")
    expect(page.locator("main")).to_contain_text("12 e-bikes seized on Piccadilly")
