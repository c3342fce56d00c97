"""Ward priorities: what residents said (ranked, with the 90-day trend), setting and
acting on priorities, telling exactly the residents who raised a linked topic, topic tags
on conversations, and "ask residents again" rounds.

Who is told about a priority (:func:`raisers`): residents (confirmed) who still follow the
ward and who raised one of its linked topics *in that ward*, through the survey, a round,
a meeting concern card or a conversation an officer tagged with the topic, and who keep
the **"outcomes"** alert category ("Successful outcomes and operations") on: a priority
set, acted on or closed is news of what the team did, which is what that category
promises. Turning the category off stops these messages. Each resident gets one message
per event ("You told us about <the topic they named>. Here is what we did."), written
set-based by :func:`webapp.delivery.fan_out` (one broadcast per topic, each resident once),
so their email frequency (digest included) and push devices decide the channels.

Views commit; these functions only flush.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, select, union

from webapp.accounts import residents_following
from webapp.accounts.models import Concern, User, UserWard
from webapp.platform.audit import record
from webapp.delivery import Event, fan_out
from webapp.extensions import db
from webapp.priorities.models import (ACTION_MAX, COMMITMENT_MAX, OUTCOME_MAX,
                                      QUESTION_MAX, TITLE_MAX, ConversationTopic, Priority,
                                      PriorityAction, PriorityRound, PriorityTopic)
from webapp.platform.taxonomy import CONCERN_TOPICS, MAX_CONCERNS
from webapp.platform.timeutil import to_london, utcnow
from webapp.wards.models import Ward
from webapp.wards.services import covered_ward_ids, covers_ward
from webapp.posts import scrub_identity
from webapp.threads.models import Conversation
from webapp.alerts.models import Alert, AlertWard
from webapp.meetings.models import Meeting, MeetingWard
from webapp.posts.models import WardPost
from webapp.accounts.services import AnswerError, set_concerns, survey_concerns
from webapp.platform.account_data import register_account_data

#: The alert category residents keep on to hear about priorities (see the module docstring).
PRIORITY_CATEGORY = "outcomes"
TREND_DAYS = 90
MAX_REVIEW_AHEAD = timedelta(days=366)
FREE_TEXT_LIMIT = 50


class PriorityError(ValueError):
    """Input to correct; ``field`` names the form field it belongs to."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def max_priorities() -> int:
    return max(1, int(current_app.config.get("PRIORITIES_MAX", 3)))


def min_count() -> int:
    """Below this many people a public count is hidden (see ``STATS_MIN_COUNT``)."""
    return max(1, int(current_app.config.get("STATS_MIN_COUNT", 5)))


def topic_label(topic: str) -> str:
    return CONCERN_TOPICS.get(topic, topic)


def _scrub(text: str) -> str:
    """Public officer text keeps no email address or phone number (as ward posts)."""
    return scrub_identity((text or "").strip(), None)


# --------------------------------------------------------------------------- scope
def may_edit(user, ward_id: int) -> bool:
    """Only the officers of the teams covering the ward (and admins) edit its priorities."""
    return bool(user and getattr(user, "is_authenticated", False) and user.is_staff
                and covers_ward(user, ward_id))


def priorities_editable_by(user):
    """SELECT of the priorities ``user`` may change."""
    return select(Priority).where(Priority.ward_id.in_(covered_ward_ids(user)))


def get_priority_for(user, priority_id: int) -> Priority | None:
    return db.session.scalar(priorities_editable_by(user).where(Priority.id == priority_id))


def get_round_for(user, round_id: int) -> PriorityRound | None:
    return db.session.scalar(select(PriorityRound).where(
        PriorityRound.id == round_id, PriorityRound.ward_id.in_(covered_ward_ids(user))))


# --------------------------------------------------------------------------- what residents said
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


