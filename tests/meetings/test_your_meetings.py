"""'Your meetings' (going, waitlisted, past with attendance), the RSVP confirmation email
(check-in code, .ics attached, a cancel link that works without signing in) and the
check-in QR reachable from both."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from tests.meetings.conftest import set_times
from webapp.delivery.worker import deliver_due
from webapp.extensions import db
from webapp.meetings import services
from webapp.meetings.models import Rsvp

CANCEL_LINK = re.compile(r"http://wardline\.test(/meetings/cancel/[A-Za-z0-9._\-]+)")


def _text(msg):
    return msg.get_body(preferencelist=("plain",)).get_content()


def _confirmation(mail, resident, subject_start="You're going"):
    deliver_due()
    return next(m for m in mail.wait_for(1) if m["To"] == resident.email
                and m["Subject"].startswith(subject_start))


def test_rsvp_confirmation_email_has_code_calendar_qr_and_cancel_link(
        client, login, make_resident, make_meeting, mail):
    meeting = make_meeting(capacity=1, wards=("E05014104",))  # not the resident's ward
    resident = make_resident("E05013806")
    login(client, resident)
    assert client.post(f"/meetings/{meeting.id}/rsvp").status_code == 303
    msg = _confirmation(mail, resident)
    assert msg["Subject"] == "You're going: Community meeting"
    text = _text(msg)
    code = services.checkin_code(meeting.id, resident.id)
    assert f"Your check-in code: {code}" in text
    assert f"http://wardline.test/meetings/{meeting.id}#checkin" in text
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert code in html and f"/meetings/{meeting.id}#checkin" in html
    calendars = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    assert len(calendars) == 1 and calendars[0].get_filename() == f"meeting-{meeting.id}.ics"
    body = calendars[0].get_payload(decode=True).decode()
    assert "BEGIN:VEVENT" in body and "SUMMARY:Community meeting" in body
    # The QR code is where the email says.
    page = client.get(f"/meetings/{meeting.id}").get_data(as_text=True)
    assert 'id="checkin"' in page and code in page and "<svg" in page

    # The cancel link works without signing in: GET asks, POST gives up the place.
    path = CANCEL_LINK.search(text).group(1)
    assert path in html
    stranger = client.application.test_client()
    page = stranger.get(path)
    assert page.status_code == 200 and b"Give up your place?" in page.data
    assert page.headers["Cache-Control"] == "no-store"
    assert db.session.scalar(select(Rsvp.status)) == "going"  # a GET changes nothing
    assert stranger.post(path, csrf=False).status_code == 400
    done = stranger.post(path)
    assert done.status_code == 200 and b"Place given up" in done.data
    db.session.rollback()
    assert db.session.scalar(select(Rsvp.status)) == "cancelled"
    again = stranger.get(path)
    assert again.status_code == 400 and b"no longer works" in again.data
    assert stranger.get("/meetings/cancel/forged").status_code == 400


def test_promotion_email_is_a_confirmation_too(make_resident, make_meeting, mail):
    meeting = make_meeting(capacity=1)
    first, second = make_resident(), make_resident()
    services.rsvp(meeting.id, first.id)
    services.rsvp(meeting.id, second.id)  # waitlisted: no confirmation
    services.cancel_rsvp(meeting.id, first.id)
    msg = _confirmation(mail, second, "You have a place")
    assert services.checkin_code(meeting.id, second.id) in _text(msg)
    assert "a place opened up" in _text(msg)
    assert any(p.get_content_type() == "text/calendar" for p in msg.walk())
    assert not [m for m in mail.messages if m["To"] == second.email
                and m["Subject"].startswith("You're going")]


def test_your_meetings_lists_going_waitlisted_and_past(client, login, make_resident,
                                                       make_meeting, make_staff):
    resident = make_resident("E05013806")
    elsewhere = make_meeting(wards=("E05014117",), title="Vauxhall meeting")
    full = make_meeting(capacity=1, title="Full meeting")
    services.rsvp(full.id, make_resident().id)
    attended = make_meeting(title="Last month's meeting")
    missed = make_meeting(title="Missed meeting")
    for m in (elsewhere, full, attended, missed):
        services.rsvp(m.id, resident.id)
    row = db.session.scalar(select(Rsvp).where(Rsvp.meeting_id == attended.id,
                                                Rsvp.user_id == resident.id))
    services.check_in(attended.created_by, attended, rsvp_id=row.id)
    for m in (attended, missed):
        set_times(m, starts_in=timedelta(days=-30), ends_in=timedelta(days=-30, hours=2))
    login(client, resident)
    assert b"/meetings/mine" in client.get("/meetings").data
    page = client.get("/meetings/mine").get_data(as_text=True)
    going = page[page.index("<h2>Going</h2>"):page.index("On the waitlist")]
    waitlist = page[page.index("On the waitlist"):page.index("Past meetings")]
    past = page[page.index("Past meetings"):]
    assert "Vauxhall meeting" in going and f"/meetings/{elsewhere.id}#checkin" in going
    assert "Full meeting" in waitlist and "number <strong>1</strong>" in waitlist
    assert "Last month&#39;s meeting" in past and "You attended" in past
    assert "Missed meeting" in past and "did not check in" in past
    # Only one's own meetings; staff and visitors do not have this page.
    login(client, make_resident())
    assert "Vauxhall meeting" not in client.get("/meetings/mine").get_data(as_text=True)
    assert client.application.test_client().get("/meetings/mine").status_code in (302, 303)
