"""Threads: errors, and who sees which conversations. Every query for conversations goes
through :func:`conversations_visible_to`, so a resident only ever sees their own and an
officer only those of the wards they cover; an admin sees more only during a granted,
audited "view as admin"."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, false, select
from sqlalchemy.orm import joinedload

from webapp.platform.audit import record
from webapp import posts
from webapp.extensions import db
from webapp.threads.models import (Conversation, ConversationAccess, Message)
from webapp.platform.timeutil import utcnow
from webapp.wards.models import Ward
from webapp.wards.services import covered_ward_ids
from webapp.wards.models import TeamMember, TeamWard




class ThreadError(Exception):
    """A message or conversation was refused; ``str(exc)`` is safe to show to the user."""


class MessagingBlocked(ThreadError):
    """The resident was stopped from messaging by an officer."""


# --------------------------------------------------------------------------- scope
def conversations_visible_to(user):
    """A SELECT of the conversations ``user`` may see: a resident's own; for officers and
    admins, those of the wards they cover; nothing for anyone else."""
    stmt = select(Conversation)
    if user is None or not getattr(user, "is_authenticated", False):
        return stmt.where(false())
    if user.role == "resident":
        return stmt.where(Conversation.resident_id == user.id)
    if user.role == "officer":
        return stmt.where(Conversation.ward_id.in_(covered_ward_ids(user)))
    if user.role == "admin":
        if admin_access_until(user) is not None:  # the explicit, audited "view as admin"
            return stmt
        return stmt.where(Conversation.ward_id.in_(team_ward_ids(user)))
    return stmt.where(false())


def team_ward_ids(user):
    """A SELECT of the wards of the teams ``user`` belongs to (an admin's own teams)."""
    return (select(TeamWard.ward_id).join(TeamMember, TeamMember.team_id == TeamWard.team_id)
            .where(TeamMember.user_id == user.id).distinct())


# --------------------------------------------------------------------------- view as admin
ACCESS_REASON_MIN = 10


def admin_access_until(user, now: datetime | None = None) -> datetime | None:
    """When the admin's current "view as admin" step ends, or None when there is none."""
    if user is None or getattr(user, "role", None) != "admin":
        return None
    access = db.session.get(ConversationAccess, user.id)
    now = now or utcnow()
    return access.expires_at if access is not None and access.expires_at > now else None


def grant_admin_access(admin, reason: str, minutes: int, now: datetime | None = None) -> ConversationAccess:
    """Let ``admin`` read every conversation in London for ``minutes``, for ``reason``
    (required, recorded in the audit log). Raises :class:`ThreadError` for a missing or
    too-short reason. The caller commits."""
    if admin.role != "admin":
        raise ThreadError("Only admins can do this.")
    reason = clean_text(reason, 500, "reason")
    if len(reason) < ACCESS_REASON_MIN:
        raise ThreadError(f"Say why, in at least {ACCESS_REASON_MIN} characters.")
    now = now or utcnow()
    access = db.session.get(ConversationAccess, admin.id)
    if access is None:
        access = ConversationAccess(user_id=admin.id, reason=reason, granted_at=now,
                                    expires_at=now)
        db.session.add(access)
    access.reason, access.granted_at = reason, now
    access.expires_at = now + timedelta(minutes=minutes)
    record(admin, "conversation.admin_access", None,
           f"all conversations for {minutes} min: {reason}")
    return access


def end_admin_access(admin) -> None:
    """End the admin's "view as admin" step now (audited). The caller commits."""
    access = db.session.get(ConversationAccess, admin.id)
    if access is not None:
        db.session.delete(access)
        record(admin, "conversation.admin_access_end")


def _with_page_loads(stmt):
    return stmt.options(joinedload(Conversation.ward).joinedload(Ward.borough),
                        joinedload(Conversation.resident), joinedload(Conversation.assigned_to),
                        joinedload(Conversation.publications))


# A resident's conversation (conversations_visible_to(a resident)), built once with the
# values bound at run time: building it cost about as much CPU as running it (issue 14).
_RESIDENTS_CONVERSATION = _with_page_loads(select(Conversation).where(
    Conversation.resident_id == bindparam("user_id"),
    Conversation.id == bindparam("conversation_id")))


def get_conversation(user, conversation_id: int) -> Conversation | None:
    """The conversation if ``user`` may see it, else None (the view answers 404)."""
    if user is not None and getattr(user, "is_authenticated", False) and user.role == "resident":
        return db.session.execute(_RESIDENTS_CONVERSATION, {
            "user_id": user.id, "conversation_id": conversation_id}).unique().scalar_one_or_none()
    stmt = _with_page_loads(conversations_visible_to(user).where(Conversation.id == conversation_id))
    return db.session.execute(stmt).unique().scalar_one_or_none()


def get_message(user, message_id: int) -> Message | None:
    """A message in a conversation ``user`` may see, else None."""
    visible = conversations_visible_to(user).with_only_columns(Conversation.id)
    return db.session.scalar(select(Message).where(Message.id == message_id,
                                                   Message.conversation_id.in_(visible)))


def resident_wards(user) -> list[Ward]:
    """The wards a resident may write to: their home ward and their extra wards."""
    return list(user.ward_list) if user is not None and user.role == "resident" else []


# --------------------------------------------------------------------------- validation
def clean_text(value: str | None, limit: int, what: str) -> str:
    """Trim ``value``; raise :class:`ThreadError` when it is empty or too long (the rule of
    :func:`webapp.posts.clean_text`).

    Text is stored as written and escaped when shown (Jinja autoescaping), so markup in a
    message is displayed, never run.
    """
    try:
        return posts.clean_text(value, limit, what)
    except posts.PostError as exc:
        raise ThreadError(str(exc)) from None
