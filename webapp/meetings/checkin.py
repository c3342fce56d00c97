"""Check-in at the door (a QR token or a short typed code) and the attendee lists."""
from __future__ import annotations

import base64
import hashlib
import hmac

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager

from webapp.accounts.models import User
from webapp.platform.audit import record
from webapp.extensions import db
from webapp.meetings.models import Meeting, Rsvp
from webapp.platform.timeutil import format_london, utcnow
from webapp.platform.tokens import TokenError, make_token, read_token
from webapp.platform.spreadsheet import csv_text

from webapp.meetings.scope import MeetingError, in_organising_team

CHECKIN_PURPOSE = "checkin"


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
    """Check in the resident named by a scanned token or a typed short code. The caller commits.

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
    """Mark a going resident as arrived. The caller commits. Raises :class:`MeetingError`."""
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
        db.session.flush()
    return row


def search_attendees(meeting: Meeting, query: str, limit: int = 20) -> list[Rsvp]:
    """Going or waitlisted RSVPs whose name contains every word of ``query``, each
    anywhere in the name ("pat" and "sam pat" and "patel s" all find "Sam Patel"), for the
    check-in desk."""
    words = " ".join((query or "").split())[:60].lower().split()
    if len("".join(words)) < 2:
        return []
    stmt = (select(Rsvp).join(User, User.id == Rsvp.user_id).options(contains_eager(Rsvp.user))
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
