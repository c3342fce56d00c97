"""Issue 13 (points 9, 10, 13, 19) at 390 px in Chromium under the real CSP: tap targets at
least 44 px, no sideways scroll on an officer's meeting page, readable chart labels, a
one-row signed-in header, focus on the error summary with an "Error:" title, and no console
CSP errors after htmx swaps."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}

TAP_TARGETS = """() => [...document.querySelectorAll(
    'button, .button, input[type=submit], summary, .chips a, .site-nav a, select, input[type=text], input[type=email]')]
  .filter(el => el.offsetParent !== null && !el.closest('.visually-hidden, .skip-link'))
  .map(el => ({what: el.outerHTML.slice(0, 80), h: el.getBoundingClientRect().height}))
  .filter(t => t.h < 44)"""


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": PHONE}


@pytest.fixture
def meeting(make_staff, make_resident):
    from datetime import timedelta

    from webapp.meetings import services
    from webapp.meetings.services import MeetingDetails, create_meeting
    from webapp.platform.timeutil import utcnow
    from webapp.wards.services import get_ward
    officer = make_staff("officer", wards=["E05013806"], name="Jo Inspector")
    start = (utcnow() + timedelta(days=4)).replace(second=0, microsecond=0)
    details = MeetingDetails(
        title="St James's ward panel: community crime-fighting and road safety",
        description="Meet your team.", venue_name="St James's Church Piccadilly, the hall",
        address="197 Piccadilly, St James's, London W1J 9LL", accessibility="Step-free.",
        starts_at=start, ends_at=start + timedelta(hours=2), capacity=40,
        rsvp_closes_at=start - timedelta(hours=1), online_url=None)
    meeting = create_meeting(officer, details, [get_ward("E05013806").id])
    for i, topic in enumerate(["phone_theft", "ebikes", "drugs"]):
        resident = make_resident(name=f"Resident {i}")
        services.rsvp(meeting.id, resident.id)
        services.add_concern(meeting.id, resident.id, topic, "Something near the station")
    return meeting


def _csp_errors(page):
    errors = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    return errors


def test_officer_meeting_page_fits_a_phone_and_the_chart_is_readable(page, sign_in, meeting):
    sign_in(meeting.created_by)
    page.goto(f"/officer/meetings/{meeting.id}")
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1] == 390, widths
    sizes = page.evaluate("""() => {
      const svg = document.querySelector('.concern-chart svg');
      const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
      return [...svg.querySelectorAll('text')].map(t => parseFloat(getComputedStyle(t).fontSize) * scale);
    }""")
    assert len(sizes) == 6 and min(sizes) >= 12, sizes
    # Every label is drawn inside the chart (none cut off at the right).
    assert page.evaluate("""() => {
      const box = document.querySelector('.concern-chart svg').getBoundingClientRect();
      return [...document.querySelectorAll('.concern-chart text')].every(
        t => t.getBoundingClientRect().right <= box.right + 1);
    }""")


@pytest.mark.parametrize("who", ["resident", "officer"])
def test_every_tap_target_is_at_least_44px_on_a_phone(page, sign_in, make_resident, meeting, who):
    if who == "resident":
        sign_in(make_resident(name="Ruth Resident"))
        paths = ["/wards/E05013806", f"/meetings/{meeting.id}", "/settings", "/messages", "/wards?q=james"]
    else:
        sign_in(meeting.created_by)
        paths = [f"/officer/meetings/{meeting.id}", "/officer/inbox", "/officer/alerts/new",
                 "/officer/meetings"]
    for path in paths:
        page.goto(path)
        assert page.evaluate(TAP_TARGETS) == [], path


def test_signed_in_header_fits_one_row(page, sign_in, make_resident, meeting):
    sign_in(make_resident(name="Ruth Resident"))
    page.goto("/wards/E05013806")
    rows = page.evaluate("""() => {
      const items = [document.querySelector('.brand'), ...document.querySelectorAll('.site-nav li')];
      return new Set(items.map(el => Math.round(el.getBoundingClientRect().top / 10))).size;
    }""")
    assert rows == 1
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    expect(page.get_by_role("link", name="Wardline")).to_be_visible()


def test_error_summary_takes_focus_and_title_says_error(page, sign_in, meeting):
    errors = _csp_errors(page)
    sign_in(meeting.created_by)
    page.goto("/officer/meetings/new")
    page.get_by_role("button", name="Save and invite").click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Enter a title")
    assert page.title().startswith("Error: ")
    # ... and without htmx (a full page), the same.
    page.goto(f"/officer/meetings/{meeting.id}")
    page.get_by_label("Title").fill("")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".error-summary")).to_be_focused()
    assert page.title().startswith("Error: ")
    page.get_by_label("Title").fill("St James's ward panel")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".error-summary")).to_have_count(0)
    assert not page.title().startswith("Error:")
    assert errors == []


def test_counters_format_numbers_and_survive_htmx_swaps(page, sign_in, make_resident):
    sign_in(make_resident(name="Ruth Resident"))
    page.goto("/messages")
    counter = page.locator("#body + .counter")
    expect(counter).to_have_text("2,000 characters left")
    page.get_by_label("Subject").fill("")
    page.get_by_label("Your message").fill("Hello")
    page.get_by_role("button", name="Send to my ward team").click()  # no subject: the form comes back (422)
    expect(page.locator(".error-summary")).to_be_visible()
    expect(page.locator("#body + .counter")).to_have_text("1,995 characters left")
    expect(page.locator(".counter")).to_have_count(
        page.locator("textarea[maxlength], input[maxlength][data-counter]").count())


@pytest.mark.parametrize("javascript", [True, False])
def test_i_cant_come_asks_to_confirm_first(browser, base_url, app, make_resident, meeting, javascript):
    from tests.browser.conftest import session_cookie
    from webapp.extensions import db
    from webapp.meetings import services
    resident = make_resident(name="Ruth Resident")
    services.rsvp(meeting.id, resident.id)
    ctx = browser.new_context(base_url=base_url, viewport=PHONE, java_script_enabled=javascript)
    try:
        ctx.add_cookies([session_cookie(app, resident, base_url)])
        page = ctx.new_page()
        errors = _csp_errors(page)
        page.goto(f"/meetings/{meeting.id}")
        page.get_by_role("link", name="I can't come after all").click()
        expect(page.get_by_role("heading", name="Give up your place?")).to_be_visible()
        if javascript:  # asked in place, the focus on the question
            assert page.url.endswith(f"/meetings/{meeting.id}")
            expect(page.get_by_role("heading", name="Give up your place?")).to_be_focused()
        db.session.rollback()
        assert services.rsvp_for(meeting.id, resident.id).status == "going"
        page.get_by_role("link", name="No, keep it").click()
        expect(page.locator("#rsvp")).to_contain_text("You're going")
        page.get_by_role("link", name="I can't come after all").click()
        page.get_by_role("button", name="Yes, give up my place").click()
        expect(page.locator("body")).to_contain_text("You've cancelled")
        db.session.rollback()
        assert services.rsvp_for(meeting.id, resident.id).status == "cancelled"
        assert errors == []
    finally:
        ctx.close()


def test_conversation_header_status_follows_replies_and_live_updates(page, app, sign_in, browser,
                                                                     base_url, make_resident,
                                                                     make_staff):
    from webapp.extensions import db
    from webapp.threads import services
    before, app.config["THREADS_POLL_SECONDS"] = app.config["THREADS_POLL_SECONDS"], 1
    try:
        resident = sign_in(make_resident(name="Ruth Resident"))
        officer = make_staff("officer", wards=["E05013806"], name="Jane Smith")
        conv = services.start_conversation(resident, resident.home_ward, "Scooters", "Too fast.")
        db.session.commit()
        errors = _csp_errors(page)
        page.goto(f"/messages/{conv.id}")
        status = page.locator("#conversation-status")
        expect(status).to_contain_text("Awaiting reply")
        # The officer answers from their own browser; their header changes with the reply.
        from tests.browser.conftest import session_cookie
        octx = browser.new_context(base_url=base_url, viewport=PHONE)
        octx.add_cookies([session_cookie(app, officer, base_url)])
        opage = octx.new_page()
        opage.goto(f"/officer/messages/{conv.id}")
        expect(opage.locator("#conversation-status")).to_contain_text("Awaiting reply · waiting")
        opage.get_by_label("Your message").fill("We will be there.")
        opage.get_by_role("button", name="Send").click()
        expect(opage.locator("#messages")).to_contain_text("We will be there.")
        expect(opage.locator("#conversation-status")).to_have_text("Answered")
        octx.close()
        expect(page.locator("#messages")).to_contain_text("We will be there.", timeout=8000)
        expect(status).to_have_text("Answered")  # the live update brought the status
        page.get_by_label("Your message").fill("Thank you.")
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#messages")).to_contain_text("Thank you.")
        expect(status).to_contain_text("Awaiting reply · waiting")
        assert page.locator("#conversation-status").count() == 1
        assert errors == []
    finally:
        app.config["THREADS_POLL_SECONDS"] = before


def test_follow_this_ward_in_place_and_home_links_to_it(page, sign_in, make_resident):
    sign_in(make_resident("E05013806", name="Ruth Resident"))
    errors = _csp_errors(page)
    page.goto("/wards/E05013792")
    page.get_by_role("button", name="Follow this ward").click()
    expect(page.locator("#follow-ward")).to_contain_text("You now follow Abbey Road")
    expect(page.get_by_role("button", name="Stop following Abbey Road")).to_be_visible()
    assert page.url.endswith("/wards/E05013792")
    page.get_by_role("link", name="Back to your ward, St James's").click()
    page.get_by_role("link", name="Abbey Road").first.click()
    page.wait_for_url("**/wards/E05013792")
    assert errors == []


def test_ward_home_asks_about_notifications_until_answered(page, sign_in, make_resident):
    sign_in(make_resident(name="Ruth Resident"))
    errors = _csp_errors(page)
    page.goto("/wards/E05013806")
    prompt = page.locator("#push-prompt")
    expect(prompt).to_be_visible()
    page.get_by_role("button", name="No thanks, don't ask again").click()
    expect(prompt).to_contain_text("We won't ask again")
    page.reload()
    expect(page.locator("#push-prompt")).to_have_count(0)
    assert errors == []


def test_the_999_box_shows_once_per_screen(page, sign_in, make_resident):
    from webapp.extensions import db
    resident = make_resident(name="Ruth Resident", completed=False)
    resident.survey_step = 3
    db.session.commit()
    sign_in(resident)
    visible = "() => [...document.querySelectorAll('.not-for-crime')].filter(e => e.offsetParent !== null).length"
    for path in ("/survey?step=3", "/privacy", "/wards/E05013806"):
        page.goto(path)
        assert page.evaluate(visible) == 1, path
    # After an htmx swap brings a box into the content, still one.
    page.goto("/survey?step=2")
    assert page.evaluate(visible) == 1
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Step 3 of 3: What matters most")).to_be_visible()
    assert page.evaluate(visible) == 1


@pytest.mark.parametrize("javascript", [True, False])
def test_alert_review_step_and_options_shown_only_when_chosen(browser, base_url, app, make_staff,
                                                              make_resident, javascript):
    from sqlalchemy import select

    from tests.browser.conftest import session_cookie
    from webapp.alerts.models import Alert
    from webapp.extensions import db
    make_resident("E05013806", categories=("events",))
    officer = make_staff("officer", wards=["E05013806"])
    ctx = browser.new_context(base_url=base_url, viewport=PHONE, java_script_enabled=javascript)
    try:
        ctx.add_cookies([session_cookie(app, officer, base_url)])
        page = ctx.new_page()
        errors = _csp_errors(page)
        page.goto("/officer/alerts/new")
        borough, send_at = page.get_by_label("Borough", exact=True), page.get_by_label("Send at (London time)")
        if javascript:
            expect(borough).to_be_hidden()
            expect(send_at).to_be_hidden()
            page.get_by_label("A whole borough").check()
            expect(borough).to_be_visible()
            page.get_by_label("Wards I choose").check()
            expect(borough).to_be_hidden()
            page.get_by_label("Schedule for later").check()
            expect(send_at).to_be_visible()
            page.get_by_label("Send now").check()
            expect(send_at).to_be_hidden()
        else:
            expect(borough).to_be_visible()
            expect(send_at).to_be_visible()
        page.get_by_label("Title").fill("Bike marking on Saturday")
        page.get_by_label("Message", exact=True).fill("Bring your bike to **the square**.")
        page.get_by_label("Local events and meetings").check()
        page.get_by_label("St James's (Westminster)").check()
        page.get_by_role("button", name="Review before sending").click()
        expect(page.get_by_role("heading", name="Check the alert before it goes")).to_be_visible()
        expect(page.locator(".email-preview .alert-body strong")).to_have_text("the square")
        expect(page.locator(".push-preview")).to_contain_text("Bike marking on Saturday")
        expect(page.locator("main")).to_contain_text("Reaches 1 resident")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        db.session.rollback()
        assert db.session.scalar(select(Alert)) is None
        page.get_by_role("button", name="Send now").click()
        expect(page.locator("h1")).to_have_text("Bike marking on Saturday")
        db.session.rollback()
        assert db.session.scalar(select(Alert)).state == "sent"
        assert errors == []
    finally:
        ctx.close()


def test_picking_a_borough_with_javascript_needs_no_button(page):
    errors = _csp_errors(page)
    page.goto("/wards")
    expect(page.get_by_role("button", name="Show its wards")).to_be_hidden()
    page.get_by_label("Or choose your borough").select_option(label="Westminster")
    expect(page.locator("#borough-wards")).to_contain_text("Wards in Westminster")
    expect(page.get_by_role("link", name="St James's")).to_be_visible()
    assert errors == []
