"""Meetings: scope, set-up and changes, RSVPs with capacity and waitlist, reminders,
concerns, check-in and the summary.

RSVPs never overbook: every change of who is going happens in a transaction that holds the
meeting's lock (:func:`meeting_lock`: ``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN
IMMEDIATE`` on SQLite), then counts, then writes. Functions that take the lock commit.
Notifications go through :func:`webapp.delivery.notify`, in the same transaction as the
change they announce.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update

from webapp import delivery
from webapp.accounts import residents_following
from webapp.accounts.models import Concern, User, UserWard
from webapp.delivery import Event, notify
from webapp.posts import create_ward_post
from webapp.platform.account_data import register_account_data
from webapp.platform.audit import blank_details, record
from webapp.extensions import db
from webapp.platform.db import write_transaction
from webapp.meetings.models import ConcernAnswer, Meeting, MeetingWard, Rsvp
from webapp.platform.taxonomy import CONCERN_TEXT_MAX, CONCERN_TOPICS, MAX_CONCERNS
from webapp.platform.timeutil import format_london, utcnow
from webapp.platform.tokens import TokenError, make_token, read_token
from webapp.wards.models import Borough, Ward
from webapp.wards.services import covered_ward_ids
from webapp.platform.spreadsheet import csv_text
from webapp.wards.models import TeamMember

CHECKIN_PURPOSE = "checkin"
SUMMARY_MAX = 4000


class MeetingError(Exception):
    """A request about a meeting that cannot be done; ``str(exc)`` is the message to show."""


class RsvpClosed(MeetingError):
    """RSVPs are closed (past the closing time, started, or the meeting was cancelled)."""


class NotAllowed(MeetingError):
    """The user may not do this to this meeting."""


# --------------------------------------------------------------------------- scope
def meeting_ids_managed_by(user):
    """A SELECT of the ids of meetings ``user`` may manage: those with a ward they cover.

    Officers cover wards through their teams; a borough-wide meeting lists every ward of
    its borough, so any officer covering one of them manages it. Admins manage all.
    """
    return (select(MeetingWard.meeting_id)
            .where(MeetingWard.ward_id.in_(covered_ward_ids(user))).distinct())


def meetings_managed_by(user, *, upcoming: bool | None = None) -> list[Meeting]:
    """Meetings ``user`` manages, soonest first (``upcoming``: only future/past ones)."""
    stmt = select(Meeting).where(Meeting.id.in_(meeting_ids_managed_by(user)))
    now = utcnow()
    if upcoming is True:
        stmt = stmt.where(Meeting.ends_at >= now).order_by(Meeting.starts_at)
    elif upcoming is False:
        stmt = stmt.where(Meeting.ends_at < now).order_by(Meeting.starts_at.desc())
    else:
        stmt = stmt.order_by(Meeting.starts_at.desc())
    return list(db.session.scalars(stmt))


def can_manage(user, meeting: Meeting) -> bool:
    """True if ``user`` (an officer or admin) may edit, cancel and run ``meeting``."""
    return db.session.scalar(select(func.count()).where(
        MeetingWard.meeting_id == meeting.id,
        MeetingWard.ward_id.in_(covered_ward_ids(user)))) > 0


def managed_meeting(user, meeting_id: int) -> Meeting:
    """Return meeting ``meeting_id`` for its managers.

    Raises LookupError when it does not exist, :class:`NotAllowed` when ``user`` does not
    cover any of its wards.
    """
    meeting = db.session.get(Meeting, meeting_id)
    if meeting is None:
        raise LookupError(meeting_id)
    if not can_manage(user, meeting):
        raise NotAllowed("You do not cover this meeting's wards.")
    return meeting


def manageable_boroughs(user) -> list[Borough]:
    """Boroughs in which ``user`` covers at least one ward (for borough-wide meetings)."""
    stmt = (select(Borough).join(Ward, Ward.borough_id == Borough.id)
            .where(Ward.id.in_(covered_ward_ids(user))).distinct().order_by(Borough.name))
    return list(db.session.scalars(stmt))


def _resident_ward_ids(user):
    return select(UserWard.ward_id).where(UserWard.user_id == user.id)


def meetings_for_resident(user) -> tuple[list[Meeting], list[Meeting]]:
    """Upcoming, not cancelled meetings for ``user``: (in their wards, elsewhere in their
    boroughs). A borough-wide meeting of their borough counts as "in their wards"."""
    now = utcnow()
    mine_ids = select(MeetingWard.meeting_id).where(MeetingWard.ward_id.in_(_resident_ward_ids(user)))
    borough_ward_ids = select(Ward.id).where(Ward.borough_id.in_(
        select(Ward.borough_id).where(Ward.id.in_(_resident_ward_ids(user)))))
    nearby_ids = select(MeetingWard.meeting_id).where(MeetingWard.ward_id.in_(borough_ward_ids))
    base = (select(Meeting).where(Meeting.ends_at >= now, Meeting.cancelled_at.is_(None))
            .order_by(Meeting.starts_at))
    mine = list(db.session.scalars(base.where(Meeting.id.in_(mine_ids))))
    nearby = list(db.session.scalars(base.where(Meeting.id.in_(nearby_ids),
                                                Meeting.id.not_in(mine_ids))))
    return mine, nearby


def ward_meetings(ward: Ward, *, since: datetime | None = None, limit: int | None = None,
                  include_cancelled: bool = False) -> list[Meeting]:
    """Meetings for ``ward`` ending after ``since`` (default now), soonest first."""
    stmt = (select(Meeting).join(MeetingWard).where(MeetingWard.ward_id == ward.id,
                                                    Meeting.ends_at >= (since or utcnow()))
            .order_by(Meeting.starts_at))
    if not include_cancelled:
        stmt = stmt.where(Meeting.cancelled_at.is_(None))
    if limit:
        stmt = stmt.limit(limit)
    return list(db.session.scalars(stmt))


def lives_in_meeting_wards(user, meeting: Meeting) -> bool:
    """True if ``user`` follows (home or extra) one of the meeting's wards."""
    return db.session.scalar(select(func.count()).where(
        UserWard.user_id == user.id,
        UserWard.ward_id.in_(select(MeetingWard.ward_id).where(MeetingWard.meeting_id == meeting.id)))) > 0


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
    elif creating and details.rsvp_closes_at <= now:
        errors["rsvp_closes_at"] = "RSVPs must close in the future, or nobody could RSVP."
    if details.capacity < going:
        errors["capacity"] = f"{going} people are already going; the capacity cannot be lower."
    if details.online_url and not details.online_url.lower().startswith("https://"):
        errors["online_url"] = "The online link must start with https://"
    return errors


