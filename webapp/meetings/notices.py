"""What the outbox says about a meeting: the event of each kind, invitations to the
audience (set-based, :func:`webapp.delivery.fan_out`), reminders (a scheduler tick)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from webapp import delivery
from webapp.accounts import residents_following
from webapp.accounts.models import User
from webapp.delivery import Event, notify
from webapp.extensions import db
from webapp.platform.db import write_transaction
from webapp.meetings.models import Meeting, MeetingWard, Rsvp
from webapp.platform.timeutil import format_london, utcnow



# --------------------------------------------------------------------------- notifications
def when_text(meeting: Meeting) -> str:
    return f"{format_london(meeting.starts_at, '%A %-d %B %Y, %H:%M')}–{format_london(meeting.ends_at, '%H:%M')}"


def meeting_path(meeting: Meeting) -> str:
    return f"/meetings/{meeting.id}"


def _email_context(meeting: Meeting, extra: dict | None = None) -> dict:
    """Plain values for the email templates (stored with the notification as JSON)."""
    context = {
        "title": meeting.title, "when": when_text(meeting), "venue_name": meeting.venue_name,
        "address": meeting.address, "accessibility": meeting.accessibility or "",
        "online_url": meeting.online_url or "", "path": meeting_path(meeting),
        "ics_path": f"/meetings/{meeting.id}.ics", "audience": meeting.audience_label,
        "description": meeting.description or "", "meeting_id": meeting.id,
    }
    context.update(extra or {})
    return context


def _event(meeting: Meeting, kind: str, *, title: str, body: str, template: str,
           source_type: str = "meeting", source_id: int | None = None, extra: dict | None = None,
           urgent: bool = False, occasion: str = ""):
    """The outbox event for ``meeting``. Its text is taken from the meeting as it is now
    (the notification's identity covers the text, so a changed meeting is a new message);
    ``occasion`` tells apart repeated tellings of the same words (see ``delivery.Event``)."""
    return Event(kind=kind, source_type=source_type,
                 source_id=source_id if source_id is not None else meeting.id,
                 title=title[:200], body=body, url=meeting_path(meeting), category="events",
                 urgent=urgent, email_template=template,
                 email_context=_email_context(meeting, extra), tag=f"meeting-{meeting.id}",
                 occasion=occasion)


def notify_many(users, meeting: Meeting, kind: str, **event_kw) -> int:
    """Notify each of ``users`` about ``meeting`` (outbox rows in this transaction; one
    personal notification each)."""
    users = list(users)
    if not users:
        return 0
    event = _event(meeting, kind, **event_kw)
    for user in users:
        notify(user, event)
    return len(users)


def send_invitations(meeting: Meeting) -> int:
    """Invite the meeting's audience, in the caller's transaction: residents following one
    of its wards who chose "local events and meetings" (:func:`residents_following`), on
    their channels (email now or in the daily digest, per delivery's rules; push to each
    device), written set-based (:func:`webapp.delivery.fan_out`). Returns the number of
    outbox rows written.
    """
    event = _event(meeting, "meeting_invite", title=f"Invitation: {meeting.title}",
                   body=f"{when_text(meeting)} at {meeting.venue_name}, {meeting.address}.",
                   template="meetings/invite")
    ward_ids = select(MeetingWard.ward_id).where(MeetingWard.meeting_id == meeting.id)
    return delivery.fan_out(event, residents_following(ward_ids, "events"))


# --------------------------------------------------------------------------- reminders
def send_due_reminders(now: datetime | None = None) -> int:
    """Scheduler tick: remind everyone going to meetings whose reminder time has come.

    Each RSVP is marked with a conditional UPDATE (``reminder_sent_at IS NULL AND status =
    'going'``) before its notification is written, in one transaction, so two ticks, or
    two scheduler processes, never remind anyone twice; those who cancelled are never
    reminded. On SQLite the transaction begins IMMEDIATE (``write_transaction``)
    so a second runner waits instead of failing. Commits; returns how many were written.
    """
    with write_transaction():
        return _send_due_reminders(now or utcnow())


def _send_due_reminders(now: datetime) -> int:
    due = db.session.execute(
        select(Rsvp.id, Rsvp.meeting_id, Rsvp.seq).join(Meeting, Meeting.id == Rsvp.meeting_id).where(
            Rsvp.status == "going", Rsvp.reminder_sent_at.is_(None),
            Meeting.cancelled_at.is_(None), Meeting.reminder_at <= now, Meeting.starts_at > now)
        .order_by(Rsvp.meeting_id, Rsvp.seq)).all()
    sent = 0
    for rsvp_id, meeting_id, seq in due:
        claimed = db.session.execute(
            update(Rsvp).where(Rsvp.id == rsvp_id, Rsvp.reminder_sent_at.is_(None),
                               Rsvp.status == "going").values(reminder_sent_at=now)
            .execution_options(synchronize_session=False))
        if claimed.rowcount != 1:
            continue
        meeting = db.session.get(Meeting, meeting_id)
        user = db.session.scalar(select(User).join(Rsvp, Rsvp.user_id == User.id).where(Rsvp.id == rsvp_id))
        notify_many([user], meeting, "meeting_reminder", title=f"Reminder: {meeting.title}",
                     body=f"{when_text(meeting)} at {meeting.venue_name}, {meeting.address}.",
                     template="meetings/reminder",
                     # The claim above decided to remind: a new RSVP (seq) or a meeting
                     # moved (sequence), even back to an earlier time, is a new reminder.
                     occasion=f"rsvp {rsvp_id} seq {seq} meeting v{meeting.sequence}")
        sent += 1
    return sent
