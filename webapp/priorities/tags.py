"""Topic tags on residents' conversations (an officer names what a conversation is about,
so it counts in "what residents said"), and the tags in "Download my data"."""
from __future__ import annotations

from sqlalchemy import delete, select

from webapp.extensions import db
from webapp.platform.account_data import Gathered, register_account_data
from webapp.platform.audit import record
from webapp.platform.taxonomy import CONCERN_TOPICS
from webapp.priorities.models import ConversationTopic
from webapp.priorities.scope import PriorityError
from webapp.threads.models import Conversation


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


# --------------------------------------------------------------------------- account hooks
def _topic_parts(user) -> dict:
    """For "Download my data": the topics officers tagged the resident's conversations with."""
    return {"topics": (select(ConversationTopic.conversation_id, ConversationTopic.topic,
                              ConversationTopic.tagged_at)
                       .join(Conversation, Conversation.id == ConversationTopic.conversation_id)
                       .where(Conversation.resident_id == user.id), ("conversation_id",))}


def _topic_section(user, rows) -> tuple[str, list]:
    return "conversation_topics", [{"conversation_id": r["conversation_id"], "topic": r["topic"],
                                    "tagged_at": r["tagged_at"].isoformat() + "Z"}
                                   for r in rows["topics"]]


register_account_data(export=Gathered(_topic_parts, _topic_section))
