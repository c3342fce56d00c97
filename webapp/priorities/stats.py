"""Responsiveness in public: per ward (``/wards/<code>/stats``) and per borough (``/stats``).

Over the last 90 days: conversations started, the share answered and the median time to
the team's first reply, the share closed without a reply; alerts sent by category;
meetings held and attendance (check-ins); priorities with an action in the last 30 days.
Aggregates only. A figure counted over people (conversations, attendance) is hidden while
it rests on fewer than ``STATS_MIN_COUNT`` of them, so no one is identifiable; figures
about what the team did (alerts, meetings held, priorities) are shown as they are.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select

from webapp.extensions import db
from webapp.priorities.services import min_count
from webapp.platform.timeutil import to_london, utcnow
from webapp.wards.models import Borough, Ward
from webapp.alerts.models import Alert, AlertWard
from webapp.meetings.models import Meeting, MeetingWard, Rsvp
from webapp.priorities.models import Priority, PriorityAction
from webapp.threads.models import Conversation, Message

WINDOW = timedelta(days=90)
ACTIVE = timedelta(days=30)


@dataclass
class Stats:
    """The figures for one ward or borough. ``None`` means hidden (too few to show)."""

    conversations: int = 0
    answered: int = 0
    closed_no_reply: int = 0
    reply_hours: list[float] = field(default_factory=list)
    alerts: dict[str, int] = field(default_factory=dict)
    meetings_held: int = 0
    attendance: int = 0
    priorities_current: int = 0
    priorities_active: int = 0
    floor: int = 5

    @property
    def conversations_shown(self) -> bool:
        return self.conversations >= self.floor

    @property
    def answered_share(self) -> float | None:
        return self.answered / self.conversations if self.conversations_shown else None

    @property
    def closed_share(self) -> float | None:
        return self.closed_no_reply / self.conversations if self.conversations_shown else None

    @property
    def median_reply_hours(self) -> float | None:
        if not self.conversations_shown or len(self.reply_hours) < self.floor:
            return None
        return round(statistics.median(self.reply_hours), 1)

    @property
    def attendance_shown(self) -> int | None:
        return self.attendance if self.attendance >= self.floor else None

    @property
    def alerts_total(self) -> int:
        return sum(self.alerts.values())


def _grouped(ward_ids: list[int] | None, group_by_borough: bool, now: datetime) -> dict:
    """{key: Stats}; key = ward id, or borough id when ``group_by_borough``."""

    start = now - WINDOW
    floor = min_count()
    out: dict[int, Stats] = {}

    def key_col(ward_col):
        return Ward.borough_id if group_by_borough else ward_col

    def scoped(stmt, ward_col):
        stmt = stmt.join(Ward, Ward.id == ward_col)
        return stmt.where(ward_col.in_(ward_ids)) if ward_ids is not None else stmt

    def get(key) -> Stats:
        return out.setdefault(key, Stats(floor=floor))

    first_reply = (select(Message.conversation_id, func.min(Message.created_at).label("at"))
                   .where(Message.from_officer.is_(True)).group_by(Message.conversation_id)
                   .subquery())
    rows = db.session.execute(scoped(
        select(key_col(Conversation.ward_id), Conversation.created_at, Conversation.status,
               first_reply.c.at)
        .outerjoin(first_reply, first_reply.c.conversation_id == Conversation.id)
        .where(Conversation.created_at >= start, Conversation.created_at <= now),
        Conversation.ward_id)).all()
    for key, created, status, replied in rows:
        s = get(key)
        s.conversations += 1
        if replied is not None:
            s.answered += 1
            s.reply_hours.append(max((replied - created).total_seconds(), 0) / 3600)
        elif status == "closed":
            s.closed_no_reply += 1

    for key, category, n in db.session.execute(scoped(
            select(key_col(AlertWard.ward_id), Alert.category, func.count(func.distinct(Alert.id)))
            .select_from(AlertWard).join(Alert, Alert.id == AlertWard.alert_id)
            .where(Alert.state == "sent", Alert.sent_at >= start, Alert.sent_at <= now),
            AlertWard.ward_id).group_by(key_col(AlertWard.ward_id), Alert.category)).all():
        get(key).alerts[category] = n

    held = and_(Meeting.cancelled_at.is_(None), Meeting.ends_at >= start, Meeting.ends_at <= now)
    for key, n in db.session.execute(scoped(
            select(key_col(MeetingWard.ward_id), func.count(func.distinct(Meeting.id)))
            .select_from(MeetingWard).join(Meeting, Meeting.id == MeetingWard.meeting_id)
            .where(held), MeetingWard.ward_id).group_by(key_col(MeetingWard.ward_id))).all():
        get(key).meetings_held = n
    for key, n in db.session.execute(scoped(
            select(key_col(MeetingWard.ward_id), func.count(func.distinct(Rsvp.id)))
            .select_from(MeetingWard).join(Meeting, Meeting.id == MeetingWard.meeting_id)
            .join(Rsvp, Rsvp.meeting_id == Meeting.id)
            .where(held, Rsvp.checked_in_at.is_not(None)), MeetingWard.ward_id)
            .group_by(key_col(MeetingWard.ward_id))).all():
        get(key).attendance = n

    since = to_london(now - ACTIVE).date()
    acted = (select(PriorityAction.priority_id).where(PriorityAction.acted_on >= since)
             .distinct().subquery())
    for key, current, active in db.session.execute(scoped(
            select(key_col(Priority.ward_id), func.count(Priority.id),
                   func.count(acted.c.priority_id))
            .outerjoin(acted, acted.c.priority_id == Priority.id)
            .where(Priority.status == "current"), Priority.ward_id)
            .group_by(key_col(Priority.ward_id))).all():
        s = get(key)
        s.priorities_current, s.priorities_active = current, active
    return out


def ward_stats(ward: Ward, now: datetime | None = None) -> Stats:
    return _grouped([ward.id], False, now or utcnow()).get(ward.id, Stats(floor=min_count()))


SORT_KEYS = {
    "borough": "Borough", "conversations": "Conversations", "answered": "Answered",
    "median": "Median first reply", "closed": "Closed without reply", "alerts": "Alerts sent",
    "meetings": "Meetings held", "attendance": "Attendance", "priorities": "Priorities acted on",
}


def _sort_value(row, key: str):
    s = row["stats"]
    return {"borough": row["borough"].name, "conversations": s.conversations if s.conversations_shown else None,
            "answered": s.answered_share, "median": s.median_reply_hours,
            "closed": s.closed_share, "alerts": s.alerts_total, "meetings": s.meetings_held,
            "attendance": s.attendance_shown, "priorities": s.priorities_active}[key]


def london_stats(sort: str = "borough", descending: bool = False,
                 now: datetime | None = None) -> list[dict]:
    """One row per borough ({"borough", "stats"}), sorted by ``sort``; hidden figures
    always sort last."""
    sort = sort if sort in SORT_KEYS else "borough"
    grouped = _grouped(None, True, now or utcnow())
    rows = [{"borough": b, "stats": grouped.get(b.id, Stats(floor=min_count()))}
            for b in db.session.scalars(select(Borough).order_by(Borough.name))]
    shown = [r for r in rows if _sort_value(r, sort) is not None]
    hidden = [r for r in rows if _sort_value(r, sort) is None]
    shown.sort(key=lambda r: (_sort_value(r, sort), r["borough"].name), reverse=descending)
    return shown + hidden


def bar_chart(items: list[tuple[str, float | None]], width: float = 260.0, row: int = 26) -> dict:
    """Layout for a server-rendered horizontal SVG bar chart: items (label, value); a None
    value is drawn as "hidden"."""
    top = max((v for _, v in items if v), default=0) or 1
    bars = [{"label": label, "value": value, "y": i * row,
             "width": round(max(width * (value or 0) / top, 2), 1) if value is not None else 0}
            for i, (label, value) in enumerate(items)]
    return {"bars": bars, "height": max(len(bars) * row, row), "row": row}
