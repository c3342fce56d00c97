"""Rumour checks ("Heard something?"): a resident asks, the ward team publishes a verdict."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.platform.states import one_of
from webapp.platform.timeutil import utcnow

TEXT_MAX = 500
CLAIM_MAX = 300
EXPLANATION_MAX = 2000
VERDICTS = {"true": "True", "false": "False", "partly": "Partly true", "unknown": "Not known yet"}
STATUSES = {"open": "Waiting for the team", "published": "Checked"}


class Rumour(db.Model):
    """What a resident heard (``text``, private to them and the ward's team) and, once
    checked, the public wording of the claim (``claim``, scrubbed of the asker's identity)
    with the current verdict. The verdicts' history is :class:`RumourVerdict`."""

    __tablename__ = "rumours"
    __table_args__ = (Index("ix_rumours_ward_status", "ward_id", "status", "published_at"),
                      one_of("status", STATUSES), one_of("verdict", VERDICTS))

    id: Mapped[int] = mapped_column(primary_key=True)
    ward_id: Mapped[int] = mapped_column(ForeignKey("wards.id"))
    # NULL once the asker deleted their account (a published check stays public).
    asker_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"),
                                                 index=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="open")  # STATUSES
    claim: Mapped[str | None] = mapped_column(String(CLAIM_MAX))
    verdict: Mapped[str | None] = mapped_column(String(8))  # VERDICTS, the latest
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    ward: Mapped["Ward"] = relationship(lazy="joined")  # noqa: F821
    asker: Mapped["User | None"] = relationship()  # noqa: F821
    verdicts: Mapped[list["RumourVerdict"]] = relationship(
        order_by="RumourVerdict.id.desc()", viewonly=True)

    @property
    def verdict_label(self) -> str:
        return VERDICTS.get(self.verdict or "", "")


class RumourVerdict(db.Model):
    """One published verdict on a rumour; a later one changes it, all stay visible."""

    __tablename__ = "rumour_verdicts"
    __table_args__ = (one_of("verdict", VERDICTS),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rumour_id: Mapped[int] = mapped_column(ForeignKey("rumours.id", ondelete="CASCADE"),
                                           index=True)
    verdict: Mapped[str] = mapped_column(String(8))
    explanation: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def verdict_label(self) -> str:
        return VERDICTS.get(self.verdict, self.verdict)
