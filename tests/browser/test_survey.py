"""The survey and ward finder in headless Chromium: "Use my location" (locate.js) and
active search with htmx under the strict CSP, the same survey with JavaScript off, and
accessibility (axe) of the resident pages."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import run_axe
from webapp.accounts.models import Concern, User
from webapp.extensions import db

pytestmark = pytest.mark.browser

TRAFALGAR = {"latitude": 51.5080, "longitude": -0.1281}


def _fresh(user_id):
    db.session.rollback()  # end the test's transaction: see what the live server committed
    return db.session.get(User, user_id)


def _context(browser, base_url, **kwargs):
    return browser.new_context(base_url=base_url, **kwargs)


def _csp_errors(page):
    """Collect CSP violations and script errors (a 422 answer is expected, not an error)."""
    errors = []
    page.on("console", lambda m: errors.append(m.text)
            if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def test_survey_with_location_and_htmx(browser, base_url, sign_in, make_resident):
    user = make_resident(completed=False, name="Nia", categories=())
    # start with no ward at all
    user.wards.clear()
    db.session.commit()
    ctx = _context(browser, base_url, geolocation=TRAFALGAR, permissions=["geolocation"])
    try:
        sign_in(user, ctx=ctx)
        page = ctx.new_page()
        errors = _csp_errors(page)
        page.goto("/survey")
        expect(page.get_by_role("heading", name="Step 1 of 3: Where you live")).to_be_visible()
        page.get_by_role("button", name="Use my location").click()
        suggestion = page.locator("#locate-result")
        expect(suggestion).to_contain_text("Your location is in St James's, Westminster")
        expect(suggestion).to_contain_text("Choose a neighbouring ward instead")
        suggestion.get_by_role("button", name="I live here in St James's").click()
        expect(page.locator("#chosen-wards")).to_contain_text("Where you live: St James's")

        # active search adds a ward to follow, without leaving the page
        page.get_by_label("Search by postcode, ward or borough name").fill("vauxh")
        results = page.locator("#ward-results")
        expect(results).to_contain_text("Vauxhall, Lambeth")
        results.get_by_role("button", name="Also follow Vauxhall").click()
        expect(page.locator("#chosen-wards")).to_contain_text("Vauxhall")

        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", name="Step 2 of 3: Which updates")).to_be_visible()
        assert page.url.endswith("/survey?step=2")
        # Every kind of update starts ticked; unticking them all is warned about.
        for label in ("Crime prevention advice", "Local events and meetings",
                      "Incident updates and appeals for information",
                      "Successful outcomes and operations"):
            expect(page.get_by_label(label)).to_be_checked()
            page.get_by_label(label).uncheck()
        page.get_by_role("button", name="Continue").click()
        expect(page.locator("#nothing-warning")).to_contain_text(
            "With these choices you will get no updates at all")
        expect(page.get_by_role("button", name="Continue without updates")).to_be_visible()
        page.get_by_label("Local events and meetings").check()
        page.get_by_label("One email a day with that day's alerts, ward news and meeting invitations", exact=False).check()
        page.get_by_role("button", name="Continue", exact=True).click()
        expect(page.get_by_role("heading", name="Step 3 of 3: What matters most")).to_be_visible()
        for topic in ("Antisocial behaviour", "Drugs", "Fraud and scams", "Road safety"):
            page.get_by_label(topic, exact=True).check()
        page.get_by_role("button", name="Finish").click()
        expect(page.locator(".error-summary")).to_contain_text("Choose up to 3 topics.")
        page.get_by_label("Road safety", exact=True).uncheck()
        page.get_by_role("button", name="Finish").click()
        page.wait_for_url("**/wards/E05013806")
        expect(page.get_by_role("heading", level=1)).to_have_text("St James's")
        assert errors == []
    finally:
        ctx.close()
    fresh = _fresh(user.id)
    assert [w.code for w in fresh.ward_list] == ["E05013806", "E05014117"]
    assert fresh.category_codes == {"events"} and fresh.email_frequency == "digest"
    assert {c.topic for c in db.session.scalars(db.select(Concern))} == {"asb", "drugs", "fraud"}


def test_survey_without_javascript(browser, base_url, sign_in, make_resident):
    user = make_resident(completed=False, name="Nia", categories=())
    user.wards.clear()
    db.session.commit()
    ctx = _context(browser, base_url, java_script_enabled=False)
    try:
        sign_in(user, ctx=ctx)
        page = ctx.new_page()
        page.goto("/survey")
        expect(page.get_by_role("button", name="Use my location")).to_be_hidden()
        page.get_by_label("Or choose your borough").select_option(label="Lambeth")
        page.get_by_role("button", name="Show its wards").click()
        page.get_by_label("Then your ward").select_option(label="Herne Hill & Loughborough Junction")
        page.get_by_role("button", name="I live here", exact=True).click()
        expect(page.locator("#chosen-wards")).to_contain_text("Herne Hill & Loughborough Junction")
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_label("Incident updates and appeals for information")).to_be_checked()
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("Something else", exact=True).check()
        page.get_by_label("Something else: tell us in your own words").fill("Cars racing at night")
        page.get_by_role("button", name="Finish").click()
        page.wait_for_url("**/wards/E05014104")
    finally:
        ctx.close()
    fresh = _fresh(user.id)
    assert fresh.home_ward.code == "E05014104" and fresh.survey_completed_at is not None
    assert fresh.category_codes == {"prevention", "events", "appeals", "outcomes"}
    assert [(c.topic, c.text) for c in db.session.scalars(db.select(Concern))] == \
        [("other", "Cars racing at night")]


def test_resident_pages_have_no_serious_accessibility_problems(browser, base_url, app,
                                                               make_resident):
    for _n in range(5):
        make_resident("E05014104", concerns=("asb", "burglary"))
    user = make_resident("E05014104", concerns=("asb",))
    ctx = _context(browser, base_url, bypass_csp=True)
    try:
        value = app.session_interface.get_signing_serializer(app).dumps(
            {"_user_id": user.get_id(), "_fresh": True})
        page = ctx.new_page()
        for path in ("/signup", "/login", "/wards?q=herne&borough=E09000022",
                     "/wards/E05014104"):
            assert page.goto(path).status == 200
            assert run_axe(page) == [], path
        ctx.add_cookies([{"name": "session", "value": value, "url": base_url}])
        for path in ("/survey?step=1&q=vaux", "/settings"):
            assert page.goto(path).status == 200
            assert run_axe(page) == [], path
    finally:
        ctx.close()
