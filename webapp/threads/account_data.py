"""A resident's conversations in "Download my data", and what account deletion does."""
from __future__ import annotations


from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from webapp.platform.account_data import register_account_data
from webapp.platform.audit import AuditEvent, blank_details
from webapp.extensions import db
from webapp.threads.models import (BlockedAddress,
                                   Conversation, ConversationRead, Message,
                                   MessagingBlock)
from sqlalchemy import delete

from webapp.threads.moderation import address_hmac, block_for


# --------------------------------------------------------------------------- account data
def export_messages(user) -> tuple[str, object]:
    """"Download my data" (accounts.EXPORTERS): a resident's conversations and messages."""
    def iso(value):
        return value.isoformat() + "Z" if value else None

    if user.role != "resident":
        return "conversations", []
    conversations = list(db.session.scalars(
        select(Conversation).where(Conversation.resident_id == user.id)
        .options(joinedload(Conversation.ward)).order_by(Conversation.id)))
    messages: dict[int, list] = {}
    if conversations:
        for m in db.session.scalars(select(Message).options(joinedload(Message.author)).where(
                Message.conversation_id.in_([c.id for c in conversations])).order_by(Message.id)):
            author = "you" if m.author_id == user.id else \
                (m.author.officer_label if m.author else "ward team")
            messages.setdefault(m.conversation_id, []).append(
                {"from": author, "text": m.body, "sent_at": iso(m.created_at),
                 "removed_by_moderator": m.hidden_at is not None,
                 "moderation": {"hidden_at": iso(m.hidden_at), "reason": m.hidden_reason}
                 if m.hidden_at is not None else None})
    block = block_for(user)
    history = db.session.execute(
        select(AuditEvent.action, AuditEvent.created_at, AuditEvent.detail)
        .where(AuditEvent.target_type == "users", AuditEvent.target_id == user.id,
               AuditEvent.action.in_(("resident.block", "resident.unblock")))
        .order_by(AuditEvent.id)).all()
    reads = db.session.execute(select(ConversationRead.conversation_id,
                                      ConversationRead.last_read_message_id)
                               .where(ConversationRead.user_id == user.id)).all()
    return "conversations", {
        "block_history": [{"action": "stopped" if a == "resident.block" else "allowed again",
                           "at": iso(at), "reason": detail or None} for a, at, detail in history],
        "address_on_block_list": db.session.get(BlockedAddress, address_hmac(user.email)) is not None,
        "read_markers": [{"conversation_id": c, "last_read_message_id": m} for c, m in reads],
        "conversations": [{"subject": c.subject, "ward": c.ward.name, "status": c.status,
                           "started_at": iso(c.created_at), "messages": messages.get(c.id, [])}
                          for c in conversations],
        "messaging_stopped": {"reason": block.reason, "at": iso(block.created_at)} if block else None,
    }


def forget_messages(user) -> None:
    """Account deletion (accounts.DELETERS): remove the resident's conversations (with
    every message in them), read markers and any messaging block. Published ward posts stay:
    they never held the resident's identity. Does not commit."""
    ids = select(Conversation.id).where(Conversation.resident_id == user.id)
    db.session.execute(delete(Message).where(Message.conversation_id.in_(ids)))
    db.session.execute(delete(ConversationRead).where(or_(
        ConversationRead.conversation_id.in_(ids), ConversationRead.user_id == user.id)))
    db.session.execute(delete(Conversation).where(Conversation.resident_id == user.id))
    db.session.execute(delete(MessagingBlock).where(MessagingBlock.user_id == user.id))


def identifying_messages(user) -> list[str]:
    """What identifies a resident in free text others wrote: their conversations' subjects,
    the messages in them (and moderators' reasons), the reason they were blocked."""
    convs = select(Conversation.id).where(Conversation.resident_id == user.id)
    values = list(db.session.scalars(select(Conversation.subject)
                                     .where(Conversation.resident_id == user.id)))
    for body, reason in db.session.execute(select(Message.body, Message.hidden_reason)
                                           .where(Message.conversation_id.in_(convs))):
        values += [body, reason]
    values += db.session.scalars(select(MessagingBlock.reason)
                                 .where(MessagingBlock.user_id == user.id))
    return values


def erase_message_traces(user) -> None:
    """Account deletion: the audit events about the resident's conversations and messages
    keep their time, not their words."""
    convs = select(Conversation.id).where(Conversation.resident_id == user.id)
    blank_details("conversations", convs)
    blank_details("messages", select(Message.id).where(Message.conversation_id.in_(convs)))


register_account_data(export=export_messages, identify=identifying_messages,
                      erase=erase_message_traces, forget=forget_messages)
