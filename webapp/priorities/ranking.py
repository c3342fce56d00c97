"""What residents said about a ward: topics ranked with the 90-day trend by source
(survey, meeting concern cards, tagged conversations), the "something else" answers, and
how many residents named each topic (hidden below :func:`min_count`)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, literal, or_, select, union, union_all

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


@dataclass
class RoundResults:
    respondents: int
    rows: list[tuple[str, int, int]]  # (topic, round count, standing count)
    shown: bool


def _counted(condition, value=None):
    """A count of the rows meeting ``condition`` (of distinct ``value`` when given)."""
    if value is None:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)
    return func.count(func.distinct(case((condition, value))))


def residents_said(ward_id: int, rounds=(), now: datetime | None = None,
                   days: int = TREND_DAYS) -> tuple[list["TopicCount"], dict[int, RoundResults]]:
    """What residents of the ward said, in one statement: :func:`topic_ranking`'s rows, and
    the results of ``rounds`` (ids of the ward's rounds, or a SELECT of them) by round id,
    each beside the standing survey answers. Round counts appear only once
    :func:`min_count` residents answered the round."""
    now = now or utcnow()
    span = timedelta(days=days)
    start, middle, end = now - 2 * span, now - span, now + timedelta(seconds=1)

    def recent(column):
        return and_(column >= middle, column < end)

    def previous(column):
        return and_(column >= start, column < middle)

    survey, meeting = Concern.source == "survey", Concern.source == "meeting"
    key, zero = Concern.respondent_key, literal(0)
    # Columns: kind, round id, topic, then five counts (what each kind counts below).
    concerns = (select(literal("concerns"), zero, Concern.topic,
                       _counted(survey & recent(Concern.created_at), key),
                       _counted(survey & previous(Concern.created_at), key),
                       _counted(meeting & recent(Concern.created_at)),
                       _counted(meeting & previous(Concern.created_at)),
                       _counted(survey, key))
                .where(Concern.ward_id == ward_id,
                       or_(survey, meeting & (Concern.created_at >= start) & (Concern.created_at < end)))
                .group_by(Concern.topic))
    conversations = (select(literal("conversations"), zero, ConversationTopic.topic,
                            _counted(recent(Conversation.created_at)),
                            _counted(previous(Conversation.created_at)), zero, zero, zero)
                     .join(Conversation, Conversation.id == ConversationTopic.conversation_id)
                     .where(Conversation.ward_id == ward_id, Conversation.created_at >= start,
                            Conversation.created_at < end)
                     .group_by(ConversationTopic.topic))
    in_rounds = and_(Concern.source == "round", Concern.source_id.in_(rounds))
    round_topics = (select(literal("round"), Concern.source_id, Concern.topic,
                           func.count(func.distinct(key)), zero, zero, zero, zero)
                    .where(in_rounds).group_by(Concern.source_id, Concern.topic))
    respondents = (select(literal("respondents"), Concern.source_id, literal(""),
                          func.count(func.distinct(key)), zero, zero, zero, zero)
                   .where(in_rounds).group_by(Concern.source_id))
    rows = db.session.execute(union_all(concerns, conversations, round_topics, respondents)).all()

    ranking: dict[str, TopicCount] = {}
    standing: dict[str, int] = {}
    answered: dict[int, int] = {}
    in_round: dict[int, dict[str, int]] = {}
    for kind, round_id, topic, a, b, c, d, e in rows:
        if kind == "concerns":
            row = ranking.setdefault(topic, TopicCount(topic))
            row.survey, row.meetings, row.standing = a, c, e
            row.previous += b + d
            if e:
                standing[topic] = e
        elif kind == "conversations":
            row = ranking.setdefault(topic, TopicCount(topic))
            row.conversations = a
            row.previous += b
        elif kind == "round":
            in_round.setdefault(round_id, {})[topic] = a
        else:
            answered[round_id] = a
    ranked = sorted(ranking.values(), key=lambda row: (-row.recent, -row.standing, row.label))
    results = {}
    for round_id in {*answered, *in_round, *(rounds if isinstance(rounds, (list, tuple)) else ())}:
        counts = in_round.get(round_id, {})
        topics = sorted(set(counts) | set(standing),
                        key=lambda t: (-counts.get(t, 0), -standing.get(t, 0), topic_label(t)))
        results[round_id] = RoundResults(
            answered.get(round_id, 0), [(t, counts.get(t, 0), standing.get(t, 0)) for t in topics],
            answered.get(round_id, 0) >= min_count())
    return ranked, results


def topic_ranking(ward_id: int, now: datetime | None = None,
                  days: int = TREND_DAYS) -> list[TopicCount]:
    """What residents of the ward said, one row per topic anyone raised: the last
    ``days`` days by source (survey answers count distinct residents; each meeting concern
    card and each tagged conversation counts once), the change against the ``days``
    before, and the standing survey count. Ranked by the recent total, then the standing
    count, then A–Z."""
    return residents_said(ward_id, (), now, days)[0]


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
