"""Meeting notifications carry the meeting as it is when they are written: a reminder
after the meeting moved, and each of two waitlist promotions, reach their residents with
the new time."""
from __future__ import annotations

from datetime import timedelta

from webapp.delivery.worker import deliver_due
from webapp.meetings import services
from webapp.platform.timeutil import format_london


def _when(start):
    return format_london(start, "%A %-d %B %Y, %H:%M")


def _move(meeting, hours):
    """Move ``meeting`` ``hours`` later through the officer's service."""
    shift = timedelta(hours=hours)
    details = services.MeetingDetails(
        title=meeting.title, description=meeting.description, venue_name=meeting.venue_name,
        address=meeting.address, accessibility=meeting.accessibility,
        starts_at=meeting.starts_at + shift, ends_at=meeting.ends_at + shift,
        capacity=meeting.capacity, rsvp_closes_at=meeting.rsvp_closes_at + shift,
        online_url=meeting.online_url, reminder_hours=meeting.reminder_hours)
    assert services.update_meeting(meeting.created_by, meeting, details)
    return details.starts_at


def _bodies(mail, count, subject_start):
    """{address: [plain text, ...]} of the emails whose Subject starts with ``subject_start``."""
    found = {}
    for msg in mail.wait_for(count):
        if msg["Subject"].startswith(subject_start):
            found.setdefault(msg["To"], []).append(
                msg.get_body(preferencelist=("plain",)).get_content())
    return found


def test_reminder_after_a_time_change_carries_the_new_time(app, make_resident, make_meeting, mail):
    """The reminder was one notification per meeting: after a move, the second reminder
    of those already reminded was dropped and newcomers were sent the old time."""
    meeting = make_meeting(starts_in=timedelta(hours=20))  # reminders (24 h before) are due
    old_start = meeting.starts_at
    early, late = make_resident(), make_resident()  # after the invitations went
    services.rsvp(meeting.id, early.id)
    assert services.send_due_reminders() == 1
    new_start = _move(meeting, 3)
    services.rsvp(meeting.id, late.id)
    assert services.send_due_reminders() == 2
    assert services.send_due_reminders() == 0  # the tick again: nothing new
    deliver_due()
    reminders = _bodies(mail, 4, "Reminder:")  # early: 2 reminders and the change; late: 1
    # One reminder with each time (one batch sends them in no promised order), none with both.
    assert sorted(_when(old_start) in text for text in reminders[early.email]) == [False, True]
    assert sorted(_when(new_start) in text for text in reminders[early.email]) == [False, True]
    assert not any(_when(old_start) in text and _when(new_start) in text
                   for text in reminders[early.email])
    assert len(reminders[late.email]) == 1
    assert _when(new_start) in reminders[late.email][0]
    assert _when(old_start) not in reminders[late.email][0]


def test_two_waitlist_promotions_for_one_meeting_both_reach_their_residents(
        app, make_resident, make_meeting, mail):
    """Promotions were one notification per meeting: a resident promoted a second time
    heard nothing, and one promoted after the meeting moved was sent the old time."""
    meeting = make_meeting(capacity=1)
    old_start = meeting.starts_at
    first, second, third = make_resident(), make_resident(), make_resident()
    for user in (first, second, third):
        services.rsvp(meeting.id, user.id)
    services.cancel_rsvp(meeting.id, first.id)  # promotes `second`
    new_start = _move(meeting, 2)  # tells `second` (going) and `third` (waitlisted)
    services.cancel_rsvp(meeting.id, second.id)  # promotes `third`
    services.rsvp(meeting.id, second.id)  # `second` joins the waitlist again...
    _, promoted = services.cancel_rsvp(meeting.id, third.id)  # ...and is promoted again
    assert promoted.user_id == second.id
    deliver_due()
    places = _bodies(mail, 5, "You have a place")  # 3 promotions and 2 change notices
    assert sorted(_when(new_start) in text for text in places[second.email]) == [False, True]
    assert sorted(_when(old_start) in text for text in places[second.email]) == [False, True]
    assert len(places[third.email]) == 1
    assert _when(new_start) in places[third.email][0]
    assert _when(old_start) not in places[third.email][0]
