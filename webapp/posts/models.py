"""Ward posts: public posts for one ward (an officer's update, a published question and
answer, a meeting summary)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.platform.timeutil import utcnow

TITLE_MAX = 160
BODY_MAX = 5000
QUESTION_MAX = 2000  # a published question is a resident's message (threads.MESSAGE_MAX)


class WardPost(db.Model):
    """A public post for one ward: an officer's update, or a published question and answer.

    Deliberately no link to a resident or conversation: a published question carries only
    the wording the officer chose.
    """

    __tablename__ = "ward_posts"
    __table_args__ = (Index("ix_ward_posts_ward_id_created", "ward_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ward_id: Mapped[int] = mapped_column(ForeignKey("wards.id"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The author's name and role when posting, so the post reads the same if they leave.
    author_label: Mapped[str] = mapped_column(String(120), default="")
    kind: Mapped[str] = mapped_column(String(24), default="post")  # post | answer | meeting | ...
    title: Mapped[str] = mapped_column(String(160))
    question: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ward: Mapped["Ward"] = relationship()  # noqa: F821