def create_meeting(officer, details: MeetingDetails, ward_ids: list[int],
                   borough_id: int | None = None) -> Meeting:
    """Create a meeting for wards ``officer`` covers (or their borough), audit it, invite
    the audience, and commit.

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
    db.session.commit()
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
            _notify_many(_attendees(meeting, ("going", "waitlisted")), meeting, "meeting_update",
                         title=f"Changed: {meeting.title}",
                         body=f"New time and place: {_when(meeting)}, {meeting.venue_name}.",
                         template="meetings/update", source_type="meeting_update",
                         source_id=event.id)
        _fill_places(meeting)
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
        _notify_many(_attendees(meeting, ("going", "waitlisted")), meeting, "meeting_cancelled",
                     title=f"Cancelled: {meeting.title}",
                     body=f"The meeting on {_when(meeting)} is cancelled. {reason}".strip(),
                     template="meetings/cancelled", extra={"reason": reason})
    return meeting


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
        if status == "going":
            _confirm_place(existing, meeting, "meeting_confirmed",
                           title=f"You're going: {meeting.title}",
                           body=f"Your place is booked: {_when(meeting)}, {meeting.venue_name}.")
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
    _notify_many([row.user], meeting, kind, template="meetings/confirmed",
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
                past.append({"rsvp": row, "meeting": meeting, "attended": row.checked_in_at is not None})
        elif row.status == "going":
            going.append({"rsvp": row, "meeting": meeting})
        else:
            waitlisted.append({"rsvp": row, "meeting": meeting, "position": waitlist_position(row)})
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
        promoted = _fill_places(meeting)
    return mine, (promoted[0] if promoted else None)


def _fill_places(meeting: Meeting) -> list[Rsvp]:
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
                       body=f"A place opened up and you are now going: {_when(meeting)}, {meeting.venue_name}.")
    return promoted


def _attendees(meeting: Meeting, statuses: tuple[str, ...]) -> list[User]:
    return list(db.session.scalars(
        select(User).join(Rsvp, Rsvp.user_id == User.id)
        .where(Rsvp.meeting_id == meeting.id, Rsvp.status.in_(statuses)).order_by(Rsvp.seq)))


# --------------------------------------------------------------------------- notifications
def _when(meeting: Meeting) -> str:
    return f"{format_london(meeting.starts_at, '%A %-d %B %Y, %H:%M')}–{format_london(meeting.ends_at, '%H:%M')}"


def meeting_path(meeting: Meeting) -> str:
    return f"/meetings/{meeting.id}"


def _email_context(meeting: Meeting, extra: dict | None = None) -> dict:
    """Plain values for the email templates (stored with the notification as JSON)."""
    context = {
        "title": meeting.title, "when": _when(meeting), "venue_name": meeting.venue_name,
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


def _notify_many(users, meeting: Meeting, kind: str, **event_kw) -> int:
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
                   body=f"{_when(meeting)} at {meeting.venue_name}, {meeting.address}.",
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
        _notify_many([user], meeting, "meeting_reminder", title=f"Reminder: {meeting.title}",
                     body=f"{_when(meeting)} at {meeting.venue_name}, {meeting.address}.",
                     template="meetings/reminder",
                     # The claim above decided to remind: a new RSVP (seq) or a meeting
                     # moved (sequence), even back to an earlier time, is a new reminder.
                     occasion=f"rsvp {rsvp_id} seq {seq} meeting v{meeting.sequence}")
        sent += 1
    return sent


# --------------------------------------------------------------------------- concerns
def may_submit_concerns(user, meeting: Meeting, rsvp_row: Rsvp | None = None) -> bool:
    """Anyone going, and residents of the meeting's wards, until the meeting ends."""
    if user is None or getattr(user, "role", None) != "resident" or meeting.is_cancelled:
        return False
    if utcnow() >= meeting.ends_at:
        return False
    rsvp_row = rsvp_row if rsvp_row is not None else rsvp_for(meeting.id, user.id)
    return (rsvp_row is not None and rsvp_row.status == "going") or lives_in_meeting_wards(user, meeting)


