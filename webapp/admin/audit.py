"""Append officers' and admins' actions to the audit log (in the caller's transaction)."""
from __future__ import annotations

from webapp.admin.models import AuditEvent
from webapp.extensions import db


def record(actor, action: str, target=None, detail: str = "") -> AuditEvent:
    """Add an audit event; the caller commits it with the action itself.

    ``target`` is a model instance (its table name and id are kept) or None.
    """
    event = AuditEvent(actor_id=getattr(actor, "id", None), action=action,
                       target_type=getattr(target, "__tablename__", None),
                       target_id=getattr(target, "id", None), detail=detail[:2000])
    db.session.add(event)
    return event


def export_audit_events(user) -> tuple[str, list]:
    """For "Download my data": the audit events about the resident (their account, their
    conversations and messages): what staff did, when, and the recorded reason."""
    from sqlalchemy import or_, select

    from webapp.threads.models import Conversation, Message
    convs = select(Conversation.id).where(Conversation.resident_id == user.id)
    msgs = select(Message.id).where(Message.conversation_id.in_(convs))
    events = db.session.scalars(select(AuditEvent).where(or_(
        (AuditEvent.target_type == "users") & (AuditEvent.target_id == user.id),
        (AuditEvent.target_type == "conversations") & AuditEvent.target_id.in_(convs),
        (AuditEvent.target_type == "messages") & AuditEvent.target_id.in_(msgs),
    )).order_by(AuditEvent.id))
    return "audit_events_about_you", [
        {"action": e.action, "at": e.created_at.isoformat() + "Z",
         "about": f"{e.target_type} {e.target_id}", "detail": e.detail or None} for e in events]