# --------------------------------------------------------------------------- who is told
def _raised_rows(ward_id: int, topics):
    """SELECT (user_id, topic): who raised which of ``topics`` in the ward."""
    return union(
        select(Concern.user_id.label("user_id"), Concern.topic.label("topic"))
        .where(Concern.ward_id == ward_id, Concern.topic.in_(topics),
               Concern.user_id.is_not(None)),
        select(Conversation.resident_id.label("user_id"), ConversationTopic.topic.label("topic"))
        .join(ConversationTopic, ConversationTopic.conversation_id == Conversation.id)
        .where(Conversation.ward_id == ward_id, ConversationTopic.topic.in_(topics)))


def _audience(ward_id: int):
    """Residents who follow the ward and keep the "outcomes" category (the accounts
    domain's audience SQL: user_id, email_frequency)."""
    return residents_following([ward_id], PRIORITY_CATEGORY).subquery("following")


def raisers(ward_id: int, topics) -> dict[int, str]:
    """{user id: the topic to name in their message} for the residents to tell (see the
    module docstring): raised one of ``topics`` in the ward, still follow it, keep the
    "outcomes" category. A resident who raised several gets the first in A–Z order of
    label (as :func:`_tell` groups them)."""
    topics = [t for t in topics if t in CONCERN_TOPICS]
    if not topics:
        return {}
    raised = _raised_rows(ward_id, topics).subquery()
    who = _audience(ward_id)
    rows = db.session.execute(select(who.c.user_id, raised.c.topic)
                              .join(raised, raised.c.user_id == who.c.user_id)).all()
    out: dict[int, str] = {}
    for user_id, topic in sorted(rows, key=lambda r: (r[0], topic_label(r[1]))):
        out.setdefault(user_id, topic)
    return out


def priority_url(priority: Priority) -> str:
    return f"/wards/{priority.ward.code}/priorities/{priority.id}"


def _tell(priority: Priority, what: str, detail: str, occasion: str,
          only: set[int] | None = None) -> int:
    """Queue "You told us about X. Here is what we did." for the residents who raised a
    linked topic (:func:`raisers`), set-based through :func:`webapp.delivery.fan_out`: one
    message per topic, each resident in the group of the first topic they raised (A–Z by
    label), so nobody hears twice. ``only``: limit to these user ids. Returns the number of
    outbox rows written."""
    topics = sorted((t for t in priority.topics if t in CONCERN_TOPICS), key=topic_label)
    body = (f"{what}: {detail}" if detail else what)[:600]
    who = _audience(priority.ward_id)
    written, earlier = 0, []
    for topic in topics:
        raised = select(_raised_rows(priority.ward_id, [topic]).subquery().c.user_id)
        audience = select(who.c.user_id, who.c.email_frequency).where(who.c.user_id.in_(raised))
        if earlier:
            before = select(_raised_rows(priority.ward_id, earlier).subquery().c.user_id)
            audience = audience.where(who.c.user_id.not_in(before))
        if only is not None:
            audience = audience.where(who.c.user_id.in_(sorted(only) or [0]))
        label = topic_label(topic)
        written += fan_out(Event(
            kind="priority", source_type="priority", source_id=priority.id,
            title=f"You told us about {label[0].lower() + label[1:]}. Here is what we did.",
            body=body, url=priority_url(priority), category=PRIORITY_CATEGORY,
            tag=f"priority-{priority.id}", occasion=f"{occasion}:{topic}"), audience)
        earlier.append(topic)
    return written


# --------------------------------------------------------------------------- priorities
@dataclass
class PriorityInput:
    title: str
    commitment: str
    topics: list[str] = field(default_factory=list)
    review_on: date | None = None


