"""Concerns residents raise for a meeting (``Concern`` rows, ``source="meeting"``) and the
officers' answers."""
from __future__ import annotations


from sqlalchemy import func, select

from webapp.accounts.models import Concern, User
from webapp.platform.audit import record
from webapp.extensions import db
from webapp.meetings.models import ConcernAnswer, Meeting, Rsvp
from webapp.platform.taxonomy import CONCERN_TEXT_MAX, CONCERN_TOPICS, MAX_CONCERNS
from webapp.platform.timeutil import utcnow

from webapp.meetings.scope import MeetingError, NotAllowed, lives_in_meeting_wards
from webapp.meetings.rsvps import meeting_lock, rsvp_for


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
    """Withdraw one of the user's own concerns while the meeting has not ended. The caller commits."""
    concern = db.session.scalar(select(Concern).where(
        Concern.id == concern_id, Concern.user_id == user_id, Concern.source == "meeting",
        Concern.source_id == meeting_id))
    meeting = db.session.get(Meeting, meeting_id)
    if concern is None or meeting is None or utcnow() >= meeting.ends_at:
        return False
    db.session.delete(concern)
    db.session.flush()
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


def concern_chart(counts: list[tuple[str, str, int]], width: int = 340) -> dict:
    """Geometry for the server-rendered SVG bar chart (no inline styles: CSS classes).
    Each label sits above its bar, and the chart is about as wide as a phone's column, so
    the text is drawn at its own size (not shrunk) at 390 px."""
    label_h, bar_h, gap = 18, 16, 12
    row = label_h + bar_h + gap
    top = max((n for _, _, n in counts), default=0) or 1
    bars = []
    for i, (topic, label, n) in enumerate(counts):
        y = i * row
        width_n = max(2, round((width - 40) * n / top))
        bars.append({"topic": topic, "label": label, "count": n, "label_y": y + 14,
                     "y": y + label_h, "text_y": y + label_h + bar_h - 3, "width": width_n})
    return {"bars": bars, "width": width, "height": max(1, len(counts)) * row,
            "label_w": 0, "bar_h": bar_h}


def mark_answered(officer, meeting: Meeting, concern_id: int, answered: bool) -> bool:
    """Mark (or unmark) a concern of ``meeting`` as answered. The caller commits. False if not found."""
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
    db.session.flush()
    return True