def own_concerns(meeting: Meeting, user) -> list[Concern]:
    """The concerns ``user`` submitted for ``meeting`` (only their own)."""
    return list(db.session.scalars(select(Concern).where(
        Concern.source == "meeting", Concern.source_id == meeting.id,
        Concern.user_id == user.id).order_by(Concern.id)))


def add_concern(meeting_id: int, user_id: int, topic: str, text: str) -> Concern:
    """Record one of the user's (up to three) concerns for a meeting. Commits.

    The concern counts for the resident's home ward when it is one of the meeting's
    wards, else for the meeting's main ward. Raises :class:`MeetingError` with the message
    to show (a fourth concern, a topic already given, too long, not allowed, ended).
    """
    if topic not in CONCERN_TOPICS:
        raise MeetingError("Choose a topic from the list.")
    text = " ".join((text or "").split())
    if len(text) > CONCERN_TEXT_MAX:
        raise MeetingError(f"Keep it to {CONCERN_TEXT_MAX} characters.")
    with meeting_lock(meeting_id) as meeting:
        user = db.session.get(User, user_id)
        if not may_submit_concerns(user, meeting):
            if utcnow() >= meeting.ends_at or meeting.is_cancelled:
                raise MeetingError("Concerns for this meeting are closed.")
            raise NotAllowed("Concerns are for residents going or living in the meeting's wards.")
        mine = own_concerns(meeting, user)
        if len(mine) >= MAX_CONCERNS:
            raise MeetingError(f"You can give up to {MAX_CONCERNS} concerns.")
        if any(c.topic == topic for c in mine):
            raise MeetingError("You already gave a concern on this topic; choose another.")
        meeting_ward_ids = [link.ward_id for link in meeting.ward_links]
        home = user.home_ward
        ward_id = home.id if home is not None and home.id in meeting_ward_ids else meeting_ward_ids[0]
        concern = Concern(user_id=user.id, respondent_key=user.respondent_key, ward_id=ward_id,
                          topic=topic, text=text or None, source="meeting", source_id=meeting.id)
        db.session.add(concern)
        db.session.flush()
        result = concern
    return result


