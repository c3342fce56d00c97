"""Issue 12: a resident follows an incident on its page and receives its update by push
(the loopback push service decrypts it; the service worker shows it)."""
from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sw_registration_id, turn_on_push, wait_sw_activated
from webapp.extensions import db
from webapp.platform.db import write_transaction

pytestmark = pytest.mark.browser


def test_follow_an_incident_and_get_its_update_by_push(
        page, context, base_url, make_resident, make_staff, sign_in, push_service):
    from webapp.alerts.services import AlertInput, create_alert, resolve_target
    from webapp.delivery.subscriptions import subscriptions_for, vapid_public_key
    from webapp.delivery.worker import deliver_due
    from webapp.incidents import services as incidents

    officer = make_staff("officer", wards=["E05013806"])
    # The resident did not choose appeals, so the alert itself never reached them.
    resident = sign_in(make_resident("E05013806", categories=("events",), email_frequency="off"))
    alert = create_alert(officer, AlertInput(
        title="Appeal: witnesses to a robbery", body="Did you see anything?", category="appeals",
        channels=["email", "push"], target=resolve_target(officer, "wards", [resident.home_ward.id])))
    db.session.commit()

    agent = turn_on_push(page, context, base_url, push_service)
    db.session.rollback()
    assert [s.endpoint for s in subscriptions_for(resident)] == [agent.endpoint]

    page.goto(f"/alerts/{alert.id}")
    expect(page.locator("#follow")).to_contain_text("You are not told of this incident's updates.")
    page.get_by_role("button", name="Follow this").click()
    expect(page.get_by_role("button", name="Stop following")).to_be_visible()
    expect(page.locator("#follow")).to_contain_text("You are told of this incident's updates.")
    page.goto("/settings")
    expect(page.locator("#follows")).to_contain_text("Appeal: witnesses to a robbery")

    db.session.rollback()  # see what the live server committed
    with write_transaction():  # the page may still be writing: take the lock first
        upd = incidents.add_update(officer, alert, incidents.UpdateInput(
            body="A man has been charged."))
    deliver_due()
    push_service.wait_for(1)
    [message] = push_service.messages(expected_key=vapid_public_key())
    payload = message["payload"]
    assert payload["title"] == "Update: Appeal: witnesses to a robbery"
    assert payload["tag"] == f"alert-{alert.id}"

    page.goto(f"/alerts/{alert.id}")
    wait_sw_activated(page)
    cdp = context.new_cdp_session(page)
    cdp.send("ServiceWorker.deliverPushMessage", {
        "origin": base_url, "registrationId": sw_registration_id(page, cdp, f"{base_url}/"),
        "data": json.dumps(payload)})
    page.wait_for_function("() => wardlinePWA.messages.some(m => m.type === 'push')")
    shown = page.evaluate("navigator.serviceWorker.ready.then(r => r.getNotifications())"
                          ".then(ns => ns.map(n => [n.title, n.body, n.data.url]))")
    assert shown == [["Update: Appeal: witnesses to a robbery", "A man has been charged.",
                      f"{base_url}/alerts/{alert.id}#update-{upd.id}"]]
    # The page shows the update on the timeline.
    page.reload()
    expect(page.locator(f"#update-{upd.id}")).to_contain_text("A man has been charged.")
