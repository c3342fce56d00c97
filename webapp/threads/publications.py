"""Publishing a resident's question to their ward (issue 13): the resident is told, and may
withdraw the post for ``WITHDRAW_WINDOW`` after it went up. The public post still names no
one; the link from post to conversation is private (``published_questions``)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from webapp.platform.audit import record
from webapp.delivery import Event, notify
from webapp.extensions import db
from webapp.threads import services
from webapp.posts import WardPost
from webapp.threads.models import Conversation, PublishedQuestion
from webapp.platform.timeutil import format_london, utcnow

WITHDRAW_WINDOW = timedelta(days=1)


def publish(conversation: Conversation, officer, title: str, question: str, answer: str):
    """Publish (``services.publish_answer``), remember where it came from, and tell the
    resident, with the time until which they can withdraw it. The caller commits."""
    post = services.publish_answer(conversation, officer, title, question, answer)
    now = utcnow()
    until = now + WITHDRAW_WINDOW
    db.session.add(PublishedQuestion(post_id=post.id, conversation_id=conversation.id,
                                     published_at=now, withdrawable_until=until))
    resident = conversation.resident
    ward = conversation.ward
    url = f"/messages/{conversation.id}"
    notify(resident, Event(
        kind="published", source_type="ward_post", source_id=post.id,
        title=f"Your question is on the {ward.name} ward page",
        body=(f"Your ward team published your question and their answer, without your name: "
              f"“{post.title}”. You can withdraw it until {format_london(until)}."),
        url=url, email_template="threads/published",
        email_context={"resident_name": resident.display_name, "ward_name": ward.name,
                       "title": post.title, "question": post.question or "",
                       "answer": post.body, "until": format_london(until), "url": url,
                       "post_url": f"/wards/{ward.code}/posts/{post.id}"},
        tag=f"published-{post.id}", category=None, urgent=False))
    return post


def publications_for(conversation: Conversation) -> list[PublishedQuestion]:
    """The posts published from ``conversation`` (newest first; loaded with it by
    :func:`webapp.threads.scope.get_conversation`)."""
    return list(conversation.publications)


class TooLate(Exception):
    """The day to withdraw has passed."""


def withdraw(conversation: Conversation, resident, post_id: int) -> bool:
    """The resident withdraws a post published from their conversation: it is deleted.
    False when there is no such publication; :class:`TooLate` after the window. The caller
    commits."""
    link = db.session.scalar(select(PublishedQuestion).where(
        PublishedQuestion.post_id == post_id,
        PublishedQuestion.conversation_id == conversation.id))
    if link is None:
        return False
    if utcnow() > link.withdrawable_until:
        raise TooLate(f"It can no longer be withdrawn: that was possible until "
                      f"{format_london(link.withdrawable_until)}. Write to your ward team to "
                      "ask them to take it down.")
    post = db.session.get(WardPost, post_id)
    db.session.execute(delete(PublishedQuestion).where(PublishedQuestion.post_id == post_id))
    record(resident, "ward_post.withdraw", post, "withdrawn by the resident who asked")
    db.session.delete(post)
    db.session.flush()
    return True
