"""Alerts officers send to the residents of the wards they cover."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.platform.states import one_of
from webapp.platform.timeutil import utcnow

TITLE_MAX = 120
BODY_MAX = 5000
ALERT_CHANNELS = {"email": "Email", "push": "Push notification",
                  "sms": "Text message (urgent alerts, and residents who chose this category)"}
# scheduled: waits for send_at (the scheduler sends it); sent; cancelled.
ALERT_STATES = ("scheduled", "sent", "cancelled")


class Alert(db.Model):
    """One announcement for one or more wards. Public once sent (see the alert page)."""

    __tablename__ = "alerts"
    __table_args__ = (one_of("state", ALERT_STATES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"),
                                                  index=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    body: Mapped[str] = mapped_column(Text)  # as written: plain text with a Markdown subset
    body_html: Mapped[str] = mapped_column(Text)  # rendered and sanitised (nh3)
    category: Mapped[str] = mapped_column(String(16))
    channels: Mapped[str] = mapped_column(String(32), default="email,push")
    urgent: Mapped[bool] = mapped_column(default=False)
    # How the audience was chosen: "wards", "borough" or "london"; the wards themselves
    # are in alert_wards either way.
    scope: Mapped[str] = mapped_column(String(8), default="wards")
    scope_label: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[str] = mapped_column(String(12), default="scheduled", index=True)
    send_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    author: Mapped["User | None"] = relationship(lazy="joined")  # noqa: F821  (the page names them)
    wards: Mapped[list["Ward"]] = relationship(  # noqa: F821
        secondary="alert_wards", order_by="Ward.name", viewonly=True)

    @property
    def channel_list(self) -> list[str]:
        return [c for c in (self.channels or "").split(",") if c in ALERT_CHANNELS]


class AlertWard(db.Model):
    __tablename__ = "alert_wards"

    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"),
                                          primary_key=True)
    ward_id: Mapped[int] = mapped_column(ForeignKey("wards.id", ondelete="CASCADE"),
                                         primary_key=True, index=True)


class AlertAnswer(db.Model):
    """A resident's "Was this useful?" answer: one per resident and alert (they may
    change it; the row is updated, never duplicated)."""

    __tablename__ = "alert_answers"
    __table_args__ = (UniqueConstraint("alert_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    # NULL once the resident deleted their account: the answer stays as an anonymous count.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"),
                                                index=True)
    useful: Mapped[bool]
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)
