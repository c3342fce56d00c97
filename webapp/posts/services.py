"""Ward posts: public posts for one ward, written by officers (an update), by threads (a
published question and answer) and by meetings (a summary). Nothing in a post links to a
resident: :func:`scrub_identity` removes a resident's name and addresses from wording an
officer publishes."""
from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select

from webapp.extensions import db
from webapp.platform.audit import record
from webapp.platform.timeutil import utcnow
from webapp.posts.models import BODY_MAX, QUESTION_MAX, TITLE_MAX, WardPost
from webapp.wards.models import Ward

POSTS_PAGE_SIZE = 5


class PostError(Exception):
    """A post was refused; ``str(exc)`` is safe to show to the user."""


def clean_text(value: str | None, limit: int, what: str) -> str:
    """Trim ``value``; raise :class:`PostError` when it is empty or too long (the same
    rule and wording as a message's)."""
    text = (value or "").replace("\r\n", "\n").replace("\x00", "").strip()
    if not text:
        raise PostError(f"Enter your {what}.")
    if len(text) > limit:
        raise PostError(f"Your {what} must be {limit:,} characters or fewer "
                        f"(it has {len(text):,}).")
    return text


EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE_RE = re.compile(r"(?<!\d)(?:\+44\s?|0)(?:\d[\s-]?){9,10}(?!\d)")


def scrub_identity(text: str, resident) -> str:
    """Remove the resident's name, email and any email address or phone number from
    ``text`` (a safety net: the officer edits the wording, but a name can slip through)."""
    if not text:
        return text
    text = EMAIL_RE.sub("[removed]", text)
    text = PHONE_RE.sub("[removed]", text)
    names = []
    if resident is not None:
        full = (resident.display_name or "").strip()
        if full:
            names.append(full)
            names.extend(part for part in full.split() if len(part) >= 3)
        local = (resident.email or "").split("@")[0]
        if len(local) >= 3:
            names.append(local)
    for name in sorted(set(names), key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", "[removed]", text, flags=re.IGNORECASE)
    return text


def create_ward_post(ward: Ward, author, title: str, body: str, kind: str = "post",
                     question: str | None = None, now: datetime | None = None) -> WardPost:
    """Add a public post to ``ward`` (an officer's update, a published answer, a meeting
    summary...). Raises :class:`PostError` for empty or oversized text. The caller commits."""
    title = clean_text(title, TITLE_MAX, "title")
    body = clean_text(body, BODY_MAX, "post")
    if question is not None:
        question = clean_text(question, QUESTION_MAX, "question")
    post = WardPost(ward_id=ward.id, author_id=getattr(author, "id", None),
                    author_label=getattr(author, "officer_label", "") or "Your ward team",
                    kind=kind[:24], title=title, question=question, body=body,
                    created_at=now or utcnow())
    db.session.add(post)
    db.session.flush()
    if author is not None:
        record(author, "ward_post.publish", post, f"{kind} in {ward.code}")
    return post


def ward_posts_page(ward: Ward, page: int = 1, per_page: int = POSTS_PAGE_SIZE
                    ) -> tuple[list[WardPost], bool]:
    """A page of ``ward``'s posts, newest first, and whether there are more."""
    page = max(page, 1)
    stmt = (select(WardPost).where(WardPost.ward_id == ward.id)
            .order_by(WardPost.created_at.desc(), WardPost.id.desc())
            .limit(per_page + 1).offset((page - 1) * per_page))
    rows = list(db.session.scalars(stmt))
    return rows[:per_page], len(rows) > per_page


def get_ward_post(ward: Ward, post_id: int) -> WardPost | None:
    return db.session.scalar(select(WardPost).where(WardPost.id == post_id,
                                                    WardPost.ward_id == ward.id))
