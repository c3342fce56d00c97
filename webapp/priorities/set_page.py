"""The lists of the officers' "Set priorities" page, read in one statement (UNION ALL):
what an action may link to, the "something else" answers and the latest rounds (issue 14:
at most six statements a page, however much the ward holds)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import DateTime, String, literal, select, union_all

from webapp.accounts.models import Concern
from webapp.alerts.models import Alert, AlertWard
from webapp.extensions import db
from webapp.meetings.models import Meeting, MeetingWard
from webapp.posts.models import WardPost
from webapp.priorities.models import PriorityRound
from webapp.priorities.ranking import FREE_TEXT_LIMIT

LINKS_PER_KIND = 15
ROUNDS_SHOWN = 5
LINK_KINDS = {"alert": "Alert", "post": "Ward post", "meeting": "Meeting"}  # in this order


@dataclass(frozen=True)
class FreeText:
    text: str
    created_at: datetime


@dataclass(frozen=True)
class RoundRow:
    id: int
    question: str
    opened_at: datetime
    closed_at: datetime | None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@dataclass
class SetPageLists:
    links: list[tuple[str, str]] = field(default_factory=list)  # (value, label), latest first
    free_text: list[FreeText] = field(default_factory=list)  # newest first
    rounds: list[RoundRow] = field(default_factory=list)  # newest first


def _part(kind: str, stmt, limit: int):
    """One part of the union: (kind, id, text, at, closed_at), its own latest ``limit``."""
    rows = stmt.limit(limit).subquery()
    return select(literal(kind, String), rows.c.id, rows.c.text, rows.c.at, rows.c.closed_at)


def _link_parts(ward_id: int) -> list:
    no_date = literal(None, DateTime).label("closed_at")
    return [
        _part("alert", select(Alert.id, Alert.title.label("text"), Alert.sent_at.label("at"), no_date)
              .join(AlertWard, AlertWard.alert_id == Alert.id)
              .where(AlertWard.ward_id == ward_id, Alert.state == "sent")
              .order_by(Alert.sent_at.desc()), LINKS_PER_KIND),
        _part("post", select(WardPost.id, WardPost.title.label("text"),
                             WardPost.created_at.label("at"), no_date)
              .where(WardPost.ward_id == ward_id).order_by(WardPost.created_at.desc()),
              LINKS_PER_KIND),
        _part("meeting", select(Meeting.id, Meeting.title.label("text"),
                                Meeting.starts_at.label("at"), no_date)
              .join(MeetingWard, MeetingWard.meeting_id == Meeting.id)
              .where(MeetingWard.ward_id == ward_id, Meeting.cancelled_at.is_(None))
              .order_by(Meeting.starts_at.desc()), LINKS_PER_KIND),
    ]


def _read(parts) -> SetPageLists:
    by_kind: dict[str, list] = {}
    for row in db.session.execute(union_all(*parts)):
        by_kind.setdefault(row[0], []).append(row)
    # Each part's own order, restored (a union keeps none): latest first.
    lists = SetPageLists()
    for kind, label in LINK_KINDS.items():
        for _, ident, text, _at, _ in sorted(by_kind.get(kind, []), key=lambda r: (r[3], r[1]),
                                             reverse=True):
            lists.links.append((f"{kind}:{ident}", f"{label}: {text}"))
    lists.free_text = [FreeText(text, at) for _, _, text, at, _ in
                       sorted(by_kind.get("free", []), key=lambda r: (r[3], r[1]), reverse=True)]
    lists.rounds = [RoundRow(ident, text, at, closed) for _, ident, text, at, closed in
                    sorted(by_kind.get("round", []), key=lambda r: r[1], reverse=True)]
    return lists


def linkable(ward_id: int) -> list[tuple[str, str]]:
    """What an action may link: the ward's sent alerts, ward posts and meetings, latest
    first, :data:`LINKS_PER_KIND` of each (the caller checks the officer covers the ward)."""
    return _read(_link_parts(ward_id)).links


def set_page_lists(ward_id: int) -> SetPageLists:
    """:func:`linkable`, the ward's "something else" answers (officers only: never public)
    and its latest rounds, in one statement."""
    free = (select(Concern.id, Concern.text.label("text"), Concern.created_at.label("at"),
                   literal(None, DateTime).label("closed_at"))
            .where(Concern.ward_id == ward_id, Concern.topic == "other",
                   Concern.text.is_not(None), Concern.text != "")
            .order_by(Concern.created_at.desc(), Concern.id.desc()))
    rounds = (select(PriorityRound.id, PriorityRound.question.label("text"),
                     PriorityRound.opened_at.label("at"), PriorityRound.closed_at)
              .where(PriorityRound.ward_id == ward_id).order_by(PriorityRound.id.desc()))
    return _read([*_link_parts(ward_id), _part("free", free, FREE_TEXT_LIMIT),
                  _part("round", rounds, ROUNDS_SHOWN)])
