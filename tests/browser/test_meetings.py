"""Meetings in headless Chromium: one-tap RSVP with htmx, the QR code under the strict CSP,
the officers' concerns chart and check-in desk, and accessibility (axe)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import axe_on
from webapp.extensions import db

pytestmark = pytest.mark.browser


@pytest.fixture
def meeting(app, make_staff):
    from webapp.meetings.services import MeetingDetails, create_meeting
    from webapp.platform.timeutil import utcnow
    from webapp.wards.services import get_ward
    from datetime import timedelta
    officer = make_staff("officer", wards=["E05013806"], name="Jo Inspector")
    start = (utcnow() + timedelta(days=4)).replace(second=0, microsecond=0)
    details = MeetingDetails(
        title="St James's ward panel", description="Meet your team.", venue_name="Church hall",
        address="197 Piccadilly, London W1J 9LL", accessibility="Step-free entrance.",
        starts_at=start, ends_at=start + timedelta(hours=2), capacity=1,
        rsvp_closes_at=start - timedelta(hours=1), online_url=None)
    meeting = create_meeting(officer, details, [get_ward("E05013806").id])
    db.session.commit()
    return meeting




def _csp_errors(page):
    errors = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    return errors


def test_rsvp_in_one_tap_shows_the_qr_code(page, browser, base_url, app, sign_in, make_resident, meeting):
    from webapp.meetings import services
    resident = sign_in(make_resident(name="Ruth Resident"))
    errors = _csp_errors(page)
    page.goto(f"/meetings/{meeting.id}")
    page.get_by_role("button", name="I'm going").click()
    expect(page.locator("#rsvp")).to_contain_text("You're going")
    expect(page.locator("#rsvp svg.qr")).to_be_visible()
    assert page.url.endswith(f"/meetings/{meeting.id}")  # swapped in place, no reload
    db.session.rollback()
    assert services.rsvp_for(meeting.id, resident.id).status == "going"
    page.screenshot(path="/tmp/meetings-resident.png", full_page=True)
    assert errors == []
    assert axe_on(browser, base_url, app, f"/meetings/{meeting.id}", resident) == []


def test_officer_sees_chart_and_checks_in_by_typed_code(page, browser, base_url, app, sign_in,
                                                        make_resident, meeting):
    from webapp.meetings import services
    resident = make_resident(name="Carl Checkin")
    services.rsvp(meeting.id, resident.id)
    services.add_concern(meeting.id, resident.id, "phone_theft", "Phones snatched near the station")
    sign_in(meeting.created_by)
    errors = _csp_errors(page)
    page.goto(f"/officer/meetings/{meeting.id}")
    expect(page.locator("svg.chart rect.bar")).to_have_count(1)
    page.screenshot(path="/tmp/meetings-officer.png", full_page=True)
    page.goto(f"/officer/meetings/{meeting.id}/checkin")
    page.get_by_label("Check-in code").fill(services.checkin_code(meeting.id, resident.id))
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(page.locator("#checkin-desk")).to_contain_text("Checked in: Carl Checkin")
    page.screenshot(path="/tmp/meetings-checkin.png", full_page=True)
    assert errors == []
    officer = meeting.created_by
    for path in (f"/officer/meetings/{meeting.id}", f"/officer/meetings/{meeting.id}/checkin",
                 "/officer/meetings", "/officer/meetings/new"):
        assert axe_on(browser, base_url, app, path, officer) == [], path


def test_camera_scan_checks_in_where_the_browser_has_barcode_detector(page, context, sign_in,
                                                                      make_resident, meeting):
    """Headless Chromium on Linux has no BarcodeDetector and no camera: both are stubbed
    (a canvas stream as the camera, a detector that "sees" the resident's QR token), so the
    test drives the page's real scanning code from the button to the check-in."""
    import json

    from webapp.meetings import services
    resident = make_resident(name="Sam Scanned")
    services.rsvp(meeting.id, resident.id)
    token = services.checkin_token(meeting, resident)
    context.add_init_script("""(() => {
        window.BarcodeDetector = class { detect() { return Promise.resolve([{rawValue: %s}]); } };
        navigator.mediaDevices.getUserMedia = () => {
            const canvas = document.createElement('canvas');
            canvas.width = 64; canvas.height = 64;
            const draw = () => { const c = canvas.getContext('2d'); c.fillStyle = '#' +
                Math.floor(Math.random() * 4095).toString(16).padStart(3, '0'); c.fillRect(0, 0, 64, 64); };
            draw(); setInterval(draw, 100);
            return Promise.resolve(canvas.captureStream(10));
        };
    })();""" % json.dumps(token))
    sign_in(meeting.created_by)
    page.goto(f"/officer/meetings/{meeting.id}/checkin")
    page.locator("#scan-button").click()
    expect(page.locator("#checkin-desk")).to_contain_text("Checked in: Sam Scanned")
    db.session.rollback()
    assert services.attendance(meeting.id)["checked_in"] == 1


def test_camera_scan_without_barcode_detector_uses_the_vendored_decoder(
        page, context, sign_in, make_resident, meeting):
    """Like Safari on an iPhone: no BarcodeDetector. The camera (stubbed with a canvas
    stream) shows the resident's real QR code, drawn module by module, and the vendored
    jsQR decodes the pixels; scanning the same person again says when they came in."""
    import json

    import segno

    from webapp.meetings import services
    resident = make_resident(name="Ivy Iphone")
    services.rsvp(meeting.id, resident.id)
    token = services.checkin_token(meeting, resident)
    matrix = [[1 if cell else 0 for cell in row] for row in segno.make(token, error="m").matrix]
    context.add_init_script("""(() => {
        delete window.BarcodeDetector;
        const matrix = %s, scale = 6, quiet = 4;
        navigator.mediaDevices.getUserMedia = () => {
            const size = (matrix.length + 2 * quiet) * scale;
            const canvas = document.createElement('canvas');
            canvas.width = size + 40; canvas.height = size + 40;
            const draw = () => {
                const c = canvas.getContext('2d');
                c.fillStyle = '#fff'; c.fillRect(0, 0, canvas.width, canvas.height);
                c.fillStyle = '#000';
                matrix.forEach((row, y) => row.forEach((on, x) => { if (on) c.fillRect(
                    20 + (x + quiet) * scale, 20 + (y + quiet) * scale, scale, scale); }));
            };
            draw(); setInterval(draw, 100);
            return Promise.resolve(canvas.captureStream(10));
        };
    })();""" % json.dumps(matrix))
    errors = _csp_errors(page)
    sign_in(meeting.created_by)
    page.goto(f"/officer/meetings/{meeting.id}/checkin")
    assert page.evaluate("'BarcodeDetector' in window") is False
    page.locator("#scan-button").click()
    expect(page.locator("#checkin-desk")).to_contain_text("Checked in: Ivy Iphone", timeout=15000)
    assert page.evaluate("typeof window.jsQR") == "function"
    page.locator("#scan-stop").click()
    # The same code again (typed this time): "already checked in at …".
    page.get_by_label("Check-in code").fill(services.checkin_code(meeting.id, resident.id))
    page.get_by_role("button", name="Check in").click()
    expect(page.locator("#checkin-desk")).to_contain_text("Ivy Iphone is already checked in at")
    # Name search finds any part of any word.
    page.get_by_role("searchbox", name="Name").fill("iph iv")
    expect(page.locator("#matches")).to_contain_text("Ivy Iphone")
    assert errors == []
    db.session.rollback()
    assert services.attendance(meeting.id)["checked_in"] == 1
