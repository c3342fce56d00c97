"""What a resident sees when changing their email address in Settings, and on the
unsubscribe link's page (stop one kind of update, email less often), at 390 px."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from webapp.extensions import db

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.mark.parametrize("js", [True, False], ids=["js-on", "js-off"])
def test_change_email_address_in_settings(browser, base_url, app, mail, make_resident, js):
    from tests.browser.conftest import session_cookie
    user = make_resident(email_address=f"before.{int(js)}@example.org", name="Omar")
    ctx = browser.new_context(base_url=base_url, viewport=PHONE, java_script_enabled=js)
    try:
        ctx.add_cookies([session_cookie(app, user, base_url)])
        page = ctx.new_page()
        page.goto("/settings")
        section = page.locator("#email-address")
        section.get_by_label("New email address").fill("not an address")
        section.get_by_role("button", name="Change email address").click()
        expect(page.locator("#email-address")).to_contain_text("Enter an email address like")
        page.locator("#email-address").get_by_label("New email address").fill(f"after.{int(js)}@example.org")
        page.locator("#email-address").get_by_role("button", name="Change email address").click()
        expect(page.locator("#email-address")).to_contain_text(f"We've sent a link to after.{int(js)}@example.org")
        link = re.search(r"http://wardline\.test(/settings/email/confirm/\S+)",
                         mail.wait_for(1)[0].get_body(("plain",)).get_content()).group(1)
        page.goto(link)
        page.get_by_role("button", name="Confirm the change").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Email address changed")
        notice = mail.wait_for(2)[1]
        assert notice["To"] == f"before.{int(js)}@example.org"
    finally:
        ctx.close()
    db.session.rollback()
    assert db.session.get(type(user), user.id).email == f"after.{int(js)}@example.org"


def test_unsubscribe_page_offers_finer_choices(browser, base_url, app, mail, make_resident):
    from webapp.delivery import Event, notify
    from webapp.delivery.worker import deliver_due
    user = make_resident(name="Lena")
    notify(user, Event(kind="alert", source_type="alert", source_id=7, title="Bike marking",
                       body="Saturday", url="/alerts/7", category="events"))
    db.session.commit()
    deliver_due()
    path = re.search(r"<http://wardline\.test(/unsubscribe/[^>]+)>",
                     mail.wait_for(1)[0]["List-Unsubscribe"]).group(1)
    ctx = browser.new_context(base_url=base_url, viewport=PHONE)
    try:
        page = ctx.new_page()
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_have_text("Fewer emails from Wardline")
        page.get_by_role("button", name="Stop “Local events and meetings”").click()
        expect(page.get_by_role("status")).to_contain_text("no more of that kind of update")
        page.get_by_label("One email a day with that day's alerts, ward news and meeting invitations", exact=False).check()
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_contain_text("one email a day")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        # Stop the ward where she lives: it stays her ward, its updates stop.
        page.get_by_label("St James's, Westminster").check()
        page.get_by_role("button", name="Stop this ward").click()
        expect(page.get_by_role("status")).to_contain_text("no more alerts or posts about St James's")
        # Settings says so, and turns them on again.
        from tests.browser.conftest import session_cookie
        ctx.add_cookies([session_cookie(app, user, base_url)])
        page.goto("/settings")
        wards = page.locator("#chosen-wards")
        expect(wards).to_contain_text("Updates about St James's are stopped")
        wards.get_by_role("button", name="Turn them on for St James's").click()
        expect(wards).not_to_contain_text("are stopped")
    finally:
        ctx.close()
    db.session.rollback()
    fresh = db.session.get(type(user), user.id)
    assert fresh.category_codes == {"prevention", "appeals", "outcomes"}
    assert fresh.email_frequency == "digest"
    assert fresh.wards[0].is_home and fresh.wards[0].muted is False
