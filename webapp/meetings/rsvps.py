"""RSVPs with capacity and waitlist, under the meeting's lock (:func:`meeting_lock`)."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import func, select

from webapp.accounts.models import User
from webapp.extensions import db
from webapp.platform.db import write_transaction
from webapp.meetings.models import Meeting, Rsvp
from webapp.platform.timeutil import format_london, utcnow

from webapp.meetings.scope import RsvpClosed
from webapp.meetings.notices import notify_many, when_text


# --------------------------------------------------------------------------- locking
@contextmanager
def meeting_lock(meeting_id: int):
    """Run the block in a transaction that holds ``meeting_id``'s lock; commit at the end.

    PostgreSQL: the meeting row is locked with ``SELECT ... FOR UPDATE``, so concurrent
    RSVPs for the same meeting queue up while other meetings go on. SQLite: the whole
    database is write-locked with ``BEGIN IMMEDIATE`` (SQLite has one writer anyway).
    Whatever the session had pending is committed first, so the locked transaction starts
    afresh (on SQLite an older read transaction could not be upgraded safely).
    Yields the locked meeting; raises LookupError when it does not exist.
    """
    with write_transaction():
        meeting = db.session.get(Meeting, meeting_id, with_for_update=True,
                                 populate_existing=True)
        if meeting is None:
            raise LookupError(meeting_id)
        yield meeting


# --------------------------------------------------------------------------- RSVPs
def going_count(meeting_id: int) -> int:
    return db.session.scalar(select(func.count()).where(
        Rsvp.meeting_id == meeting_id, Rsvp.status == "going"))


def waitlist_count(meeting_id: int) -> int:
    return db.session.scalar(select(func.count()).where(
        Rsvp.meeting_id == meeting_id, Rsvp.status == "waitlisted"))


def rsvp_counts(meeting_ids) -> dict[int, dict[str, int]]:
    """``{meeting id: {"going": n, "waitlisted": n}}`` for many meetings, one grouped query
    (a list of meetings must not ask twice per row)."""
    counts = {meeting_id: {"going": 0, "waitlisted": 0} for meeting_id in meeting_ids}
    if counts:
        rows = db.session.execute(
            select(Rsvp.meeting_id, Rsvp.status, func.count())
            .where(Rsvp.meeting_id.in_(counts), Rsvp.status.in_(("going", "waitlisted")))
            .group_by(Rsvp.meeting_id, Rsvp.status))
        for meeting_id, status, n in rows:
            counts[meeting_id][status] = n
    return counts


def checked_in_count(meeting_id: int) -> int:
    return db.session.scalar(select(func.count()).where(
        Rsvp.meeting_id == meeting_id, Rsvp.checked_in_at.is_not(None)))


def places_left(meeting: Meeting) -> int:
    return max(0, meeting.capacity - going_count(meeting.id))


def rsvp_for(meeting_id: int, user_id: int) -> Rsvp | None:
    """The user's own RSVP for a meeting (any status), or None."""
    return db.session.scalar(select(Rsvp).where(Rsvp.meeting_id == meeting_id,
                                                Rsvp.user_id == user_id))


def waitlist_position(rsvp: Rsvp) -> int | None:
    """1 for the first on the waitlist; None when ``rsvp`` is not waitlisted."""
    if rsvp is None or rsvp.status != "waitlisted":
        return None
    return db.session.scalar(select(func.count()).where(
        Rsvp.meeting_id == rsvp.meeting_id, Rsvp.status == "waitlisted", Rsvp.seq <= rsvp.seq))


def rsvp_closed_reason(meeting: Meeting, now: datetime | None = None) -> str | None:
    """Why RSVPs are closed for ``meeting``, or None while they are open."""
    now = now or utcnow()
    if meeting.is_cancelled:
        return "This meeting was cancelled, so RSVPs are closed."
    if now >= meeting.starts_at:
        return "This meeting has started, so RSVPs are closed."
    if now >= meeting.rsvp_closes_at:
        return f"RSVPs closed on {format_london(meeting.rsvp_closes_at)}."
    return None


def rsvp(meeting_id: int, user_id: int) -> Rsvp:
    """RSVP ``user_id`` to a meeting: going while places are left, else waitlisted.

    Idempotent: a second call (a double click) returns the same RSVP. A cancelled RSVP
    is renewed at the end of the queue. Commits. Raises :class:`RsvpClosed` with the
    message to show when RSVPs are closed, LookupError for an unknown meeting.
    """
    with meeting_lock(meeting_id) as meeting:
        reason = rsvp_closed_reason(meeting)
        if reason:
            raise RsvpClosed(reason)
        existing = rsvp_for(meeting_id, user_id)
        if existing is not None and existing.status in ("going", "waitlisted"):
            return existing
        status = "going" if going_count(meeting_id) < meeting.capacity else "waitlisted"
        seq = (db.session.scalar(select(func.max(Rsvp.seq)).where(Rsvp.meeting_id == meeting_id)) or 0) + 1
        now = utcnow()
        if existing is None:
            existing = Rsvp(meeting_id=meeting_id, user_id=user_id)
            db.session.add(existing)
        existing.status, existing.seq, existing.updated_at = status, seq, now
        existing.cancelled_at = existing.reminder_sent_at = existing.promoted_at = None
        db.session.flush()
        result = existing
    return result


def cancel_rsvp(meeting_id: int, user_id: int) -> tuple[Rsvp | None, Rsvp | None]:
    """Cancel the user's RSVP and, if they were going, promote the first waitlisted
    resident at once and notify them. Cancelling twice (or without an RSVP) is harmless.
    Commits. Returns (the cancelled RSVP or None, the promoted RSVP or None).
    """
    with meeting_lock(meeting_id) as meeting:
        mine = rsvp_for(meeting_id, user_id)
        if mine is None or mine.status == "cancelled":
            return mine, None
        now = utcnow()
        mine.status, mine.cancelled_at, mine.updated_at = "cancelled", now, now
        db.session.flush()
        promoted = fill_places(meeting)
    return mine, (promoted[0] if promoted else None)


def fill_places(meeting: Meeting) -> list[Rsvp]:
    """Move waitlisted RSVPs (first come first) into free places and notify them.

    Call with the meeting lock held. Nobody is promoted once the meeting has started or
    when it is cancelled.
    """
    if meeting.is_cancelled or utcnow() >= meeting.starts_at:
        return []
    free = meeting.capacity - going_count(meeting.id)
    if free <= 0:
        return []
    promoted = list(db.session.scalars(
        select(Rsvp).where(Rsvp.meeting_id == meeting.id, Rsvp.status == "waitlisted")
        .order_by(Rsvp.seq).limit(free)))
    now = utcnow()
    for item in promoted:
        item.status, item.promoted_at, item.updated_at = "going", now, now
    db.session.flush()
    for item in promoted:
        # Each promotion is its own occasion: a resident who cancels, joins the waitlist
        # again (a new seq) and is promoted again is told again.
        notify_many([item.user], meeting, "waitlist_promoted",
                     title=f"You have a place: {meeting.title}",
                     body=f"A place opened up and you are now going: {when_text(meeting)}, {meeting.venue_name}.",
                     template="meetings/promoted", occasion=f"rsvp {item.id} seq {item.seq}")
    return promoted


def attendees_of(meeting: Meeting, statuses: tuple[str, ...]) -> list[User]:
    return list(db.session.scalars(
        select(User).join(Rsvp, Rsvp.user_id == User.id)
        .where(Rsvp.meeting_id == meeting.id, Rsvp.status.in_(statuses)).order_by(Rsvp.seq)))
