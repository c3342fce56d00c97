"""Reminders: sent once, only to those going, through the scheduler tick."""
from __future__ import annotations

from datetime import timedelta

from webapp.delivery.scheduler import TICKS
from webapp.delivery.worker import deliver_due
from webapp.meetings import services
from tests.meetings.conftest import set_times
from tests.conftest import run_at_once


def test_reminder_tick_is_registered():
    assert ("webapp.meetings.services:send_due_reminders", 60) in TICKS


def test_reminder_goes_once_and_only_to_those_going(app, make_resident, make_meeting, deliveries, mail):
    meeting = make_meeting(capacity=2, online_url="https://meet.example.org/ward-panel")
    going, leaving, waiting, also_waiting = (make_resident() for _ in range(4))
    for user in (going, leaving, waiting, also_waiting):
        services.rsvp(meeting.id, user.id)
    services.cancel_rsvp(meeting.id, leaving.id)  # promotes `waiting`
    services.cancel_rsvp(meeting.id, also_waiting.id)  # left the waitlist
    # Three days ahead: not due yet.
    assert services.send_due_reminders() == 0
    set_times(meeting, starts_in=timedelta(hours=23))
    assert services.send_due_reminders() == 2
    assert services.send_due_reminders() == 0  # the tick again: nothing new
    assert deliveries("meeting_reminder") == {going.id: "email", waiting.id: "email"}
    deliver_due()
    messages = mail.wait_for(2)
    reminders = [m for m in messages if m["Subject"].startswith("Reminder:")]
    assert sorted(m["To"] for m in reminders) == sorted([going.email, waiting.email])
    text = reminders[0].get_body(preferencelist=("plain",)).get_content()
    assert "St James's Hall" in text and "1 Example Street" in text
    assert "https://meet.example.org/ward-panel" in text
    assert f"/meetings/{meeting.id}" in text
    assert services.send_due_reminders() == 0


def test_reminder_hours_are_per_meeting_and_digest_choosers_still_get_it_now(
        app, make_resident, make_meeting, deliveries):
    meeting = make_meeting(reminder_hours=48)
    resident = make_resident(email_frequency="digest")
    services.rsvp(meeting.id, resident.id)
    set_times(meeting, starts_in=timedelta(hours=47))
    assert services.send_due_reminders() == 1
    assert deliveries("meeting_reminder") == {resident.id: "email"}


def test_no_reminders_for_cancelled_or_started_meetings(app, make_resident, make_meeting):
    cancelled = make_meeting()
    started = make_meeting()
    resident = make_resident()
    services.rsvp(cancelled.id, resident.id)
    services.rsvp(started.id, resident.id)
    services.cancel_meeting(cancelled.created_by, cancelled.id)
    set_times(cancelled, starts_in=timedelta(hours=2))
    set_times(started, starts_in=timedelta(minutes=-5))
    assert services.send_due_reminders() == 0


def test_two_schedulers_ticking_at_once_remind_each_person_once(app, make_resident, make_meeting,
                                                                 deliveries):
    meeting = make_meeting(capacity=10)
    people = [make_resident() for _ in range(6)]
    for user in people:
        services.rsvp(meeting.id, user.id)
    set_times(meeting, starts_in=timedelta(hours=23))
    results = run_at_once(app, services.send_due_reminders)
    assert sum(results) == 6
    assert deliveries("meeting_reminder") == {u.id: "email" for u in people}
    from sqlalchemy import func, select

    from webapp.delivery.models import Delivery, Notification
    from webapp.extensions import db
    assert db.session.scalar(select(func.count()).select_from(Delivery).join(Delivery.notification)
                             .where(Notification.kind == "meeting_reminder")) == 6
