"""The side of an officer's conversation page, read in one statement (issue 14: at most six
statements a page): the topic it counts under (priorities), its incident tags and the alert
it answers (incidents), and whether the resident is stopped from messaging (threads).

Here because priorities sits above incidents and threads (``.importlinter``)."""
from __future__ import annotations

from sqlalchemy import select

from webapp.accounts.models import User
from webapp.alerts.models import Alert
from webapp.extensions import db
from webapp.incidents import services as incidents
from webapp.incidents.models import ConversationTag, Incident
from webapp.priorities.forms import TopicTagForm
from webapp.priorities.models import ConversationTopic
from webapp.threads import services as threads
from webapp.threads.models import BlockedAddress, MessagingBlock
from webapp.threads.moderation import address_hmac


def officer_side(conversation) -> dict:
    """``{"topic_form", "aside", "block"}`` for ``conversation``'s officer page: a row per
    incident tag (at least one: the resident's), each with the topic and the block."""
    resident = conversation.resident
    carried = address_hmac(resident.email) if resident is not None and resident.email else ""
    rows = db.session.execute(
        select(ConversationTopic.topic, MessagingBlock, BlockedAddress.created_at,
               ConversationTag, Alert, Incident.state)
        .select_from(User)
        .outerjoin(ConversationTopic, ConversationTopic.conversation_id == conversation.id)
        .outerjoin(MessagingBlock, MessagingBlock.user_id == User.id)
        .outerjoin(BlockedAddress, BlockedAddress.address_hmac == carried)
        .outerjoin(ConversationTag, ConversationTag.conversation_id == conversation.id)
        .outerjoin(Alert, Alert.id == ConversationTag.alert_id)
        .outerjoin(Incident, Incident.alert_id == Alert.id)
        .where(User.id == conversation.resident_id)
        .order_by(ConversationTag.created_at)).all()
    topic, own, carried_at = rows[0][:3] if rows else (None, None, None)
    return {"topic_form": TopicTagForm(formdata=None, topic=topic or ""),
            "aside": incidents.aside_from([(tag, alert, state) for *_, tag, alert, state in rows
                                           if tag is not None]),
            "block": threads.block_from(resident, own, carried_at) if resident else None}
