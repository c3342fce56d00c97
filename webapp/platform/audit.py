"""The audit log: who did what to which record, and when. :func:`record` appends officers'
and admins' actions in the caller's transaction."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.platform.timeutil import utcnow


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"),
                                                 index=True)
    action: Mapped[str] = mapped_column(String(40), index=True)  # e.g. "conversation.view"
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[int | None]
    detail: Mapped[str] = mapped_column(Text, default="")

    actor: Mapped["User | None"] = relationship()  # noqa: F821


def record(actor, action: str, target=None, detail: str = "") -> AuditEvent:
    """Add an audit event; the caller commits it with the action itself.

    ``target`` is a model instance (its table name and id are kept) or None.
    """
    event = AuditEvent(actor_id=getattr(actor, "id", None), action=action,
                       target_type=getattr(target, "__tablename__", None),
                       target_id=getattr(target, "id", None), detail=detail[:2000])
    db.session.add(event)
    return event


def blank_details(target_type: str, ids) -> None:
    """Empty the free text of the audit events about the ``target_type`` rows ``ids`` (a
    SELECT of ids), for an account's deletion: the event and its time stay (counts), its
    detail goes. Does not commit."""
    db.session.execute(update(AuditEvent).where(
        AuditEvent.target_type == target_type, AuditEvent.target_id.in_(ids))
        .values(detail="").execution_options(synchronize_session=False))