def delete_concern(meeting_id: int, user_id: int, concern_id: int) -> bool:
    """Withdraw one of the user's own concerns while the meeting has not ended. Commits."""
    concern = db.session.scalar(select(Concern).where(
        Concern.id == concern_id, Concern.user_id == user_id, Concern.source == "meeting",
        Concern.source_id == meeting_id))
    meeting = db.session.get(Meeting, meeting_id)
    if concern is None or meeting is None or utcnow() >= meeting.ends_at:
        return False
    db.session.delete(concern)
    db.session.commit()
    return True


def meeting_concerns(meeting: Meeting) -> list[tuple[Concern, ConcernAnswer | None]]:
    """Every concern for ``meeting`` with its answer mark (for its managers only)."""
    rows = db.session.execute(
        select(Concern, ConcernAnswer).outerjoin(ConcernAnswer, ConcernAnswer.concern_id == Concern.id)
        .where(Concern.source == "meeting", Concern.source_id == meeting.id)
        .order_by(Concern.topic, Concern.created_at)).all()
    return [(c, a) for c, a in rows]


def concern_counts(meeting: Meeting) -> list[tuple[str, str, int]]:
    """(topic code, label, count) for the meeting's concerns, most raised first."""
    rows = db.session.execute(
        select(Concern.topic, func.count()).where(Concern.source == "meeting",
                                                  Concern.source_id == meeting.id)
        .group_by(Concern.topic)).all()
    counts = [(topic, CONCERN_TOPICS.get(topic, topic), n) for topic, n in rows]
    return sorted(counts, key=lambda item: (-item[2], item[1]))


def concern_chart(counts: list[tuple[str, str, int]], width: int = 600) -> dict:
    """Geometry for the server-rendered SVG bar chart (no inline styles: CSS classes)."""
    bar_h, gap, label_w = 24, 10, 260
    top = max((n for _, _, n in counts), default=0) or 1
    bars = []
    for i, (topic, label, n) in enumerate(counts):
        y = i * (bar_h + gap)
        bars.append({"topic": topic, "label": label, "count": n, "y": y,
                     "text_y": y + bar_h * 0.7, "width": max(2, round((width - label_w - 40) * n / top))})
    return {"bars": bars, "width": width, "height": max(1, len(counts)) * (bar_h + gap),
            "label_w": label_w, "bar_h": bar_h}


def mark_answered(officer, meeting: Meeting, concern_id: int, answered: bool) -> bool:
    """Mark (or unmark) a concern of ``meeting`` as answered. Commits. False if not found."""
    concern = db.session.scalar(select(Concern).where(
        Concern.id == concern_id, Concern.source == "meeting", Concern.source_id == meeting.id))
    if concern is None:
        return False
    answer = db.session.get(ConcernAnswer, concern.id)
    if answered and answer is None:
        db.session.add(ConcernAnswer(concern_id=concern.id, answered_by_id=officer.id))
        record(officer, "meeting.concern_answered", meeting, f"concern {concern.id}")
    elif not answered and answer is not None:
        db.session.delete(answer)
        record(officer, "meeting.concern_unanswered", meeting, f"concern {concern.id}")
    db.session.commit()
    return True


# --------------------------------------------------------------------------- check-in
def checkin_token(meeting: Meeting, user) -> str:
    """A signed token for the QR code, bound to this meeting and this resident."""
    return make_token(CHECKIN_PURPOSE, {"m": meeting.id, "u": user.id})


