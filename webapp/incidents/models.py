"""Incidents: a sent alert followed to its outcome (updates, followers), and the tags a
conversation carries (a reply to an alert, "this needs reporting")."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.platform.states import one_of
from webapp.platform.timeutil import utcnow

UPDATE_MAX = 2000
OUTCOME_TITLE_MAX = 120
# The state of an incident, shown on its alert page. An alert without updates is "ongoing".
INCIDENT_STATES = {"ongoing": "Ongoing", "closed": "Closed", "outcome": "Outcome"}
# Conversation tags: why a conversation is what it is (the inbox and the figures use them).
TAGS = {"appeal_info": "Information offered on an appeal",
        "needs_reporting": "Needs reporting (told the right route)"}


class Incident(db.Model):
    """The state of a sent alert followed as an incident. A row appears with the first
    update; ``outcome_alert_id`` is the "successful outcomes" alert that closed it."""

    __tablename__ = "incidents"
    __table_args__ = (one_of("state", INCIDENT_STATES),)

    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"),
                                          primary_key=True)
    state: Mapped[str] = mapped_column(String(8), default="ongoing")  # INCIDENT_STATES
    outcome_alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="SET NULL"), index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Joined: the alert page names both.
    alert: Mapped["Alert"] = relationship(foreign_keys=[alert_id], lazy="joined")  # noqa: F821
    outcome_alert: Mapped["Alert | None"] = relationship(  # noqa: F821
        foreign_keys=[outcome_alert_id], lazy="joined")


class IncidentUpdate(db.Model):
    """An officer's update on a sent alert ("Update, 14:10: the road has reopened")."""

    __tablename__ = "incident_updates"
    __table_args__ = (Index("ix_incident_updates_alert_created", "alert_id", "created_at"),
                      one_of("state", INCIDENT_STATES))

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The author's name and rank when writing, so the timeline reads the same if they leave.
    author_label: Mapped[str] = mapped_column(String(120), default="")
    body: Mapped[str] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(8), default="ongoing")  # the state it left
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IncidentFollow(db.Model):
    """A resident's choice about an incident's updates: ``following`` True after "Follow
    this", False after "Stop following" (which also silences a resident who received the
    alert itself: receivers are told of updates unless they stopped)."""

    __tablename__ = "incident_follows"

    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"),
                                          primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True, index=True)
    following: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationTag(db.Model):
    """A tag on a conversation (see :data:`TAGS`), with the alert it answers if any."""

    __tablename__ = "conversation_tags"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(24), primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"),
                                                 index=True)
    tagged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    alert: Mapped["Alert | None"] = relationship()  # noqa: F821
