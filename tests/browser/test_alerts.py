"""Alerts in headless Chromium: the live audience preview (htmx) while composing, sending,
the one-tap "Was this useful?", and accessibility (axe) of the compose and alert pages."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import axe_on
from webapp.extensions import db

pytestmark = pytest.mark.browser

WARD = "E05013806"




def test_live_preview_then_send(page, browser, base_url, app, sign_in, make_staff,
                                make_resident):
    from webapp.alerts.models import Alert
    from webapp.delivery.models import Delivery
    for freq in ("immediate", "immediate", "digest"):
        make_resident(WARD, categories=("appeals",), email_frequency=freq)
    make_resident(WARD, categories=("events",))
    officer = sign_in(make_staff("officer", wards=[WARD]))
    errors = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto("/officer/alerts/new")
    preview = page.locator("#audience-preview")
    expect(preview).to_contain_text("Choose")
    page.get_by_label("Title").fill("Witness appeal: Jermyn Street")
    page.get_by_label("Message", exact=True).fill("Did you see a collision on **Tuesday**?")
    page.get_by_label("Incident updates and appeals for information").check()
    page.get_by_label("St James's (Westminster)").check()
    # htmx swapped in the counts, no page load.
    expect(preview).to_contain_text("Reaches 3 residents:")
    expect(preview).to_contain_text("2 by email now and 1 in their daily digest")
    page.get_by_label("Urgent: send at once").check()
    expect(preview).to_contain_text("3 by email now and 0 in their daily digest")
    page.get_by_label("Urgent: send at once").uncheck()
    page.get_by_role("button", name="Review before sending").click()
    expect(page.locator("h1")).to_have_text("Check the alert before it goes")
    page.get_by_role("button", name="Send now").click()
    expect(page.locator("h1")).to_have_text("Witness appeal: Jermyn Street")
    db.session.rollback()  # a fresh snapshot: the live server committed
    alert = db.session.scalar(select(Alert))
    assert alert.state == "sent" and not alert.urgent
    assert len(db.session.scalars(select(Delivery)).all()) == 3
    assert not errors
    assert axe_on(browser, base_url, app, "/officer/alerts/new", officer) == []
    assert axe_on(browser, base_url, app, f"/officer/alerts/{alert.id}", officer) == []


def test_useful_in_one_tap(page, browser, base_url, app, sign_in, make_staff, make_resident):
    from webapp.alerts.models import AlertAnswer
    from webapp.alerts.services import AlertInput, create_alert, resolve_target
    from webapp.wards.services import get_ward
    officer = make_staff("officer", wards=[WARD])
    alert = create_alert(officer, AlertInput(
        title="Bike marking on Saturday", body="Bring your bike.", category="events",
        channels=["email"], target=resolve_target(officer, "wards", [get_ward(WARD).id])))
    db.session.commit()
    resident = sign_in(make_resident(WARD))
    page.goto(f"/wards/{WARD}")
    page.get_by_role("link", name="Bike marking on Saturday").click()
    page.get_by_role("button", name="Yes").click()
    expect(page.locator("#useful")).to_contain_text("you said yes")
    page.get_by_role("button", name="No").click()
    expect(page.locator("#useful")).to_contain_text("you said no")
    db.session.rollback()
    [answer] = db.session.scalars(select(AlertAnswer)).all()
    assert answer.useful is False
    assert axe_on(browser, base_url, app, f"/alerts/{alert.id}", resident) == []