def _validate(data: PriorityInput, today: date) -> PriorityInput:
    title = " ".join((data.title or "").split())
    commitment = (data.commitment or "").strip()
    topics = list(dict.fromkeys(data.topics or []))
    if not title:
        raise PriorityError("title", "Give the priority a short title.")
    if len(title) > TITLE_MAX:
        raise PriorityError("title", f"Use at most {TITLE_MAX} characters.")
    if not commitment:
        raise PriorityError("commitment", "Say what the team will do.")
    if len(commitment) > COMMITMENT_MAX:
        raise PriorityError("commitment", f"Use at most {COMMITMENT_MAX} characters.")
    if not topics:
        raise PriorityError("topics", "Link at least one topic residents raised.")
    if any(t not in CONCERN_TOPICS for t in topics):
        raise PriorityError("topics", "Choose topics from the list.")
    if data.review_on is None:
        raise PriorityError("review_on", "Give a review date.")
    if data.review_on <= today:
        raise PriorityError("review_on", "The review date must be in the future.")
    if data.review_on > today + MAX_REVIEW_AHEAD:
        raise PriorityError("review_on", "Review within a year.")
    return PriorityInput(_scrub(title), _scrub(commitment), topics, data.review_on)


def current_priorities(ward_id: int) -> list[Priority]:
    return list(db.session.scalars(select(Priority).where(
        Priority.ward_id == ward_id, Priority.status == "current")
        .order_by(Priority.created_at, Priority.id)))


def earlier_priorities(ward_id: int) -> list[Priority]:
    return list(db.session.scalars(select(Priority).where(
        Priority.ward_id == ward_id, Priority.status == "closed")
        .order_by(Priority.closed_at.desc(), Priority.id.desc())))


def public_priority(ward_id: int, priority_id: int) -> Priority | None:
    return db.session.scalar(select(Priority).where(Priority.id == priority_id,
                                                    Priority.ward_id == ward_id))


def create_priority(user, ward: Ward, data: PriorityInput, now: datetime | None = None) -> Priority:
    """Publish a priority for ``ward`` and tell the residents who raised its topics."""
    now = now or utcnow()
    if not may_edit(user, ward.id):
        raise PermissionError("not your ward")
    clean = _validate(data, to_london(now).date())
    if len(current_priorities(ward.id)) >= max_priorities():
        raise PriorityError("title", f"{ward.name} already has {max_priorities()} current "
                                     "priorities. Close one with its outcome first.")
    priority = Priority(ward_id=ward.id, title=clean.title, commitment=clean.commitment,
                        review_on=clean.review_on, created_by_id=user.id, created_at=now,
                        updated_at=now)
    priority.topic_links = [PriorityTopic(topic=t) for t in clean.topics]
    db.session.add(priority)
    db.session.flush()
    record(user, "priority.create", priority, f"{ward.code}: {clean.title}")
    _tell(priority, "We made it a ward priority", f"{clean.title}. {clean.commitment}", "set")
    return priority


def update_priority(user, priority: Priority, data: PriorityInput,
                    now: datetime | None = None) -> Priority:
    """Change a current priority. Residents of a newly linked topic (not already told
    through another of its topics) are told it was set."""
    now = now or utcnow()
    if priority.status != "current":
        raise PriorityError("title", "This priority is closed.")
    clean = _validate(data, to_london(now).date())
    before = set(raisers(priority.ward_id, priority.topics))
    priority.title, priority.commitment = clean.title, clean.commitment
    priority.review_on, priority.updated_at = clean.review_on, now
    keep = [link for link in priority.topic_links if link.topic in clean.topics]
    have = {link.topic for link in keep}
    priority.topic_links = keep + [PriorityTopic(topic=t) for t in clean.topics if t not in have]
    db.session.flush()
    record(user, "priority.update", priority, clean.title)
    newly = set(raisers(priority.ward_id, priority.topics)) - before
    if newly:
        _tell(priority, "We made it a ward priority", f"{clean.title}. {clean.commitment}",
              "set", only=newly)
    return priority


@dataclass
class ActionInput:
    body: str
    acted_on: date | None = None
    link: str = ""  # "alert:12", "post:3", "meeting:7" or ""


