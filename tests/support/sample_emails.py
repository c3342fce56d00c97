"""One email of every kind Wardline sends, through the real code: the sign-in emails are
sent at once, the rest go through the outbox (``notify`` → worker → SMTP) with their real
templates. Used by ``tests/delivery/test_email_headers.py`` and ``bench/spamassassin.py``.

Needs an app context on a database with London's wards, and the app's SMTP settings
pointing at a server that keeps what it receives.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import current_app

from webapp.accounts.models import SURVEY_DONE, User, UserCategory, UserWard
from webapp.accounts.services import send_no_account_email, send_signin_email
from webapp.delivery import Event, notify
from webapp.delivery.digest import send_digests
from webapp.delivery.models import Delivery
from webapp.delivery.worker import deliver_due
from webapp.extensions import db
from webapp.meetings import services as meetings
from webapp.meetings.rsvps import _confirm_place
from webapp.meetings.services import MeetingDetails
from webapp.platform.timeutil import london_to_utc, to_london, utcnow
from webapp.wards.models import Team
from webapp.wards.services import get_ward

WARD = "E05013806"
# The Subject of each kind (what the tests and the benchmark find them by).
KINDS = {
    "signin": "Your Wardline sign-in link",
    "staff_signin": "Signing in to Wardline",  # to the officer
    "no_account": "Signing in to Wardline",  # to an unknown address
    "alert": "Bike thefts near the station",
    "digest": "Your Wardline updates for ",  # + the date
    "meeting_invite": "Invitation: Ward panel meeting",
    "meeting_update": "Changed: Ward panel meeting",
    "meeting_reminder": "Reminder: Ward panel meeting",
    "waitlist_promoted": "You have a place: Ward panel meeting",
    "meeting_confirmed": "You're going: Ward panel meeting",
    "meeting_summary": "Summary: Ward panel meeting",
    "meeting_cancelled": "Cancelled: Ward panel meeting",
    "reply": "Reply from your ward team: Noise from the car park",
    "officer_digest": "2 conversations awaiting reply",
}
ALERT_HTML = ("<p>Several bikes were taken from the racks by the station this week. Use a "
              "D-lock through the frame and both wheels, and register your bike for free.</p>")


def _user(email: str, name: str, role: str = "resident", frequency: str = "immediate") -> User:
    user = User(email=email, display_name=name, role=role, confirmed_at=utcnow(),
                email_frequency=frequency, rank="PC" if role == "officer" else None,
                survey_completed_at=utcnow() if role == "resident" else None,
                survey_step=SURVEY_DONE if role == "resident" else 1)
    db.session.add(user)
    if role == "resident":
        user.wards.append(UserWard(ward=get_ward(WARD), is_home=True, position=0))
        for category in ("prevention", "events", "appeals", "outcomes"):
            user.categories.append(UserCategory(category=category))
    db.session.flush()
    return user


def send_every_kind(domain: str = "example.org") -> dict[str, str]:
    """Send one email of each kind in :data:`KINDS`; return {kind: recipient address}."""
    resident = _user(f"sam.resident@{domain}", "Sam Patel")
    digest_reader = _user(f"ali.digest@{domain}", "Ali Khan", frequency="digest")
    officer = _user(f"jane.morgan@police.{domain}", "Jane Morgan", role="officer")
    db.session.add(Team(name="Sample ward team", wards=[get_ward(WARD)], members=[officer]))
    db.session.commit()
    to = {"signin": resident.email, "staff_signin": officer.email,
          "no_account": f"nobody@{domain}", "digest": digest_reader.email,
          "officer_digest": officer.email}

    # Sent from a request (the links are built with url_for), as the sign-in page does.
    with current_app.test_request_context(base_url=current_app.config["BASE_URL"]):
        send_signin_email(resident)
        send_signin_email(officer)
        send_no_account_email(to["no_account"])

    alert = dict(kind="alert", source_type="alert", title=KINDS["alert"],
                 body="Several bikes were taken from the racks by the station this week.",
                 category="prevention", email_template="alerts/alert",
                 email_context={"body_html": ALERT_HTML, "wards": get_ward(WARD).name,
                                "category": "Crime prevention"})
    notify(resident, Event(source_id=1, url="/alerts/1", **alert))
    notify(digest_reader, Event(source_id=2, url="/alerts/2", **alert))
    db.session.commit()

    start = (utcnow() + timedelta(days=10)).replace(hour=18, minute=30, second=0, microsecond=0)
    details = MeetingDetails(
        title="Ward panel meeting", description="Meet your ward team and set its priorities.",
        venue_name="St James's Hall", address="1 Example Street, London SW1A 1AA",
        accessibility="Step-free entrance.", starts_at=start, ends_at=start + timedelta(hours=2),
        capacity=50, rsvp_closes_at=start - timedelta(hours=1), online_url=None)
    meeting = meetings.create_meeting(officer, details, [get_ward(WARD).id])
    db.session.commit()
    place = meetings.rsvp(meeting.id, resident.id)  # "You're going" (meeting_confirmed)
    meeting = db.session.get(type(meeting), meeting.id)
    _confirm_place(place, meeting, "waitlist_promoted", title=KINDS["waitlist_promoted"],
                   body=f"{meetings.when_text(meeting)} at {meeting.venue_name}.")
    db.session.commit()
    for kind, template in (("meeting_invite", "invite"), ("meeting_update", "update"),
                           ("meeting_reminder", "reminder"), ("meeting_summary", "summary")):
        extra = {"summary": "We agreed to focus on bike theft and the car park."}
        meetings.notify_many([resident], meeting, kind, title=KINDS[kind],
                             body=f"{meetings.when_text(meeting)} at {meeting.venue_name}.",
                             template=f"meetings/{template}", extra=extra)
        db.session.commit()
    meetings.cancel_meeting(officer, meeting.id, "The hall is flooded.")

    notify(resident, Event(
        kind="reply", source_type="message", source_id=1, title=KINDS["reply"],
        body="We have asked the council to check the gates.", url="/messages/1",
        email_template="threads/reply",
        email_context={"conversation_subject": "Noise from the car park",
                       "officer": "PC Jane Morgan", "ward_name": get_ward(WARD).name,
                       "body": "Thank you. We have asked the council to check the gates.",
                       "url": "/messages/1", "resident_name": resident.display_name}))
    items = [{"id": n, "subject": subject, "ward": get_ward(WARD).name, "since": "2 Jun 2026, 09:00",
              "url": f"/officer/messages/{n}"}
             for n, subject in ((1, "Noise from the car park"), (2, "Broken street light"))]
    notify(officer, Event(
        kind="officer_digest", source_type="officer_digest", source_id=1,
        title=KINDS["officer_digest"], body="", url="/officer/inbox",
        email_template="threads/officer_digest",
        email_context={"items": items, "total": 2, "officer": officer.display_name}))
    db.session.commit()

    # The digest: the day's rows, gathered at 07:00 London time the next morning.
    tomorrow = to_london(utcnow()).date() + timedelta(days=1)
    seven = london_to_utc(datetime.combine(tomorrow, time(7, 5)))
    db.session.execute(Delivery.__table__.update().where(Delivery.channel == "digest")
                       .values(created_at=seven - timedelta(hours=12),
                               next_attempt_at=seven - timedelta(hours=12)))
    db.session.commit()
    send_digests(now=seven)
    deliver_due(now=seven)
    for kind in KINDS:
        to.setdefault(kind, resident.email)
    return to