def checkin_code(meeting_id: int, user_id: int) -> str:
    """A short code to type when the QR code cannot be scanned ("ABCD-EFGH").

    An HMAC of meeting and user with the app's secret, so it cannot be guessed or reused
    for another meeting.
    """
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"wardline.checkin-code:{meeting_id}:{user_id}".encode(), hashlib.sha256).digest()
    code = base64.b32encode(digest).decode()[:8]
    return f"{code[:4]}-{code[4:]}"


def _normalise_code(value: str) -> str:
    return "".join(ch for ch in value.upper() if ch.isalnum())


def check_in_by_token(officer, meeting: Meeting, value: str) -> Rsvp:
    """Check in the resident named by a scanned token or a typed short code. Commits.

    Raises :class:`MeetingError` for a forged token, another meeting's token, or someone
    not going. Checking in twice keeps the first time.
    """
    value = (value or "").strip()[:500]
    if not value:
        raise MeetingError("Scan a code or type it in.")
    user_id = None
    if len(_normalise_code(value)) == 8:
        wanted = _normalise_code(value)
        for candidate in db.session.scalars(select(Rsvp.user_id).where(
                Rsvp.meeting_id == meeting.id, Rsvp.status.in_(("going", "waitlisted")))):
            if hmac.compare_digest(_normalise_code(checkin_code(meeting.id, candidate)), wanted):
                user_id = candidate
                break
        if user_id is None:
            raise MeetingError("That code is not valid for this meeting.")
    else:
        try:
            payload = read_token(CHECKIN_PURPOSE, value)
        except TokenError:
            raise MeetingError("That code is not valid: it was not issued by Wardline.") from None
        if not isinstance(payload, dict) or payload.get("m") != meeting.id:
            raise MeetingError("That code is for a different meeting.")
        user_id = payload.get("u")
    return check_in(officer, meeting, user_id=user_id)


def check_in(officer, meeting: Meeting, *, user_id: int | None = None,
             rsvp_id: int | None = None) -> Rsvp:
    """Mark a going resident as arrived. Commits. Raises :class:`MeetingError`."""
    stmt = select(Rsvp).where(Rsvp.meeting_id == meeting.id)
    stmt = stmt.where(Rsvp.id == rsvp_id) if rsvp_id is not None else stmt.where(Rsvp.user_id == user_id)
    row = db.session.scalar(stmt)
    if row is None or row.status == "cancelled":
        raise MeetingError("This person has no place at this meeting.")
    if row.status != "going":
        raise MeetingError(f"{row.user.display_name} is on the waitlist, not going.")
    # Scanning a code twice says so ("already checked in at 18:32"), keeping the first time.
    row.already_checked_in = row.checked_in_at is not None
    if row.checked_in_at is None:
        row.checked_in_at = utcnow()
        row.checked_in_by_id = officer.id
        record(officer, "meeting.check_in", meeting, f"rsvp {row.id}")
        db.session.commit()
    return row


def search_attendees(meeting: Meeting, query: str, limit: int = 20) -> list[Rsvp]:
    """Going or waitlisted RSVPs whose name contains every word of ``query``, each
    anywhere in the name ("pat" and "sam pat" and "patel s" all find "Sam Patel"), for the
    check-in desk."""
    words = " ".join((query or "").split())[:60].lower().split()
    if len("".join(words)) < 2:
        return []
    stmt = (select(Rsvp).join(User, User.id == Rsvp.user_id)
            .where(Rsvp.meeting_id == meeting.id, Rsvp.status.in_(("going", "waitlisted"))))
    for word in words[:6]:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(func.lower(User.display_name).like(f"%{escaped}%", escape="\\"))
    return list(db.session.scalars(stmt.order_by(User.display_name).limit(limit)))


def attendee_list(meeting: Meeting) -> list[Rsvp]:
    """Going and waitlisted RSVPs in queue order (for managers)."""
    return list(db.session.scalars(
        select(Rsvp).where(Rsvp.meeting_id == meeting.id, Rsvp.status.in_(("going", "waitlisted")))
        .order_by(Rsvp.status, Rsvp.seq)))