def link_choices(user, ward_id: int) -> list[tuple[str, str]]:
    """What an action may link: the ward's sent alerts, ward posts and meetings, latest
    first (all within the officer's wards, since the priority's ward is one)."""
    if not may_edit(user, ward_id):
        return []
    choices = []
    for a in db.session.scalars(select(Alert).join(AlertWard, AlertWard.alert_id == Alert.id)
                                .where(AlertWard.ward_id == ward_id, Alert.state == "sent")
                                .order_by(Alert.sent_at.desc()).limit(15)):
        choices.append((f"alert:{a.id}", f"Alert: {a.title}"))
    for p in db.session.scalars(select(WardPost).where(WardPost.ward_id == ward_id)
                                .order_by(WardPost.created_at.desc()).limit(15)):
        choices.append((f"post:{p.id}", f"Ward post: {p.title}"))
    for m in db.session.scalars(select(Meeting).join(MeetingWard, MeetingWard.meeting_id == Meeting.id)
                                .where(MeetingWard.ward_id == ward_id, Meeting.cancelled_at.is_(None))
                                .order_by(Meeting.starts_at.desc()).limit(15)):
        choices.append((f"meeting:{m.id}", f"Meeting: {m.title}"))
    return choices


def _resolve_link(user, ward_id: int, link: str) -> tuple[str | None, int | None, str | None]:
    if not link:
        return None, None, None
    titles = dict(link_choices(user, ward_id))
    if link not in titles:
        raise PriorityError("link", "Choose an alert, post or meeting of this ward.")
    kind, _, ident = link.partition(":")
    return kind, int(ident), titles[link].split(": ", 1)[1][:200]


def link_url(action: PriorityAction, ward_code: str) -> str | None:
    if action.link_type == "alert":
        return f"/alerts/{action.link_id}"
    if action.link_type == "post":
        return f"/wards/{ward_code}/posts/{action.link_id}"
    if action.link_type == "meeting":
        return f"/meetings/{action.link_id}"
    return None


def add_action(user, priority: Priority, data: ActionInput,
               now: datetime | None = None) -> PriorityAction:
    """Add a dated action to a current priority and tell the residents who raised it."""
    now = now or utcnow()
    today = to_london(now).date()
    if priority.status != "current":
        raise PriorityError("body", "This priority is closed.")
    body = " ".join((data.body or "").split())
    if not body:
        raise PriorityError("body", "Say what was done.")
    if len(body) > ACTION_MAX:
        raise PriorityError("body", f"Use at most {ACTION_MAX} characters.")
    acted_on = data.acted_on or today
    if acted_on > today:
        raise PriorityError("acted_on", "An action is something already done: no future dates.")
    if acted_on < today - timedelta(days=366):
        raise PriorityError("acted_on", "Give a date within the last year.")
    link_type, link_id, link_title = _resolve_link(user, priority.ward_id, data.link)
    action = PriorityAction(priority_id=priority.id, body=_scrub(body), acted_on=acted_on,
                            link_type=link_type, link_id=link_id, link_title=link_title,
                            author_id=user.id, created_at=now)
    db.session.add(action)
    priority.updated_at = now
    db.session.flush()
    db.session.refresh(priority)
    record(user, "priority.action", priority, body)
    _tell(priority, acted_on.strftime("%-d %b"), action.body, f"action-{action.id}")
    return action


def close_priority(user, priority: Priority, outcome: str, now: datetime | None = None) -> Priority:
    """Close a priority with its outcome and tell the residents who raised it."""
    now = now or utcnow()
    if priority.status != "current":
        raise PriorityError("outcome", "This priority is already closed.")
    text = (outcome or "").strip()
    if not text:
        raise PriorityError("outcome", "Say what came of it.")
    if len(text) > OUTCOME_MAX:
        raise PriorityError("outcome", f"Use at most {OUTCOME_MAX} characters.")
    priority.status, priority.outcome = "closed", _scrub(text)
    priority.closed_at = priority.updated_at = now
    db.session.flush()
    record(user, "priority.close", priority, text)
    _tell(priority, "Priority closed", priority.outcome, "close")
    return priority


