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
