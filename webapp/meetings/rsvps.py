"""RSVPs with capacity and waitlist, under the meeting's lock (:func:`meeting_lock`)."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime

from flask import current_app
from sqlalchemy import case, func, select

from webapp.accounts.models import User
from webapp.extensions import db
from webapp.platform.db import write_transaction
from webapp.meetings.models import Meeting, Rsvp
from webapp.platform.timeutil import format_london, utcnow
from webapp.platform.tokens import TokenError, make_token, read_token

from webapp.meetings.scope import RsvpClosed
from webapp.meetings.notices import notify_many, when_text
from webapp.meetings.checkin import checkin_code


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


def attendance(meeting_id: int) -> dict[str, int]:
    """``{"going": n, "waitlisted": n, "checked_in": n}`` for a meeting's managers, in one
    statement."""
    def counted(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    going, waitlisted, checked_in = db.session.execute(
        select(counted(Rsvp.status == "going"), counted(Rsvp.status == "waitlisted"),
               counted(Rsvp.checked_in_at.is_not(None)))
        .where(Rsvp.meeting_id == meeting_id)).one()
    return {"going": going, "waitlisted": waitlisted, "checked_in": checked_in}


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
        if status == "going":
            _confirm_place(existing, meeting, "meeting_confirmed",
                           title=f"You're going: {meeting.title}",
                           body=f"Your place is booked: {when_text(meeting)}, {meeting.venue_name}.")
        result = existing
    return result


CANCEL_PURPOSE = "rsvp-cancel"


def cancel_token(row: Rsvp) -> str:
    """A signed link to give up this place without signing in (from the confirmation
    email). Bound to the RSVP and its ``seq``: a later RSVP needs a later email."""
    return make_token(CANCEL_PURPOSE, {"r": row.id, "s": row.seq})


def rsvp_for_cancel_token(token: str) -> Rsvp:
    """The RSVP a cancel link is for. Raises :class:`TokenError` ("invalid", or "used"
    when that place was already given up or renewed since)."""
    payload = read_token(CANCEL_PURPOSE, token)
    row = db.session.get(Rsvp, payload.get("r")) if isinstance(payload.get("r"), int) else None
    if row is None:
        raise TokenError("invalid")
    if row.seq != payload.get("s") or row.status == "cancelled":
        raise TokenError("used")
    return row


def _confirm_place(row: Rsvp, meeting: Meeting, kind: str, **event_kw) -> None:
    """Email (and push) the confirmation of a place: the check-in code, a link to the QR
    code, a cancel link; the email carries the meeting as an .ics attachment."""
    base = current_app.config["BASE_URL"]
    notify_many([row.user], meeting, kind, template="meetings/confirmed",
                occasion=f"rsvp {row.id} seq {row.seq}",
                extra={"checkin_code": checkin_code(meeting.id, row.user_id),
                       "checkin_path": f"/meetings/{meeting.id}#checkin",
                       "cancel_url": f"{base}/meetings/cancel/{cancel_token(row)}",
                       "promoted": kind == "waitlist_promoted"},
                **event_kw)


def my_meetings(user) -> dict[str, list]:
    """"Your meetings": ``going`` and ``waitlisted`` (upcoming, soonest first, with the
    waitlist position) and ``past`` (meetings you had a place at, with attendance)."""
    now = utcnow()
    rows = db.session.execute(
        select(Rsvp, Meeting).join(Meeting, Meeting.id == Rsvp.meeting_id)
        .where(Rsvp.user_id == user.id, Rsvp.status.in_(("going", "waitlisted")))
        .order_by(Meeting.starts_at)).all()
    going, waitlisted, past = [], [], []
    for row, meeting in rows:
        if meeting.ends_at < now:
            if row.status == "going":
                past.append({"rsvp": row, "meeting": meeting,
                             "attended": row.checked_in_at is not None})
        elif row.status == "going":
            going.append({"rsvp": row, "meeting": meeting})
        else:
            waitlisted.append({"rsvp": row, "meeting": meeting,
                               "position": waitlist_position(row)})
    past.reverse()  # most recent first
    return {"going": going, "waitlisted": waitlisted, "past": past}


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
        _confirm_place(item, meeting, "waitlist_promoted",
                       title=f"You have a place: {meeting.title}",
                       body=f"A place opened up and you are now going: {when_text(meeting)}, {meeting.venue_name}.")
    return promoted


def attendees_of(meeting: Meeting, statuses: tuple[str, ...]) -> list[User]:
    return list(db.session.scalars(
        select(User).join(Rsvp, Rsvp.user_id == User.id)
        .where(Rsvp.meeting_id == meeting.id, Rsvp.status.in_(statuses)).order_by(Rsvp.seq)))