def last_action_at(priority: Priority) -> date | None:
    return max((a.acted_on for a in priority.actions), default=None)


# --------------------------------------------------------------------------- conversation tags
def conversation_topic(conversation_id: int) -> str | None:
    return db.session.scalar(select(ConversationTopic.topic).where(
        ConversationTopic.conversation_id == conversation_id))


def tag_conversation(user, conversation, topic: str) -> str | None:
    """Tag ``conversation`` (already scoped by the caller) with ``topic`` ("" clears)."""
    if topic and topic not in CONCERN_TOPICS:
        raise PriorityError("topic", "Choose a topic from the list.")
    db.session.execute(delete(ConversationTopic).where(
        ConversationTopic.conversation_id == conversation.id))
    if topic:
        db.session.add(ConversationTopic(conversation_id=conversation.id, topic=topic,
                                         tagged_by_id=user.id))
    db.session.flush()
    record(user, "conversation.topic", conversation, topic or "cleared")
    return topic or None


# --------------------------------------------------------------------------- rounds
def open_round(user, ward: Ward, question: str, now: datetime | None = None) -> PriorityRound:
    """Open a round for ``ward`` (one open at a time) and invite the ward's residents
    (home ward) to confirm or change their top three."""
    now = now or utcnow()
    if not may_edit(user, ward.id):
        raise PermissionError("not your ward")
    text = " ".join((question or "").split())
    if not text:
        raise PriorityError("question", "Write the question residents will see.")
    if len(text) > QUESTION_MAX:
        raise PriorityError("question", f"Use at most {QUESTION_MAX} characters.")
    if open_round_for(ward.id) is not None:
        raise PriorityError("question", "A round is already open here. Close it first.")
    rnd = PriorityRound(ward_id=ward.id, question=_scrub(text), opened_by_id=user.id,
                        opened_at=now)
    db.session.add(rnd)
    db.session.flush()
    record(user, "priority.round_open", rnd, text)
    home = (select(User.id.label("user_id"), User.email_frequency.label("email_frequency"))
            .join(UserWard, UserWard.user_id == User.id)
            .where(UserWard.ward_id == ward.id, UserWard.is_home.is_(True),
                   User.role == "resident", User.confirmed_at.is_not(None)))
    fan_out(Event(kind="priority_round", source_type="priority_round", source_id=rnd.id,
                  title=f"{ward.name}: {rnd.question}",
                  body="Your ward team is asking again. Confirm or change your top three in one tap.",
                  url=f"/rounds/{rnd.id}", tag=f"round-{rnd.id}"), home)
    return rnd


def close_round(user, rnd: PriorityRound, now: datetime | None = None) -> None:
    if rnd.closed_at is None:
        rnd.closed_at = now or utcnow()
        record(user, "priority.round_close", rnd, rnd.question)
        db.session.flush()


def open_round_for(ward_id: int) -> PriorityRound | None:
    return db.session.scalar(select(PriorityRound).where(
        PriorityRound.ward_id == ward_id, PriorityRound.closed_at.is_(None))
        .order_by(PriorityRound.id.desc()).limit(1))


def rounds_for(ward_id: int, limit: int = 5) -> list[PriorityRound]:
    return list(db.session.scalars(select(PriorityRound).where(PriorityRound.ward_id == ward_id)
                                   .order_by(PriorityRound.id.desc()).limit(limit)))


def round_for_resident(user, round_id: int) -> PriorityRound | None:
    """A round the resident is invited to: one for their home ward."""
    home = user.home_ward if user and getattr(user, "is_resident", False) else None
    if home is None:
        return None
    return db.session.scalar(select(PriorityRound).where(PriorityRound.id == round_id,
                                                         PriorityRound.ward_id == home.id))


