"""Conversations between a resident and their ward team, and moderation.

A :class:`Conversation` belongs to one resident and one ward; the officers covering that
ward (:func:`webapp.wards.services.covered_ward_ids`) see it. It keeps a few denormalised
columns (``last_message_id``, ``status``, ``awaiting_since``) so the inbox is one query
however long conversations grow.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.platform.states import one_of
from webapp.platform.timeutil import utcnow

SUBJECT_MAX = 120
MESSAGE_MAX = 2000
STATUSES = {"awaiting": "Awaiting reply", "answered": "Answered", "closed": "Closed"}


class Conversation(db.Model):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_ward_status", "ward_id", "status", "awaiting_since"),
                      one_of("status", STATUSES))

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                             index=True)
    ward_id: Mapped[int] = mapped_column(ForeignKey("wards.id"))
    subject: Mapped[str] = mapped_column(String(SUBJECT_MAX))
    status: Mapped[str] = mapped_column(String(16), default="awaiting")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_id: Mapped[int] = mapped_column(default=0)
    # When the oldest resident message not yet answered arrived (None unless awaiting).
    awaiting_since: Mapped[datetime | None]
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    closed_at: Mapped[datetime | None]

    resident: Mapped["User"] = relationship(foreign_keys=[resident_id])  # noqa: F821
    assigned_to: Mapped["User | None"] = relationship(foreign_keys=[assigned_to_id])  # noqa: F821
    ward: Mapped["Ward"] = relationship()  # noqa: F821
    # The posts published from it, newest first (the conversation page lists them).
    publications: Mapped[list["PublishedQuestion"]] = relationship(
        viewonly=True, order_by="PublishedQuestion.published_at.desc()")

    @property
    def status_label(self) -> str:
        return STATUSES.get(self.status, self.status)


class Message(db.Model):
    __tablename__ = "messages"
    __table_args__ = (
        # A client retry with the same key finds the first message (reply queue).
        UniqueConstraint("author_id", "idempotency_key"),
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    from_officer: Mapped[bool] = mapped_column(default=False)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    # Moderation: a hidden message is kept (for the record) but not shown to the resident.
    hidden_at: Mapped[datetime | None]
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    hidden_reason: Mapped[str | None] = mapped_column(String(200))

    author: Mapped["User | None"] = relationship(foreign_keys=[author_id])  # noqa: F821


class ConversationRead(db.Model):
    """How far one person has read one conversation (unread markers)."""

    __tablename__ = "conversation_reads"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True, index=True)
    last_read_message_id: Mapped[int] = mapped_column(default=0)


class MessagingBlock(db.Model):
    """A resident stopped from sending messages, with the officer's recorded reason."""

    __tablename__ = "messaging_blocks"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    reason: Mapped[str] = mapped_column(String(500))
    blocked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BlockedAddress(db.Model):
    """A keyed hash (HMAC-SHA256, key ``BLOCKLIST_KEY``) of the email address of a resident
    stopped from messaging. No link to the account, so it survives the account's deletion:
    signing up again with the same address brings the block back
    (:func:`webapp.threads.services.address_hmac`)."""

    __tablename__ = "blocked_addresses"

    address_hmac: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationAccess(db.Model):
    """An admin's explicit, time-limited "view as admin" step: without an unexpired row an
    admin sees only the conversations of the teams they belong to. The reason is also in
    the audit log (``conversation.admin_access``)."""

    __tablename__ = "conversation_access"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    reason: Mapped[str] = mapped_column(String(500))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class OfficerDigestState(db.Model):
    """When an officer last got the "conversations awaiting reply" digest (one per hour)."""

    __tablename__ = "officer_digest_states"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    last_digest_at: Mapped[datetime | None]
    digest_count: Mapped[int] = mapped_column(default=0)


class PublishedQuestion(db.Model):
    """Which conversation a published question came from, so its resident is told and may
    withdraw it for a day (issue 13). Private: the public post itself names no one; this row
    goes with the post (withdrawn) or with the conversation (account deleted)."""

    __tablename__ = "published_questions"

    post_id: Mapped[int] = mapped_column(ForeignKey("ward_posts.id", ondelete="CASCADE"),
                                         primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawable_until: Mapped[datetime] = mapped_column()

    post: Mapped["WardPost"] = relationship()  # noqa: F821 (webapp.posts.models)
