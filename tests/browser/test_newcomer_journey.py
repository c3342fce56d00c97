"""A Londoner who does not know their ward, on a 390 px phone, with JavaScript on and off:
from a postcode on the start page to a confirmed place at their ward's meeting, its
confirmation email, "Your meetings" and the check-in code. The ONS Postcode Directory
fixture is loaded into the test database first, as `flask postcodes load` would."""
from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.accounts.helpers import signin_path
from webapp.extensions import db

pytestmark = pytest.mark.browser

SAMPLE = Path(__file__).resolve().parents[1] / "wards" / "data" / "onspd_sample.csv"
HERNE_HILL = "E05014104"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def herne_hill_meeting(app, make_staff):
    from webapp.meetings.services import MeetingDetails, create_meeting
    from webapp.platform.timeutil import utcnow
    from webapp.wards.postcodes import load_postcodes
    from webapp.wards.services import get_ward
    load_postcodes(SAMPLE)
    officer = make_staff("officer", wards=[HERNE_HILL], name="Pat Officer")
    start = (utcnow() + timedelta(days=5)).replace(second=0, microsecond=0)
    meeting = create_meeting(officer, MeetingDetails(
        title="Herne Hill ward panel", description="Meet your team.", venue_name="Carnegie Library",
        address="188 Herne Hill Road, London SE24 0AG", accessibility="Step-free entrance.",
        starts_at=start, ends_at=start + timedelta(hours=2), capacity=30,
        rsvp_closes_at=start - timedelta(hours=1), online_url=None), [get_ward(HERNE_HILL).id])
    db.session.commit()
    return meeting


def _fits(page):
    """Nothing scrolls sideways at 390 px."""
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], page.url


def _submit_search(page, js: bool, button: str):
    """With JavaScript the results come as you type (htmx); without, press the button."""
    if not js:
        page.get_by_role("button", name=button, exact=True).first.click()


@pytest.mark.parametrize("js", [True, False], ids=["js-on", "js-off"])
def test_newcomer_from_postcode_to_a_meeting_place(browser, base_url, app, mail, herne_hill_meeting, js):
    from webapp.delivery.worker import deliver_due
    from webapp.meetings import services
    meeting = herne_hill_meeting
    ctx = browser.new_context(base_url=base_url, viewport=PHONE, java_script_enabled=js,
                              is_mobile=True, has_touch=True)
    errors = []
    try:
        page = ctx.new_page()
        page.on("console", lambda m: errors.append(m.text)
                if "Content Security Policy" in m.text else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        # 1. The start page: "which ward do I live in?" by postcode.
        page.goto("/")
        page.get_by_label("Which ward do you live in? Find it by postcode").fill("se24 0pb")
        page.get_by_role("button", name="Find my ward").click()
        result = page.locator("#ward-results")
        expect(result).to_contain_text("SE24 0PB is in Brixton Windrush, Lambeth")
        expect(result).to_contain_text("This postcode is on a ward boundary")
        _fits(page)
        # An outward code alone, a typo and a street name are answered plainly too. (Typed
        # once the page has loaded: htmx listens from then on; typing earlier, which a
        # loaded CI machine allowed, sent no search.)
        page.wait_for_load_state("load")
        search = page.get_by_label("Search by postcode, ward or borough name")
        search.fill("SE24")
        _submit_search(page, js, "Search")
        expect(result).to_contain_text("SE24 touches 3 wards")
        search.fill("SE24 0P")
        _submit_search(page, js, "Search")
        expect(result).to_contain_text("is not a full postcode")
        search.fill("Railton Road")
        _submit_search(page, js, "Search")
        expect(result).to_contain_text("try your postcode")
        search.fill("SE24 0PB")
        _submit_search(page, js, "Search")
        result.get_by_role("link", name=re.compile("Herne Hill & Loughborough Junction")).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Herne Hill & Loughborough Junction")
        _fits(page)

        # 2. Sign up from the ward page; a blank email box is a clear message, not a lockout.
        page.get_by_role("link", name=re.compile("Sign up for updates")).click()
        page.get_by_label("Your name, as your ward team will see it").fill("Nadia")
        page.get_by_role("button", name="Send me a sign-up link").click()
        expect(page.locator("#signup-form")).to_contain_text("Enter your email address")
        expect(page.get_by_label("Your name, as your ward team will see it")).to_have_value("Nadia")
        page.get_by_label("Email address").fill(f"nadia.{'js' if js else 'nojs'}@example.org")
        page.get_by_role("button", name="Send me a sign-up link").click()
        expect(page.get_by_role("heading", name="Check your email").first).to_be_visible()
        page.goto(signin_path(mail.wait_for(1)[-1]))
        page.get_by_role("button", name="Continue").click()

        # 3. The survey, starting from the postcode again.
        expect(page.get_by_role("heading", name="Step 1 of 3: Where you live")).to_be_visible()
        _fits(page)
        page.wait_for_load_state("load")
        page.get_by_label("Search by postcode, ward or borough name").fill("SE24 0PB")
        _submit_search(page, js, "Search")
        results = page.locator("#ward-results")
        expect(results).to_contain_text("on a ward boundary")
        results.get_by_role("button", name="I live here in Herne Hill & Loughborough Junction").click()
        expect(page.locator("#chosen-wards")).to_contain_text("Herne Hill & Loughborough Junction")
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", name="Step 2 of 3: Which updates")).to_be_visible()
        expect(page.get_by_label("Local events and meetings")).to_be_checked()
        expect(page.get_by_label("Crime prevention advice")).to_be_checked()
        page.get_by_role("button", name="Continue", exact=True).click()
        expect(page.get_by_role("heading", name="Step 3 of 3: What matters most")).to_be_visible()
        page.get_by_label("Burglary", exact=True).check()
        page.get_by_role("button", name="Finish").click()
        page.wait_for_url(f"**/wards/{HERNE_HILL}")
        _fits(page)

        # 4. The ward's meeting: one tap, then the confirmation email and "Your meetings".
        page.get_by_role("link", name="Herne Hill ward panel").first.click()
        page.get_by_role("button", name="I'm going").click()
        expect(page.locator("#rsvp")).to_contain_text("You're going")
        expect(page.locator("#checkin")).to_be_visible()
        _fits(page)
        deliver_due()
        confirmation = next(m for m in mail.wait_for(2) if m["Subject"].startswith("You're going"))
        db.session.rollback()
        from webapp.accounts.models import User
        user = db.session.scalar(db.select(User).where(User.email == confirmation["To"]))
        code = services.checkin_code(meeting.id, user.id)
        assert code in confirmation.get_body(("plain",)).get_content()
        assert any(p.get_content_type() == "text/calendar" for p in confirmation.walk())
        page.goto("/meetings/mine")
        expect(page.get_by_role("heading", name="Your meetings")).to_be_visible()
        _fits(page)
        page.get_by_role("link", name=re.compile("Your check-in code")).click()
        expect(page.locator("#checkin")).to_contain_text(code)
        assert errors == []
    finally:
        ctx.close()
    db.session.rollback()
    assert user.home_ward.code == HERNE_HILL
    assert user.category_codes == {"prevention", "events", "appeals", "outcomes"}
