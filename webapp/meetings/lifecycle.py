"""A meeting's set-up, changes, cancellation and summary."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from webapp.posts import create_ward_post
from webapp.platform.audit import record
from webapp.extensions import db
from webapp.meetings.models import Meeting, MeetingWard, Rsvp
from webapp.platform.timeutil import utcnow
from webapp.wards.models import Borough, Ward
from webapp.wards.services import covered_ward_ids

from webapp.meetings.scope import MeetingError, NotAllowed
from webapp.meetings.notices import notify_many, when_text, send_invitations
from webapp.meetings.rsvps import attendees_of, fill_places, meeting_lock
SUMMARY_MAX = 4000


# --------------------------------------------------------------------------- set-up
@dataclass
class MeetingDetails:
    """What an officer enters (times as naive UTC, already converted from London)."""

    title: str
    description: str
    venue_name: str
    address: str
    accessibility: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    rsvp_closes_at: datetime
    online_url: str | None
    reminder_hours: int = 24


def _resolve_audience(user, ward_ids: list[int], borough_id: int | None) -> tuple[list[Ward], Borough | None]:
    """Return the wards (and borough) of a meeting's audience, checking ``user`` covers them.

    Raises :class:`NotAllowed` for a ward or borough outside the user's scope and
    :class:`MeetingError` when nothing is chosen.
    """
    covered = set(db.session.scalars(covered_ward_ids(user)))
    if borough_id:
        borough = db.session.get(Borough, borough_id)
        if borough is None:
            raise MeetingError("Choose a borough.")
        wards = list(db.session.scalars(select(Ward).where(Ward.borough_id == borough.id).order_by(Ward.name)))
        if not covered & {w.id for w in wards}:
            raise NotAllowed("You can only set up meetings for your own borough.")
        # Put the chosen wards first, so "the meeting's ward" is one the officer picked.
        chosen = [w for w in wards if w.id in set(ward_ids)]
        return chosen + [w for w in wards if w not in chosen], borough
    if not ward_ids:
        raise MeetingError("Choose at least one ward.")
    wards = [db.session.get(Ward, wid) for wid in dict.fromkeys(ward_ids)]
    if any(w is None or w.id not in covered for w in wards):
        raise NotAllowed("You can only set up meetings for the wards you cover.")
    return wards, None


def _apply(meeting: Meeting, details: MeetingDetails) -> None:
    for name in ("title", "description", "venue_name", "address", "accessibility", "starts_at",
                 "ends_at", "capacity", "rsvp_closes_at", "online_url", "reminder_hours"):
        setattr(meeting, name, getattr(details, name))
    meeting.reminder_at = meeting.starts_at - timedelta(hours=meeting.reminder_hours)
    meeting.updated_at = utcnow()


# Far-off or endless times are typing mistakes (a year 9999 end), never a real meeting.
MAX_AHEAD = timedelta(days=730)
MAX_LENGTH = timedelta(hours=24)


def validate_details(details: MeetingDetails, *, creating: bool, going: int = 0) -> dict[str, str]:
    """Check the rules forms cannot express; return {field: message} (empty when fine)."""
    errors = {}
    now = utcnow()
    if creating and details.starts_at <= now:
        errors["starts_at"] = "The meeting must start in the future."
    if details.starts_at > now + MAX_AHEAD:
        errors["starts_at"] = "The meeting must start within the next two years."
    if details.ends_at <= details.starts_at:
        errors["ends_at"] = "The meeting must end after it starts."
    elif details.ends_at - details.starts_at > MAX_LENGTH:
        errors["ends_at"] = "A meeting can last at most 24 hours."
    if details.rsvp_closes_at > details.starts_at:
        errors["rsvp_closes_at"] = "RSVPs must close before the meeting starts."
    elif creating and details.rsvp_closes_at <= now and details.rsvp_closes_at != details.starts_at:
        # (equal: left empty, closing at the start, whose own error already says it)
        errors["rsvp_closes_at"] = "RSVPs must close in the future, or nobody could RSVP."
    if details.capacity < going:
        errors["capacity"] = f"{going} people are already going; the capacity cannot be lower."
    if details.online_url and not details.online_url.lower().startswith("https://"):
        errors["online_url"] = "The online link must start with https://"
    return errors


def create_meeting(officer, details: MeetingDetails, ward_ids: list[int],
                   borough_id: int | None = None) -> Meeting:
    """Create a meeting for wards ``officer`` covers (or their borough), audit it, invite
    the audience (the caller commits).

    Raises :class:`NotAllowed` for wards outside the officer's scope, :class:`MeetingError`
    when no ward is chosen.
    """
    wards, borough = _resolve_audience(officer, ward_ids, borough_id)
    meeting = Meeting(created_by_id=officer.id, borough_id=borough.id if borough else None)
    _apply(meeting, details)
    meeting.ward_links = [MeetingWard(ward_id=w.id, position=i) for i, w in enumerate(wards)]
    db.session.add(meeting)
    db.session.flush()
    record(officer, "meeting.create", meeting, f"{meeting.title} ({meeting.audience_label})")
    invited = send_invitations(meeting)
    current_app.logger.info("Meeting %s created; %s invitations queued", meeting.id, invited)
    return meeting


def update_meeting(officer, meeting: Meeting, details: MeetingDetails) -> bool:
    """Save changes to ``meeting``; when its time or place changed, tell everyone going or
    waitlisted. Promotes waitlisted residents into added places. Commits.

    Returns True when attendees were told of a change. Raises :class:`MeetingError` for a
    cancelled meeting.
    """
    with meeting_lock(meeting.id) as meeting:
        if meeting.is_cancelled:
            raise MeetingError("This meeting was cancelled; it can no longer be changed.")
        before = (meeting.starts_at, meeting.ends_at, meeting.venue_name, meeting.address,
                  meeting.online_url)
        _apply(meeting, details)
        after = (meeting.starts_at, meeting.ends_at, meeting.venue_name, meeting.address,
                 meeting.online_url)
        changed = before != after
        if changed:
            meeting.sequence += 1
            if before[0] != after[0]:
                # A new time means a new reminder for those who already had one.
                db.session.execute(update(Rsvp).where(Rsvp.meeting_id == meeting.id)
                                   .values(reminder_sent_at=None))
        event = record(officer, "meeting.update", meeting,
                       "time or place changed" if changed else "details changed")
        db.session.flush()
        if changed:
            notify_many(attendees_of(meeting, ("going", "waitlisted")), meeting, "meeting_update",
                         title=f"Changed: {meeting.title}",
                         body=f"New time and place: {when_text(meeting)}, {meeting.venue_name}.",
                         template="meetings/update", source_type="meeting_update",
                         source_id=event.id)
        fill_places(meeting)
    return changed


def cancel_meeting(officer, meeting_id: int, reason: str = "") -> Meeting:
    """Cancel a meeting: RSVPs close and everyone going or waitlisted is told. Commits.

    Cancelling an already cancelled meeting changes nothing.
    """
    with meeting_lock(meeting_id) as meeting:
        if meeting.is_cancelled:
            return meeting
        meeting.cancelled_at = utcnow()
        meeting.sequence += 1
        record(officer, "meeting.cancel", meeting, reason[:500])
        notify_many(attendees_of(meeting, ("going", "waitlisted")), meeting, "meeting_cancelled",
                     title=f"Cancelled: {meeting.title}",
                     body=f"The meeting on {when_text(meeting)} is cancelled. {reason}".strip(),
                     template="meetings/cancelled", extra={"reason": reason})
    return meeting


# --------------------------------------------------------------------------- summary
def post_summary(officer, meeting: Meeting, text: str) -> Meeting:
    """Post the after-meeting summary: to everyone who was going (notification) and as a
    post on each of the meeting's wards. The caller commits.

    Raises :class:`MeetingError` before the meeting started, when cancelled, when empty or
    too long, or when a summary was already posted.
    """
    text = (text or "").strip()
    if not text:
        raise MeetingError("Write what was raised and what will be done.")
    if len(text) > SUMMARY_MAX:
        raise MeetingError(f"Keep the summary to {SUMMARY_MAX} characters.")
    if meeting.is_cancelled:
        raise MeetingError("This meeting was cancelled.")
    if utcnow() < meeting.starts_at:
        raise MeetingError("You can post the summary once the meeting has started.")
    if meeting.summary_posted_at is not None:
        raise MeetingError("A summary was already posted.")
    meeting.summary, meeting.summary_posted_at = text, utcnow()
    record(officer, "meeting.summary", meeting, text[:200])
    _post_to_wards(officer, meeting, text)
    notify_many(attendees_of(meeting, ("going",)), meeting, "meeting_summary",
                 title=f"Summary: {meeting.title}", body=text[:500],
                 template="meetings/summary", extra={"summary": text})
    db.session.flush()
    return meeting


def _post_to_wards(officer, meeting: Meeting, text: str) -> None:
    title = f"Meeting summary: {meeting.title}"[:120]
    for ward in meeting.wards:
        create_ward_post(ward, officer, title, text, kind="meeting_summary")