def in_organising_team(user, meeting: Meeting) -> bool:
    """True for the meeting's creator and the members of the creator's teams.

    They are the "organising team", who may see attendees' email addresses.
    """
    if user is None or meeting.created_by_id is None:
        return False
    if user.id == meeting.created_by_id:
        return True
    creator_teams = select(TeamMember.team_id).where(TeamMember.user_id == meeting.created_by_id)
    return db.session.scalar(select(func.count()).where(
        TeamMember.user_id == user.id, TeamMember.team_id.in_(creator_teams))) > 0


def attendee_csv(meeting: Meeting, viewer) -> str:
    """The attendee list as CSV: names, status, check-in; emails for the organising team."""

    with_email = in_organising_team(viewer, meeting)
    header = ["name", "status", "waitlist_position", "checked_in_at"]
    rows, position = [], 0
    for row in attendee_list(meeting):
        if row.status == "waitlisted":
            position += 1
        values = [row.user.display_name, row.status,
                  position if row.status == "waitlisted" else "",
                  format_london(row.checked_in_at) if row.checked_in_at else ""]
        rows.append(values + ([row.user.email] if with_email else []))
    return csv_text(header + (["email"] if with_email else []), rows)


# --------------------------------------------------------------------------- summary
def post_summary(officer, meeting: Meeting, text: str) -> Meeting:
    """Post the after-meeting summary: to everyone who was going (notification) and as a
    post on each of the meeting's wards. Commits.

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
    _notify_many(_attendees(meeting, ("going",)), meeting, "meeting_summary",
                 title=f"Summary: {meeting.title}", body=text[:500],
                 template="meetings/summary", extra={"summary": text})
    db.session.commit()
    return meeting


def _post_to_wards(officer, meeting: Meeting, text: str) -> None:
    title = f"Meeting summary: {meeting.title}"[:120]
    for ward in meeting.wards:
        create_ward_post(ward, officer, title, text, kind="meeting_summary")


# --------------------------------------------------------------------------- account data
def export_meetings(user) -> tuple[str, object]:
    """"Download my data": the user's RSVPs and meeting concerns (accounts.EXPORTERS)."""
    def iso(value):
        return value.isoformat() + "Z" if value else None

    rows = db.session.execute(select(Rsvp, Meeting).join(Meeting, Meeting.id == Rsvp.meeting_id)
                              .where(Rsvp.user_id == user.id).order_by(Meeting.starts_at)).all()
    concerns = db.session.execute(
        select(Concern, Meeting.title).join(Meeting, Meeting.id == Concern.source_id)
        .where(Concern.user_id == user.id, Concern.source == "meeting").order_by(Concern.id)).all()
    return "meetings", {
        "rsvps": [{"meeting": m.title, "meeting_id": m.id, "starts_at": iso(m.starts_at),
                   "status": r.status, "rsvp_at": iso(r.created_at),
                   "cancelled_at": iso(r.cancelled_at), "checked_in_at": iso(r.checked_in_at)}
                  for r, m in rows],
        "concerns": [{"meeting": title, "meeting_id": c.source_id, "topic": c.topic,
                      "label": CONCERN_TOPICS.get(c.topic, c.topic), "text": c.text,
                      "created_at": iso(c.created_at)} for c, title in concerns],
    }


def forget_meetings(user) -> None:
    """Account deletion (accounts.DELETERS): give up the user's places in meetings still to
    come, promoting the waitlist, then remove their RSVPs. Runs in the deletion's
    transaction and does not commit. (Concerns are anonymised by accounts itself.)
    """
    now = utcnow()
    for row in list(db.session.scalars(select(Rsvp).where(Rsvp.user_id == user.id))):
        # Lock the meeting row (PostgreSQL) so the promotion cannot race with RSVPs.
        meeting = db.session.get(Meeting, row.meeting_id, with_for_update=True)
        was_going = row.status == "going"
        db.session.delete(row)
        db.session.flush()
        if was_going and meeting.starts_at > now:
            _fill_places(meeting)


def erase_rsvp_traces(user) -> None:
    """Account deletion: the audit events about the user's RSVPs keep their time, not
    their words."""
    blank_details("rsvps", select(Rsvp.id).where(Rsvp.user_id == user.id))


register_account_data(export=export_meetings, erase=erase_rsvp_traces, forget=forget_meetings)
