"""Who is told about a priority, and telling them.

Who is told (:func:`raisers`): residents (confirmed) who still follow the ward and who
raised one of its linked topics *in that ward*, through the survey, a round, a meeting
concern card or a conversation an officer tagged with the topic, and who keep the
**"outcomes"** alert category ("Successful outcomes and operations") on: a priority set,
acted on or closed is news of what the team did, which is what that category promises.
Turning the category off stops these messages. Each resident gets one message per event
("You told us about <the topic they named>. Here is what we did."), written set-based by
:func:`webapp.delivery.fan_out` (one broadcast per topic, each resident once), so their
email frequency (digest included) and push devices decide the channels.
"""
from __future__ import annotations

from sqlalchemy import select, union

from webapp.accounts import residents_following
from webapp.accounts.models import Concern
from webapp.delivery import Event, fan_out
from webapp.extensions import db
from webapp.platform.taxonomy import CONCERN_TOPICS
from webapp.priorities.models import ConversationTopic, Priority
from webapp.priorities.scope import topic_label
from webapp.threads.models import Conversation

#: The alert category residents keep on to hear about priorities (see the module docstring).
PRIORITY_CATEGORY = "outcomes"


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

