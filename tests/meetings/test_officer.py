"""Officers: setting up, changing and cancelling meetings for their own wards; invitations;
the summary."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from webapp.platform.audit import AuditEvent
from webapp.extensions import db
from webapp.meetings import services
from webapp.meetings.models import Meeting
from webapp.platform.timeutil import LONDON
from webapp.wards.services import get_ward
from tests.meetings.conftest import set_times


def _form(**overrides):
    day = (datetime.now(LONDON) + timedelta(days=10)).date()
    data = {"title": "Community crime-fighting", "description": "Come along", "venue_name": "School hall",
            "address": "Lowden Road, London SE24 0BJ", "accessibility": "Step-free",
            "starts_at": f"{day}T18:30", "ends_at": f"{day}T20:00", "capacity": "120",
            "rsvp_closes_at": f"{day}T12:00", "reminder_hours": "24", "online_url": "",
            "wards": [str(get_ward("E05013806").id)], "borough": "0"}
    data.update(overrides)
    return data, day


def _edit_form(meeting, **overrides):
    """The edit form as the page fills it (London times), with ``overrides``."""
    def local(value):
        return value.replace(tzinfo=timezone.utc).astimezone(LONDON).strftime("%Y-%m-%dT%H:%M")
    data = {"title": meeting.title, "description": meeting.description, "venue_name": meeting.venue_name,
            "address": meeting.address, "accessibility": meeting.accessibility,
            "starts_at": local(meeting.starts_at), "ends_at": local(meeting.ends_at),
            "capacity": str(meeting.capacity), "rsvp_closes_at": local(meeting.rsvp_closes_at),
            "reminder_hours": str(meeting.reminder_hours), "online_url": meeting.online_url or ""}
    data.update(overrides)
    return data


def _audit(action):
    db.session.rollback()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_officer_creates_a_meeting_in_london_time_and_the_right_residents_are_invited(
        client, login, make_staff, make_resident, deliveries):
    officer = make_staff("officer", wards=["E05013806"])
    wants = make_resident(ward="E05013806")
    digest = make_resident(ward="E05013806", email_frequency="digest")
    follows = make_resident(ward="E05014104", extra_wards=("E05013806",))
    no_events = make_resident(ward="E05013806", categories=("prevention", "appeals"))
    elsewhere = make_resident(ward="E05014104")
    unconfirmed = make_resident(ward="E05013806")
    unconfirmed.confirmed_at = None
    from webapp.delivery.models import Delivery, PushSubscription
    db.session.add(PushSubscription(user_id=wants.id, endpoint="https://push.example.org/abc",
                                    p256dh="k", auth="a"))
    db.session.commit()
    login(client, officer)
    assert client.get("/officer/meetings/new").status_code == 200
    data, day = _form()
    response = client.post("/officer/meetings/new", data=data)
    assert response.status_code == 303, response.data
    meeting = db.session.scalar(select(Meeting))
    start_london = datetime.combine(day, datetime.min.time()).replace(hour=18, minute=30, tzinfo=LONDON)
    assert meeting.starts_at == start_london.astimezone(timezone.utc).replace(tzinfo=None)
    assert response.headers["Location"].endswith(f"/officer/meetings/{meeting.id}")
    assert deliveries("meeting_invite") == {wants.id: "email", digest.id: "digest", follows.id: "email"}
    assert no_events.id not in deliveries("meeting_invite")
    assert unconfirmed.id not in deliveries("meeting_invite")
    channels = db.session.execute(select(Delivery.channel).where(Delivery.user_id == wants.id)).scalars()
    assert sorted(channels) == ["email", "push"]
    assert elsewhere.id not in deliveries("meeting_invite")
    assert len(_audit("meeting.create")) == 1


def test_meeting_form_validation(client, login, make_staff):
    officer = make_staff("officer", wards=["E05013806"])
    login(client, officer)
    data, day = _form(online_url="http://insecure.example.org/meet")
    response = client.post("/officer/meetings/new", data=data)
    assert response.status_code == 422 and b"must start with https://" in response.data
    data, day = _form(ends_at=f"{day}T17:00")
    assert b"must end after it starts" in client.post("/officer/meetings/new", data=data).data
    data, _ = _form(title="x" * 121)
    assert client.post("/officer/meetings/new", data=data).status_code == 422
    data, _ = _form(starts_at="2020-01-01T18:00", ends_at="2020-01-01T19:00", rsvp_closes_at="")
    assert b"must start in the future" in client.post("/officer/meetings/new", data=data).data
    assert db.session.scalar(select(Meeting)) is None


def test_officer_cannot_set_up_a_meeting_for_a_ward_they_do_not_cover(client, login, make_staff):
    officer = make_staff("officer", wards=["E05014104"])
    login(client, officer)
    data, _ = _form()  # St James's
    assert client.post("/officer/meetings/new", data=data).status_code == 403
    assert db.session.scalar(select(Meeting)) is None


def test_officer_of_another_ward_cannot_manage_the_meeting(client, login, make_staff, make_meeting,
                                                           make_resident):
    meeting = make_meeting()
    resident = make_resident()
    services.rsvp(meeting.id, resident.id)
    outsider = make_staff("officer", wards=["E05014104"])
    login(client, outsider)
    base = f"/officer/meetings/{meeting.id}"
    for url in (base, f"{base}/checkin", f"{base}/attendees.csv"):
        assert client.get(url).status_code == 403, url
    data, _ = _form(title="Hijacked")
    assert client.post(base, data=data).status_code == 403
    assert client.post(f"{base}/cancel", data={"reason": "no"}).status_code == 403
    assert client.post(f"{base}/checkin", data={"code": services.checkin_token(meeting, resident)}).status_code == 403
    assert client.post(f"{base}/summary", data={"summary": "x"}).status_code == 403
    assert f"/officer/meetings/{meeting.id}" not in client.get("/officer/meetings").data.decode()
    db.session.rollback()
    meeting = db.session.get(Meeting, meeting.id)
    assert meeting.title == "Community meeting" and meeting.cancelled_at is None
    # Residents are not officers at all.
    login(client, resident)
    assert client.get(base).status_code == 403
    assert client.get("/officer/meetings").status_code == 403


def test_borough_wide_meeting_is_managed_by_officers_of_the_borough(client, login, make_staff,
                                                                    make_meeting, make_resident, deliveries):
    meeting = make_meeting(borough=True)  # all of Westminster
    assert meeting.audience_label == "All of Westminster" and len(meeting.wards) > 10
    neighbour_officer = make_staff("officer", wards=["E05013805"])
    login(client, neighbour_officer)
    assert client.get(f"/officer/meetings/{meeting.id}").status_code == 200
    lambeth_officer = make_staff("officer", wards=["E05014104"])
    login(client, lambeth_officer)
    assert client.get(f"/officer/meetings/{meeting.id}").status_code == 403


def test_changing_time_or_place_tells_attendees(client, login, make_resident, make_meeting, deliveries):
    meeting = make_meeting(capacity=1)
    going, waiting, cancelled = make_resident(), make_resident(), make_resident()
    for user in (going, waiting, cancelled):
        services.rsvp(meeting.id, user.id)
    services.cancel_rsvp(meeting.id, cancelled.id)
    login(client, meeting.created_by)
    page = client.get(f"/officer/meetings/{meeting.id}")
    assert page.status_code == 200
    data = _edit_form(meeting)
    # Only the description changes: nobody is told.
    data["description"] = "Updated agenda"
    assert client.post(f"/officer/meetings/{meeting.id}", data=data).status_code == 303
    assert deliveries("meeting_update") == {}
    data["venue_name"] = "Another hall"
    assert client.post(f"/officer/meetings/{meeting.id}", data=data).status_code == 303
    assert deliveries("meeting_update") == {going.id: "email", waiting.id: "email"}
    db.session.rollback()
    assert db.session.get(Meeting, meeting.id).sequence == 1
    assert len(_audit("meeting.update")) == 2


def test_more_places_promote_the_waitlist(client, login, make_resident, make_meeting):
    meeting = make_meeting(capacity=1)
    users = [make_resident() for _ in range(3)]
    for user in users:
        services.rsvp(meeting.id, user.id)
    login(client, meeting.created_by)
    data = _edit_form(meeting, capacity="2")
    assert client.post(f"/officer/meetings/{meeting.id}", data=data).status_code == 303
    assert services.going_count(meeting.id) == 2 and services.attendance(meeting.id)["waitlisted"] == 1
    data["capacity"] = "1"  # below those going: refused
    response = client.post(f"/officer/meetings/{meeting.id}", data=data)
    assert response.status_code == 422 and b"2 people are already going" in response.data


def test_cancelling_tells_everyone_going_or_waitlisted(client, login, make_resident, make_meeting,
                                                       deliveries):
    meeting = make_meeting(capacity=1)
    going, waiting = make_resident(), make_resident()
    services.rsvp(meeting.id, going.id)
    services.rsvp(meeting.id, waiting.id)
    bystander = make_resident()
    login(client, meeting.created_by)
    response = client.post(f"/officer/meetings/{meeting.id}/cancel", data={"reason": "Venue flooded"})
    assert response.status_code == 303
    told = deliveries("meeting_cancelled")
    assert told == {going.id: "email", waiting.id: "email"} and bystander.id not in told
    assert len(_audit("meeting.cancel")) == 1
    # Cancelling again is harmless and tells nobody twice.
    client.post(f"/officer/meetings/{meeting.id}/cancel", data={"reason": ""})
    assert len(_audit("meeting.cancel")) == 1


def test_summary_goes_to_attendees_and_the_ward(client, login, make_resident, make_meeting, deliveries, app):
    meeting = make_meeting(capacity=1)
    going, waiting = make_resident(), make_resident()
    services.rsvp(meeting.id, going.id)
    services.rsvp(meeting.id, waiting.id)
    login(client, meeting.created_by)
    early = client.post(f"/officer/meetings/{meeting.id}/summary", data={"summary": "Too early"})
    assert early.status_code == 422 and b"once the meeting has started" in early.data
    set_times(meeting, starts_in=timedelta(hours=-2), ends_in=timedelta(minutes=-1))
    text = "Residents raised phone theft on Piccadilly.\n\nWe will patrol there on Friday evenings."
    response = client.post(f"/officer/meetings/{meeting.id}/summary", data={"summary": text})
    assert response.status_code == 303
    assert deliveries("meeting_summary") == {going.id: "email"}
    db.session.rollback()
    assert db.session.get(Meeting, meeting.id).summary == text
    assert len(_audit("meeting.summary")) == 1
    from webapp.posts import WardPost
    posts = list(db.session.scalars(select(WardPost)))
    assert [(p.ward_id, p.kind, p.body) for p in posts] == [(meeting.wards[0].id, "meeting_summary", text)]
    login(client, going)
    assert b"patrol there on Friday evenings" in client.get(f"/meetings/{meeting.id}").data
    again = client.post(f"/officer/meetings/{meeting.id}/summary", data={"summary": "again"})
    assert again.status_code == 403  # residents cannot post


def test_every_meeting_email_renders_and_is_sent(app, make_resident, make_meeting, mail):
    from webapp.delivery.worker import deliver_due
    resident = make_resident()
    meeting = make_meeting(capacity=1)  # invites `resident`
    services.rsvp(meeting.id, resident.id)
    services.add_concern(meeting.id, resident.id, "asb", "")
    details = services.MeetingDetails(
        title=meeting.title, description=meeting.description, venue_name="New venue",
        address=meeting.address, accessibility="", starts_at=meeting.starts_at,
        ends_at=meeting.ends_at, capacity=1, rsvp_closes_at=meeting.rsvp_closes_at, online_url=None)
    services.update_meeting(meeting.created_by, meeting, details)
    set_times(meeting, starts_in=timedelta(hours=-2), ends_in=timedelta(minutes=-5))
    services.post_summary(meeting.created_by, db.session.get(Meeting, meeting.id), "We heard you.")
    db.session.commit()
    other = make_meeting(title="Second meeting")
    services.rsvp(other.id, resident.id)
    services.cancel_meeting(other.created_by, other.id, "Venue flooded")
    result = deliver_due()
    assert result["dead"] == 0 and result["retry"] == 0
    subjects = sorted(m["Subject"] for m in mail.wait_for(7) if m["To"] == resident.email)
    assert subjects == ["Cancelled: Second meeting", "Changed: Community meeting",
                        "Invitation: Community meeting", "Invitation: Second meeting",
                        "Summary: Community meeting", "You're going: Community meeting",
                        "You're going: Second meeting"]
    cancelled = next(m for m in mail.messages if m["Subject"] == "Cancelled: Second meeting")
    assert "Venue flooded" in cancelled.get_body(preferencelist=("plain",)).get_content()
    assert "Venue flooded" in cancelled.get_body(preferencelist=("html",)).get_content()
