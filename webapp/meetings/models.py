"""Community meetings, their audience wards, residents' RSVPs and answered concerns.

A meeting's audience is a set of wards (:class:`MeetingWard`). A borough-wide meeting keeps
``borough_id`` and lists every ward of that borough, so every query works on wards alone.
Meeting concerns are :class:`webapp.accounts.models.Concern` rows (``source="meeting"``,
``source_id=meeting.id``); :class:`ConcernAnswer` marks the ones officers answered.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.platform.states import one_of
from webapp.platform.timeutil import utcnow

RSVP_STATUSES = ("going", "waitlisted", "cancelled")


class Meeting(db.Model):
    """A community meeting set up by an officer. Times are naive UTC."""

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    venue_name: Mapped[str] = mapped_column(String(120))
    address: Mapped[str] = mapped_column(String(300))
    accessibility: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    capacity: Mapped[int]
    rsvp_closes_at: Mapped[datetime]
    online_url: Mapped[str | None] = mapped_column(String(500))
    # Reminders go ``reminder_hours`` before the start; ``reminder_at`` is that instant,
    # kept as a column so the scheduler tick can compare it portably.
    reminder_hours: Mapped[int] = mapped_column(default=24)
    reminder_at: Mapped[datetime] = mapped_column(index=True)
    borough_id: Mapped[int | None] = mapped_column(ForeignKey("boroughs.id"))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Bumped on each change of time or place (iCalendar SEQUENCE).
    sequence: Mapped[int] = mapped_column(default=0)
    cancelled_at: Mapped[datetime | None]
    summary: Mapped[str | None] = mapped_column(Text)
    summary_posted_at: Mapped[datetime | None]

    created_by: Mapped["User | None"] = relationship()  # noqa: F821
    borough: Mapped["Borough | None"] = relationship()  # noqa: F821
    # Loaded with the meetings, wards and all (every card names the wards).
    ward_links: Mapped[list["MeetingWard"]] = relationship(
        back_populates="meeting", cascade="all, delete-orphan", order_by="MeetingWard.position",
        lazy="selectin")

    @property
    def wards(self) -> list:
        return [link.ward for link in self.ward_links]

    @property
    def audience_label(self) -> str:
        """"All of Lambeth", or the ward names joined."""
        if self.borough is not None:
            return f"All of {self.borough.name}"
        return ", ".join(w.name for w in self.wards)

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled_at is not None


class MeetingWard(db.Model):
    """A ward whose residents a meeting is for (the first one is the meeting's main ward)."""

    __tablename__ = "meeting_wards"

    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"),
                                            primary_key=True)
    ward_id: Mapped[int] = mapped_column(ForeignKey("wards.id"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(default=0)

    meeting: Mapped[Meeting] = relationship(back_populates="ward_links")
    ward: Mapped["Ward"] = relationship(lazy="joined")  # noqa: F821


class Rsvp(db.Model):
    """One resident's answer to one meeting: going, waitlisted or cancelled.

    Unique per (meeting, user), so a double click cannot make two. ``seq`` is the order in
    which RSVPs were taken (assigned under the meeting lock): the waitlist is served by it.
    """

    __tablename__ = "rsvps"
    __table_args__ = (UniqueConstraint("meeting_id", "user_id"),
                      Index("ix_rsvps_meeting_status_seq", "meeting_id", "status", "seq"),
                      one_of("status", RSVP_STATUSES))

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(12))
    seq: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None]
    promoted_at: Mapped[datetime | None]
    reminder_sent_at: Mapped[datetime | None]
    checked_in_at: Mapped[datetime | None]
    checked_in_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    meeting: Mapped[Meeting] = relationship()
    user: Mapped["User"] = relationship(foreign_keys=[user_id])  # noqa: F821


class ConcernAnswer(db.Model):
    """An officer marked a meeting concern (a ``concerns`` row) as answered."""

    __tablename__ = "meeting_concern_answers"

    concern_id: Mapped[int] = mapped_column(ForeignKey("concerns.id", ondelete="CASCADE"),
                                            primary_key=True)
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
