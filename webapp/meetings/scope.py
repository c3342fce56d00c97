"""Meetings: errors, and who manages or sees which meetings (every query of meetings for a
user goes through these)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, exists, func, or_, select
from sqlalchemy.orm import selectinload

from webapp.accounts.models import UserWard
from webapp.extensions import db
from webapp.meetings.models import Meeting, MeetingWard
from webapp.platform.timeutil import utcnow
from webapp.wards.models import Borough, Ward
from webapp.wards.services import covered_ward_ids
from webapp.wards.models import TeamMember




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
    stmt = (select(Meeting).where(Meeting.id.in_(meeting_ids_managed_by(user)))
            .options(selectinload(Meeting.borough),  # audience_label: a query per list
                     selectinload(Meeting.ward_links).joinedload(MeetingWard.ward)))
    now = utcnow()
    if upcoming is True:
        stmt = stmt.where(Meeting.ends_at >= now).order_by(Meeting.starts_at)
    elif upcoming is False:
        stmt = stmt.where(Meeting.ends_at < now).order_by(Meeting.starts_at.desc())
    else:
        stmt = stmt.order_by(Meeting.starts_at.desc())
    return list(db.session.scalars(stmt))


def _manages(user, meeting_id):
    return exists().where(MeetingWard.meeting_id == meeting_id,
                          MeetingWard.ward_id.in_(covered_ward_ids(user)))


def can_manage(user, meeting: Meeting) -> bool:
    """True if ``user`` (an officer or admin) may edit, cancel and run ``meeting``."""
    return bool(db.session.scalar(select(_manages(user, meeting.id))))


def managed_meeting(user, meeting_id: int) -> Meeting:
    """Return meeting ``meeting_id`` for its managers.

    Raises LookupError when it does not exist, :class:`NotAllowed` when ``user`` does not
    cover any of its wards.
    """
    row = db.session.execute(select(Meeting, _manages(user, Meeting.id))
                             .where(Meeting.id == meeting_id)).first()
    if row is None:
        raise LookupError(meeting_id)
    meeting, allowed = row
    if not allowed:
        raise NotAllowed("You do not cover this meeting's wards.")
    return meeting


def manageable_boroughs(covered: list[Ward]) -> list[Borough]:
    """Boroughs in which the officer covers at least one ward (for borough-wide meetings),
    from the wards they cover (``covered_wards``: each comes with its borough)."""
    return sorted({ward.borough.id: ward.borough for ward in covered}.values(),
                  key=lambda borough: borough.name)


def _resident_meetings_statement():
    """Upcoming, not cancelled meetings in or near the wards of the resident ``:user_id`` at
    ``:now``, each with whether it is in their wards: one statement (a second round trip
    cost as much CPU as the rest of the page's SQL), built once, values bound at run time
    (building it cost about as much CPU as running it, issue 14)."""
    ward_ids = select(UserWard.ward_id).where(UserWard.user_id == bindparam("user_id"))
    mine_ids = select(MeetingWard.meeting_id).where(MeetingWard.ward_id.in_(ward_ids))
    borough_ward_ids = select(Ward.id).where(Ward.borough_id.in_(
        select(Ward.borough_id).where(Ward.id.in_(ward_ids))))
    nearby_ids = select(MeetingWard.meeting_id).where(MeetingWard.ward_id.in_(borough_ward_ids))
    return (select(Meeting, Meeting.id.in_(mine_ids))
            .where(Meeting.ends_at >= bindparam("now"), Meeting.cancelled_at.is_(None),
                   or_(Meeting.id.in_(mine_ids), Meeting.id.in_(nearby_ids)))
            .order_by(Meeting.starts_at))


_MINE_AND_NEARBY = _resident_meetings_statement()


def meetings_for_resident(user) -> tuple[list[Meeting], list[Meeting]]:
    """Upcoming, not cancelled meetings for ``user``: (in their wards, elsewhere in their
    boroughs). A borough-wide meeting of their borough counts as "in their wards"."""
    mine, nearby = [], []
    for meeting, in_their_wards in db.session.execute(
            _MINE_AND_NEARBY, {"user_id": user.id, "now": utcnow()}):
        (mine if in_their_wards else nearby).append(meeting)
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
