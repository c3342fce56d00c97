"""RSVPs: one tap, one RSVP; cancelling; the waitlist; closing; privacy."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.meetings import services
from webapp.meetings.models import Rsvp
from tests.meetings.conftest import set_times
from tests.support.queries import QueryGuard


def _rsvps(meeting_id):
    db.session.rollback()
    return list(db.session.scalars(select(Rsvp).where(Rsvp.meeting_id == meeting_id).order_by(Rsvp.seq)))


def test_rsvp_in_one_tap_with_and_without_htmx(client, login, make_resident, make_meeting, htmx_headers):
    meeting = make_meeting(capacity=5)
    resident = make_resident()
    login(client, resident)
    page = client.get(f"/meetings/{meeting.id}")
    assert page.status_code == 200 and b"5</strong> of 5 places left" in page.data
    response = client.post(f"/meetings/{meeting.id}/rsvp", headers=htmx_headers)
    assert response.status_code == 200
    assert b"You're going" in response.data and b'id="rsvp"' in response.data
    assert b"<html" not in response.data  # the fragment only
    assert [r.status for r in _rsvps(meeting.id)] == ["going"]
    other = make_resident()
    login(client, other)
    plain = client.post(f"/meetings/{meeting.id}/rsvp")
    assert plain.status_code == 303 and plain.headers["Location"].endswith(f"/meetings/{meeting.id}")
    assert b"You're going" in client.get(plain.headers["Location"]).data


def test_double_click_makes_one_rsvp(client, login, make_resident, make_meeting, htmx_headers):
    meeting = make_meeting(capacity=5)
    login(client, make_resident())
    for _ in range(3):
        assert client.post(f"/meetings/{meeting.id}/rsvp", headers=htmx_headers).status_code == 200
    rows = _rsvps(meeting.id)
    assert len(rows) == 1 and rows[0].status == "going"
    assert services.places_left(meeting) == 4


def test_rsvp_without_csrf_is_refused(client, login, make_resident, make_meeting):
    meeting = make_meeting()
    login(client, make_resident())
    assert client.post(f"/meetings/{meeting.id}/rsvp", csrf=False).status_code == 400
    assert _rsvps(meeting.id) == []


def test_cancelling_twice_is_harmless(client, login, make_resident, make_meeting):
    meeting = make_meeting(capacity=1)
    first, second = make_resident(), make_resident()
    services.rsvp(meeting.id, first.id)
    services.rsvp(meeting.id, second.id)
    login(client, first)
    assert client.post(f"/meetings/{meeting.id}/cancel").status_code == 303
    assert client.post(f"/meetings/{meeting.id}/cancel").status_code == 303
    statuses = {r.user_id: r.status for r in _rsvps(meeting.id)}
    assert statuses == {first.id: "cancelled", second.id: "going"}
    # Cancelling without any RSVP changes nothing either.
    third = make_resident()
    assert services.cancel_rsvp(meeting.id, third.id) == (None, None)
    assert len(_rsvps(meeting.id)) == 2


def test_full_meeting_puts_people_on_the_waitlist_with_their_position(client, login, make_resident,
                                                                     make_meeting, htmx_headers):
    meeting = make_meeting(capacity=2)
    for _ in range(3):
        services.rsvp(meeting.id, make_resident().id)
    late = make_resident()
    login(client, late)
    page = client.get(f"/meetings/{meeting.id}")
    assert b"Join the waitlist" in page.data and b"<strong>Full</strong>" in page.data
    response = client.post(f"/meetings/{meeting.id}/rsvp", headers=htmx_headers)
    assert b"number <strong>2</strong> on the waitlist" in response.data
    assert services.going_count(meeting.id) == 2 and services.attendance(meeting.id)["waitlisted"] == 2


def test_cancelling_promotes_exactly_the_first_waitlisted_and_notifies_them(
        app, client, login, make_resident, make_meeting, deliveries, mail):
    from webapp.delivery.worker import deliver_due
    meeting = make_meeting(capacity=2)
    going = [make_resident(), make_resident()]
    waiting = [make_resident(), make_resident(), make_resident()]
    for user in going + waiting:
        services.rsvp(meeting.id, user.id)
    login(client, going[0])
    client.post(f"/meetings/{meeting.id}/cancel")
    statuses = {r.user_id: r.status for r in _rsvps(meeting.id)}
    assert statuses[waiting[0].id] == "going"
    assert statuses[waiting[1].id] == statuses[waiting[2].id] == "waitlisted"
    assert services.going_count(meeting.id) == 2
    assert deliveries("waitlist_promoted") == {waiting[0].id: "email"}
    deliver_due()
    messages = mail.wait_for(1)
    promoted = [m for m in messages if m["To"] == waiting[0].email]
    assert len(promoted) == 1 and "You have a place" in promoted[0]["Subject"]
    # The next on the list is now first.
    login(client, waiting[1])
    assert b"number <strong>1</strong> on the waitlist" in client.get(f"/meetings/{meeting.id}").data


def test_rsvp_after_closing_time_is_refused_with_a_message(client, login, make_resident,
                                                           make_meeting, htmx_headers):
    meeting = make_meeting()
    set_times(meeting, closes_in=timedelta(minutes=-1))
    login(client, make_resident())
    page = client.get(f"/meetings/{meeting.id}")
    assert b"RSVPs closed on" in page.data and b"I'm going" not in page.data
    response = client.post(f"/meetings/{meeting.id}/rsvp", headers=htmx_headers)
    assert response.status_code == 422 and b"RSVPs closed on" in response.data
    plain = client.post(f"/meetings/{meeting.id}/rsvp", follow_redirects=True)
    assert b"RSVPs closed on" in plain.data
    assert _rsvps(meeting.id) == []


def test_rsvp_to_a_cancelled_meeting_is_refused_with_a_message(client, login, make_resident,
                                                               make_meeting, htmx_headers):
    meeting = make_meeting()
    services.cancel_meeting(meeting.created_by, meeting.id, "Venue flooded")
    login(client, make_resident())
    response = client.post(f"/meetings/{meeting.id}/rsvp", headers=htmx_headers)
    assert response.status_code == 422
    assert b"This meeting was cancelled, so RSVPs are closed." in response.data
    assert _rsvps(meeting.id) == []


def test_resident_sees_only_their_own_rsvp(client, login, make_resident, make_meeting):
    meeting = make_meeting(capacity=1)
    alice = make_resident(name="Alice Unique-Name")
    bob = make_resident(name="Bob Other-Name")
    services.rsvp(meeting.id, alice.id)
    services.rsvp(meeting.id, bob.id)
    login(client, bob)
    page = client.get(f"/meetings/{meeting.id}").data
    assert b"Alice Unique-Name" not in page and b"on the waitlist" in page
    # Attendee lists, check-in and concerns are for officers only.
    for url in (f"/officer/meetings/{meeting.id}", f"/officer/meetings/{meeting.id}/checkin",
                f"/officer/meetings/{meeting.id}/attendees.csv",
                f"/officer/meetings/{meeting.id}/checkin?q=Alice"):
        assert client.get(url).status_code == 403


def test_meetings_list_shows_upcoming_meetings_in_their_wards_and_borough(client, login, make_resident,
                                                                          make_meeting):
    mine = make_meeting(title="Meeting in St James")
    # Another Westminster ward (same borough as St James's), and a Lambeth ward.
    nearby = make_meeting(wards=("E05013805",), title="Meeting nearby")
    far = make_meeting(wards=("E05014104",), title="Meeting far away")
    cancelled = make_meeting(title="Called off")
    services.cancel_meeting(cancelled.created_by, cancelled.id)
    login(client, make_resident())
    with QueryGuard(client.application) as guard:
        page = client.get("/meetings").data.decode()
    assert mine.title in page and nearby.title in page
    assert far.title not in page and cancelled.title not in page
    assert page.index("In your wards") < page.index(mine.title) < page.index("Elsewhere") < page.index(nearby.title)
    # Both lists from one statement (a round trip costs as much CPU as the rest of the SQL).
    assert len([s for s in guard.statements if "FROM meetings" in s]) == 1


def test_visitors_see_details_but_must_sign_in_to_rsvp(client, make_meeting):
    meeting = make_meeting()
    page = client.get(f"/meetings/{meeting.id}")
    assert page.status_code == 200 and b"Sign in</a> to RSVP" in page.data
    assert client.post(f"/meetings/{meeting.id}/rsvp").status_code == 302
    assert client.get("/meetings/999999").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Rsvp)) == 0


def test_ward_home_and_nav_show_meetings(client, login, make_resident, make_meeting):
    meeting = make_meeting(title="Ward panel on the ward page")
    page = client.get("/wards/E05013806").data.decode()
    assert "Upcoming meetings" in page and meeting.title in page
    assert "/wards/E05013806/meetings.ics" in page
    assert meeting.title not in client.get("/wards/E05014104").data.decode()
    login(client, make_resident())
    assert 'href="/meetings">Meetings</a>' in client.get("/meetings").data.decode()