def round_answer(user, rnd: PriorityRound) -> list[str]:
    return list(db.session.scalars(select(Concern.topic).where(
        Concern.source == "round", Concern.source_id == rnd.id,
        Concern.respondent_key == user.respondent_key).order_by(Concern.id)))


def answer_round(user, rnd: PriorityRound, topics=None, other_text: str | None = None,
                 now: datetime | None = None) -> list[str]:
    """The resident's answer to an open round: ``topics`` None confirms their current top
    three; a list changes it (their standing survey answer too). Answering again replaces
    the answer. Raises :class:`webapp.accounts.services.AnswerError` for bad input."""
    if not rnd.is_open:
        raise AnswerError("concerns", "This question has closed. Thank you.")
    if topics is None:
        current = survey_concerns(user)
        chosen = [c.topic for c in current]
        if not chosen:
            raise AnswerError("concerns", "Choose up to three topics.")
    else:
        chosen = list(dict.fromkeys(topics))
        if not chosen:
            raise AnswerError("concerns", "Choose at least one topic.")
        if len(chosen) > MAX_CONCERNS:
            raise AnswerError("concerns", f"Choose up to {MAX_CONCERNS} topics.")
        set_concerns(user, chosen, other_text)
    db.session.execute(delete(Concern).where(Concern.source == "round",
                                             Concern.source_id == rnd.id,
                                             Concern.respondent_key == user.respondent_key))
    for topic in chosen:
        db.session.add(Concern(user_id=user.id, respondent_key=user.respondent_key,
                               ward_id=rnd.ward_id, topic=topic, source="round",
                               source_id=rnd.id, created_at=now or utcnow()))
    db.session.flush()
    return chosen


@dataclass
class RoundResults:
    respondents: int
    rows: list[tuple[str, int, int]]  # (topic, round count, standing count)
    shown: bool


def round_results(rnd: PriorityRound) -> RoundResults:
    """The round's answers beside the standing (survey) ones, by topic. Counts appear
    only once :func:`min_count` residents answered the round."""
    respondents = db.session.scalar(select(func.count(func.distinct(Concern.respondent_key)))
                                    .where(Concern.source == "round",
                                           Concern.source_id == rnd.id)) or 0
    in_round = dict(db.session.execute(
        select(Concern.topic, func.count(func.distinct(Concern.respondent_key)))
        .where(Concern.source == "round", Concern.source_id == rnd.id)
        .group_by(Concern.topic)).all())
    standing = dict(db.session.execute(
        select(Concern.topic, func.count(func.distinct(Concern.respondent_key)))
        .where(Concern.ward_id == rnd.ward_id, Concern.source == "survey")
        .group_by(Concern.topic)).all())
    topics = sorted(set(in_round) | set(standing),
                    key=lambda t: (-in_round.get(t, 0), -standing.get(t, 0), topic_label(t)))
    return RoundResults(respondents, [(t, in_round.get(t, 0), standing.get(t, 0)) for t in topics],
                        respondents >= min_count())


# --------------------------------------------------------------------------- account hooks
def export_conversation_topics(user) -> tuple[str, list]:
    """For "Download my data": the topics officers tagged the resident's conversations with."""
    rows = db.session.execute(
        select(ConversationTopic.conversation_id, ConversationTopic.topic,
               ConversationTopic.tagged_at)
        .join(Conversation, Conversation.id == ConversationTopic.conversation_id)
        .where(Conversation.resident_id == user.id).order_by(ConversationTopic.conversation_id)).all()
    return "conversation_topics", [{"conversation_id": r.conversation_id, "topic": r.topic,
                                    "tagged_at": r.tagged_at.isoformat() + "Z"} for r in rows]


register_account_data(export=export_conversation_topics)
