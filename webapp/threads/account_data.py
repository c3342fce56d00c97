"""A resident's conversations in "Download my data", and what account deletion does."""
from __future__ import annotations


from sqlalchemy import or_, select
from sqlalchemy.orm import aliased

from webapp.accounts.models import User, officer_label
from webapp.wards.models import Ward

from webapp.platform.account_data import Gathered, register_account_data
from webapp.platform.audit import AuditEvent, blank_details
from webapp.extensions import db
from webapp.threads.models import (BlockedAddress,
                                   Conversation, ConversationRead, Message,
                                   MessagingBlock)
from sqlalchemy import delete

from webapp.threads.moderation import CARRIED_BLOCK_REASON, address_hmac


# --------------------------------------------------------------------------- account data
def _message_parts(user) -> dict:
    """"Download my data" (accounts.EXPORTERS): a resident's conversations and messages,
    messaging block, its history and read markers."""
    if user.role != "resident":
        return {}
    mine = select(Conversation.id).where(Conversation.resident_id == user.id)
    author = aliased(User)
    return {
        "conversations": (select(Conversation.id, Conversation.subject, Ward.name.label("ward"),
                                 Conversation.status, Conversation.created_at)
                          .join(Ward, Ward.id == Conversation.ward_id)
                          .where(Conversation.resident_id == user.id), ("id",)),
        "messages": (select(Message.id, Message.conversation_id, Message.author_id, Message.body,
                            Message.created_at, Message.hidden_at, Message.hidden_reason,
                            author.id.label("author"), author.display_name, author.rank,
                            author.shoulder_number)
                     .outerjoin(author, author.id == Message.author_id)
                     .where(Message.conversation_id.in_(mine)), ("id",)),
        "block": (select(MessagingBlock.reason, MessagingBlock.created_at)
                  .where(MessagingBlock.user_id == user.id), ()),
        "carried": (select(BlockedAddress.created_at)
                    .where(BlockedAddress.address_hmac == address_hmac(user.email)), ()),
        "history": (select(AuditEvent.id, AuditEvent.action, AuditEvent.created_at,
                           AuditEvent.detail)
                    .where(AuditEvent.target_type == "users", AuditEvent.target_id == user.id,
                           AuditEvent.action.in_(("resident.block", "resident.unblock"))), ("id",)),
        "reads": (select(ConversationRead.conversation_id, ConversationRead.last_read_message_id)
                  .where(ConversationRead.user_id == user.id), ("conversation_id",)),
    }


def _message_section(user, rows) -> tuple[str, object]:
    def iso(value):
        return value.isoformat() + "Z" if value else None

    if user.role != "resident":
        return "conversations", []
    messages: dict[int, list] = {}
    for m in rows["messages"]:
        author = "you" if m["author_id"] == user.id else (officer_label(
            m["display_name"], m["rank"], m["shoulder_number"]) if m["author"] else "ward team")
        messages.setdefault(m["conversation_id"], []).append(
            {"from": author, "text": m["body"], "sent_at": iso(m["created_at"]),
             "removed_by_moderator": m["hidden_at"] is not None,
             "moderation": {"hidden_at": iso(m["hidden_at"]), "reason": m["hidden_reason"]}
             if m["hidden_at"] is not None else None})
    # block_for's answer: their own block, or one carried over from a deleted account.
    block = rows["block"][0] if rows["block"] else (
        {"reason": CARRIED_BLOCK_REASON, "created_at": rows["carried"][0]["created_at"]}
        if rows["carried"] and user.email else None)
    return "conversations", {
        "block_history": [{"action": "stopped" if e["action"] == "resident.block"
                           else "allowed again", "at": iso(e["created_at"]),
                           "reason": e["detail"] or None} for e in rows["history"]],
        "address_on_block_list": bool(rows["carried"]),
        "read_markers": [{"conversation_id": r["conversation_id"],
                          "last_read_message_id": r["last_read_message_id"]} for r in rows["reads"]],
        "conversations": [{"subject": c["subject"], "ward": c["ward"], "status": c["status"],
                           "started_at": iso(c["created_at"]), "messages": messages.get(c["id"], [])}
                          for c in rows["conversations"]],
        "messaging_stopped": {"reason": block["reason"], "at": iso(block["created_at"])}
        if block else None,
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


register_account_data(export=Gathered(_message_parts, _message_section), identify=identifying_messages,
                      erase=erase_message_traces, forget=forget_messages)
