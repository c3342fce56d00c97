"""Ward priorities, their linked concern topics and dated actions; topic tags on
conversations; "ask residents again" rounds (their answers are :class:`Concern` rows with
``source="round"``, so they join export and deletion with the survey's)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.platform.states import one_of
from webapp.platform.timeutil import utcnow

TITLE_MAX = 120
COMMITMENT_MAX = 1000
ACTION_MAX = 300
OUTCOME_MAX = 1000
QUESTION_MAX = 160
# What an action may link to (each checked against the officer's wards).
LINK_TYPES = {"alert": "Alert", "post": "Ward post", "meeting": "Meeting"}
PRIORITY_STATUSES = ("current", "closed")


class Priority(db.Model):
    """One of a ward's few priorities: what the team committed to, until reviewed and
    closed with an outcome. Everything in it is written by officers and public."""

    __tablename__ = "priorities"
    __table_args__ = (Index("ix_priorities_ward_status", "ward_id", "status"),
                      one_of("status", PRIORITY_STATUSES))

    id: Mapped[int] = mapped_column(primary_key=True)
    ward_id: Mapped[int] = mapped_column(ForeignKey("wards.id"))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    commitment: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="current")  # PRIORITY_STATUSES
    review_on: Mapped[date]
    outcome: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]

    ward: Mapped["Ward"] = relationship(lazy="joined")  # noqa: F821  (pages name it)
    # Loaded with the priorities (one query for all of them): every card shows both.
    topic_links: Mapped[list["PriorityTopic"]] = relationship(
        cascade="all, delete-orphan", order_by="PriorityTopic.topic", lazy="selectin")
    actions: Mapped[list["PriorityAction"]] = relationship(
        cascade="all, delete-orphan", back_populates="priority", lazy="selectin",
        order_by="(PriorityAction.acted_on.desc(), PriorityAction.id.desc())")

    @property
    def topics(self) -> list[str]:
        return [link.topic for link in self.topic_links]


class PriorityTopic(db.Model):
    """A concern topic (:data:`webapp.taxonomy.CONCERN_TOPICS`) a priority answers."""

    __tablename__ = "priority_topics"

    priority_id: Mapped[int] = mapped_column(ForeignKey("priorities.id", ondelete="CASCADE"),
                                             primary_key=True)
    topic: Mapped[str] = mapped_column(String(16), primary_key=True)


class PriorityAction(db.Model):
    """A dated action taken on a priority ("5 Dec: 12 e-bikes seized"), optionally linking
    an alert, a ward post or a meeting of the ward."""

    __tablename__ = "priority_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    priority_id: Mapped[int] = mapped_column(ForeignKey("priorities.id", ondelete="CASCADE"),
                                             index=True)
    body: Mapped[str] = mapped_column(String(ACTION_MAX))
    acted_on: Mapped[date]
    link_type: Mapped[str | None] = mapped_column(String(12))
    link_id: Mapped[int | None]
    link_title: Mapped[str | None] = mapped_column(String(200))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    priority: Mapped[Priority] = relationship(back_populates="actions")


class ConversationTopic(db.Model):
    """The concern topic an officer tagged a conversation with (one per conversation), so
    conversations count in "what residents said"."""

    __tablename__ = "conversation_topics"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    topic: Mapped[str] = mapped_column(String(16))
    tagged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    tagged_at: Mapped[datetime] = mapped_column(default=utcnow)


class PriorityRound(db.Model):
    """"Ask residents again": a question to a ward's residents, open until closed. Answers
    are :class:`webapp.accounts.models.Concern` rows (``source="round"``, ``source_id`` =
    this id)."""

    __tablename__ = "priority_rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    ward_id: Mapped[int] = mapped_column(ForeignKey("wards.id"), index=True)
    question: Mapped[str] = mapped_column(String(QUESTION_MAX))
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]

    ward: Mapped["Ward"] = relationship()  # noqa: F821

    @property
    def is_open(self) -> bool:
        return self.closed_at is None
