"""What residents said about a ward: topics ranked with the 90-day trend by source
(survey, meeting concern cards, tagged conversations), the "something else" answers, and
how many residents named each topic (hidden below :func:`min_count`)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, union

from webapp.accounts.models import Concern, User
from webapp.extensions import db
from webapp.platform.timeutil import utcnow
from webapp.priorities.models import ConversationTopic
from webapp.priorities.scope import min_count, topic_label
from webapp.threads.models import Conversation

TREND_DAYS = 90
FREE_TEXT_LIMIT = 50


@dataclass
class TopicCount:
    """One row of "what residents said" for a topic. ``recent``: the last 90 days;
    ``previous``: the 90 days before; ``standing``: every survey answer residents hold."""

    topic: str
    survey: int = 0
    meetings: int = 0
    conversations: int = 0
    previous: int = 0
    standing: int = 0

    @property
    def label(self) -> str:
        return topic_label(self.topic)

    @property
    def recent(self) -> int:
        return self.survey + self.meetings + self.conversations

    @property
    def change(self) -> int:
        return self.recent - self.previous


def _window_counts(ward_id: int, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
    """{topic: {"survey": n, "meetings": n, "conversations": n}} for items made in
    [start, end). Survey answers count distinct residents; each meeting concern card and
    each tagged conversation counts once."""
    out: dict[str, dict[str, int]] = {}
    survey = db.session.execute(
        select(Concern.topic, func.count(func.distinct(Concern.respondent_key)))
        .where(Concern.ward_id == ward_id, Concern.source == "survey",
               Concern.created_at >= start, Concern.created_at < end)
        .group_by(Concern.topic)).all()
    meetings = db.session.execute(
        select(Concern.topic, func.count())
        .where(Concern.ward_id == ward_id, Concern.source == "meeting",
               Concern.created_at >= start, Concern.created_at < end)
        .group_by(Concern.topic)).all()
    conversations = db.session.execute(
        select(ConversationTopic.topic, func.count())
        .join(Conversation, Conversation.id == ConversationTopic.conversation_id)
        .where(Conversation.ward_id == ward_id, Conversation.created_at >= start,
               Conversation.created_at < end)
        .group_by(ConversationTopic.topic)).all()
    for key, rows in (("survey", survey), ("meetings", meetings), ("conversations", conversations)):
        for topic, n in rows:
            out.setdefault(topic, {"survey": 0, "meetings": 0, "conversations": 0})[key] = n
    return out


def topic_ranking(ward_id: int, now: datetime | None = None,
                  days: int = TREND_DAYS) -> list[TopicCount]:
    """What residents of the ward said, one row per topic anyone raised: the last
    ``days`` days by source, the change against the ``days`` before, and the standing
    survey count. Ranked by the recent total, then the standing count, then A–Z."""
    now = now or utcnow()
    span = timedelta(days=days)
    recent = _window_counts(ward_id, now - span, now + timedelta(seconds=1))
    previous = _window_counts(ward_id, now - 2 * span, now - span)
    standing = dict(db.session.execute(
        select(Concern.topic, func.count(func.distinct(Concern.respondent_key)))
        .where(Concern.ward_id == ward_id, Concern.source == "survey")
        .group_by(Concern.topic)).all())
    rows = []
    for topic in set(recent) | set(previous) | set(standing):
        r = recent.get(topic, {})
        rows.append(TopicCount(topic, survey=r.get("survey", 0), meetings=r.get("meetings", 0),
                               conversations=r.get("conversations", 0),
                               previous=sum(previous.get(topic, {}).values()),
                               standing=standing.get(topic, 0)))
    rows.sort(key=lambda row: (-row.recent, -row.standing, row.label))
    return rows


def free_text_answers(ward_id: int, limit: int = FREE_TEXT_LIMIT) -> list[Concern]:
    """The ward's "something else" answers, newest first (officers only: never public)."""
    return list(db.session.scalars(
        select(Concern).where(Concern.ward_id == ward_id, Concern.topic == "other",
                              Concern.text.is_not(None), Concern.text != "")
        .order_by(Concern.created_at.desc(), Concern.id.desc()).limit(limit)))


def residents_named(ward_id: int, topics) -> dict[str, int | None]:
    """{topic: distinct residents of the ward who named it (survey, round, meeting card,
    tagged conversation)}, None where fewer than :func:`min_count` (hidden)."""
    topics = list(topics)
    if not topics:
        return {}
    keys = union(
        select(Concern.topic.label("topic"), Concern.respondent_key.label("who"))
        .where(Concern.ward_id == ward_id, Concern.topic.in_(topics)),
        select(ConversationTopic.topic.label("topic"), User.respondent_key.label("who"))
        .join(Conversation, Conversation.id == ConversationTopic.conversation_id)
        .join(User, User.id == Conversation.resident_id)
        .where(Conversation.ward_id == ward_id, ConversationTopic.topic.in_(topics))).subquery()
    counts = dict(db.session.execute(select(keys.c.topic, func.count()).group_by(keys.c.topic)).all())
    floor = min_count()
    return {t: (counts.get(t, 0) if counts.get(t, 0) >= floor else None) for t in topics}
