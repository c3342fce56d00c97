"""Conversations between a resident and their ward team: starting, writing (idempotent),
reading, the inbox, officers' status changes, publishing an answer to the ward."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, joinedload

from webapp.platform.audit import record
from webapp import posts
from webapp.extensions import db
from webapp.threads.models import (MESSAGE_MAX, STATUSES, SUBJECT_MAX, Conversation, ConversationRead, Message)
from webapp.platform.timeutil import utcnow
from webapp.wards.models import Ward
from webapp.delivery import Event, notify

from webapp.threads.scope import MessagingBlocked, ThreadError, clean_text, conversations_visible_to, resident_wards
from webapp.threads.moderation import block_for

PAGE_SIZE = 50          # messages shown at once in a conversation
INBOX_PAGE_SIZE = 25
POLL_LIMIT = 200        # most messages one poll returns
IDEMPOTENCY_KEY_MAX = 64


def clean_key(key: str | None) -> str | None:
    """An idempotency key as sent by the client, or None when missing or unusable."""
    key = (key or "").strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not re.fullmatch(r"[A-Za-z0-9_.:-]+", key):
        return None
    return key


# --------------------------------------------------------------------------- writing


def start_conversation(resident, ward: Ward, subject: str, body: str,
                       idempotency_key: str | None = None, now: datetime | None = None) -> Conversation:
    """Open a conversation between ``resident`` and the team of ``ward`` with a first message.

    Raises :class:`MessagingBlocked` for a blocked resident and :class:`ThreadError` for a
    ward that is not theirs or empty/oversized text. A retry with the same
    ``idempotency_key`` returns the conversation the first attempt created.
    """
    if resident.role != "resident":
        raise ThreadError("Only residents can start a conversation.")
    key = clean_key(idempotency_key)
    if key:
        existing = _message_by_key(resident, key)
        if existing is not None:
            return db.session.get(Conversation, existing.conversation_id)
    _refuse_if_blocked(resident)
    if ward is None or ward.id not in {w.id for w in resident_wards(resident)}:
        raise ThreadError("Choose one of your wards.")
    subject = clean_text(subject, SUBJECT_MAX, "subject")
    body = clean_text(body, MESSAGE_MAX, "message")
    now = now or utcnow()
    conversation = Conversation(resident_id=resident.id, ward_id=ward.id, subject=subject,
                                status="awaiting", created_at=now, last_message_at=now,
                                awaiting_since=now, last_message_id=0)
    db.session.add(conversation)
    db.session.flush()
    add_message(conversation, resident, body, key, now=now)
    return conversation


def _message_by_key(author, key: str) -> Message | None:
    return db.session.scalar(select(Message).where(Message.author_id == author.id,
                                                   Message.idempotency_key == key))


def _refuse_if_blocked(user) -> None:
    block = block_for(user)
    if block is not None:
        raise MessagingBlocked("Your ward team has stopped you from sending messages. "
                               f"Reason: {block.reason}")


def add_message(conversation: Conversation, author, body: str,
                idempotency_key: str | None = None, now: datetime | None = None,
                notify: bool = True) -> tuple[Message, bool]:
    """Append a message by ``author`` (the resident, or an officer covering the ward).

    Returns ``(message, created)``: with an ``idempotency_key`` already used by this author
    the earlier message comes back and ``created`` is False (never a duplicate). Updates the
    conversation's status with one conditional UPDATE, so two officers replying at once both
    land. An officer's reply notifies the resident (outbox rows, same transaction) unless
    ``notify`` is False (demo data).
    Raises :class:`ThreadError`/:class:`MessagingBlocked`. The caller commits.
    """
    key = clean_key(idempotency_key)
    if key:
        existing = _message_by_key(author, key)
        if existing is not None:
            if existing.conversation_id != conversation.id:
                raise ThreadError("That message was already sent in another conversation.")
            return existing, False
    from_officer = author.role in ("officer", "admin")
    if not from_officer:
        if author.id != conversation.resident_id:
            raise ThreadError("You cannot write in this conversation.")
        _refuse_if_blocked(author)
    body = clean_text(body, MESSAGE_MAX, "message")
    now = now or utcnow()
    message = Message(conversation_id=conversation.id, author_id=author.id,
                      from_officer=from_officer, body=body, created_at=now, idempotency_key=key)
    try:
        with db.session.begin_nested():
            db.session.add(message)
    except IntegrityError:
        # A parallel retry with the same key won the race: return its message.
        existing = _message_by_key(author, key) if key else None
        if existing is None:
            raise
        return existing, False
    newest = case((Conversation.last_message_id < message.id, message.id),
                  else_=Conversation.last_message_id)
    latest_at = case((Conversation.last_message_id < message.id, now),
                     else_=Conversation.last_message_at)
    if from_officer:
        values = {"status": "answered", "awaiting_since": None, "closed_at": None}
    else:
        # A resident writing again reopens a closed conversation; keep the oldest
        # unanswered time when it was already awaiting.
        values = {"status": "awaiting", "closed_at": None,
                  "awaiting_since": func.coalesce(
                      case((Conversation.status == "awaiting", Conversation.awaiting_since)), now)}
    db.session.execute(update(Conversation).where(Conversation.id == conversation.id)
                       .values(last_message_id=newest, last_message_at=latest_at, **values)
                       .execution_options(synchronize_session=False))
    db.session.expire(conversation)
    _mark_read(conversation.id, author.id, message.id)
    if from_officer:
        record(author, "message.reply", message, f"conversation {conversation.id}")
        if notify:
            _notify_reply(conversation, message, author)
    return message, True


def _notify_reply(conversation: Conversation, message: Message, officer) -> None:
    """Tell the resident about an officer's reply through the delivery domain (which
    decides, from their choices, email now / in a digest / push / nothing)."""
    resident = conversation.resident
    preview = message.body if len(message.body) <= 300 else message.body[:297] + "…"
    url = f"/messages/{conversation.id}"
    notify(resident, Event(
        kind="reply", source_type="message", source_id=message.id,
        title=f"Reply from your ward team: {conversation.subject}", body=preview, url=url,
        email_template="threads/reply",
        email_context={"conversation_subject": conversation.subject, "officer": officer.officer_label,
                       "body": message.body, "url": url, "ward_name": conversation.ward.name,
                       "resident_name": resident.display_name},
        # One push notification per conversation: a newer reply replaces the older one.
        tag=f"conversation-{conversation.id}", category=None, urgent=False))


def _mark_read(conversation_id: int, user_id: int, message_id: int) -> None:
    """Move ``user_id``'s read marker forward to ``message_id`` (never backwards)."""
    changed = db.session.execute(
        update(ConversationRead)
        .where(ConversationRead.conversation_id == conversation_id,
               ConversationRead.user_id == user_id,
               ConversationRead.last_read_message_id < message_id)
        .values(last_read_message_id=message_id)
        .execution_options(synchronize_session=False)).rowcount
    if changed:
        return
    if db.session.get(ConversationRead, (conversation_id, user_id)) is not None:
        return  # already read this far
    try:
        with db.session.begin_nested():
            db.session.add(ConversationRead(conversation_id=conversation_id, user_id=user_id,
                                            last_read_message_id=message_id))
    except IntegrityError:
        pass  # a parallel request created it; that one moved the marker


def mark_read(conversation: Conversation, user) -> None:
    """Record that ``user`` has seen the whole conversation (the caller commits)."""
    if conversation.last_message_id:
        _mark_read(conversation.id, user.id, conversation.last_message_id)


# --------------------------------------------------------------------------- reading
def messages_page(conversation: Conversation, before: int | None = None,
                  limit: int = PAGE_SIZE) -> tuple[list[Message], bool]:
    """The latest ``limit`` messages (before message id ``before``), oldest first, and
    whether there are earlier ones. One query whatever the conversation's length."""
    stmt = (select(Message).where(Message.conversation_id == conversation.id)
            .options(joinedload(Message.author)).order_by(Message.id.desc()).limit(limit + 1))
    if before:
        stmt = stmt.where(Message.id < before)
    rows = list(db.session.scalars(stmt))
    return list(reversed(rows[:limit])), len(rows) > limit


def messages_after(conversation: Conversation, after: int) -> list[Message]:
    """Messages newer than ``after``, oldest first (at most POLL_LIMIT)."""
    stmt = (select(Message).where(Message.conversation_id == conversation.id, Message.id > after)
            .options(joinedload(Message.author)).order_by(Message.id).limit(POLL_LIMIT))
    return list(db.session.scalars(stmt))


def poll(user, conversation_id: int, after: int) -> bool | None:
    """One cheap query for polling: None if ``user`` may not see the conversation, else
    whether it has messages newer than ``after``."""
    visible = conversations_visible_to(user).where(Conversation.id == conversation_id)
    row = db.session.execute(visible.with_only_columns(
        Conversation.last_message_id)).first()
    if row is None:
        return None
    return row[0] > after


@dataclass
class InboxRow:
    conversation: Conversation
    unread: bool


def inbox(user, *, ward_id: int | None = None, status: str | None = None, page: int = 1,
          per_page: int = INBOX_PAGE_SIZE) -> tuple[list[InboxRow], int]:
    """An officer's conversations: awaiting reply first (oldest waiting first), then the
    rest by latest activity. Returns a page of rows and the total. Two queries, whatever
    the number of conversations or messages."""
    base = conversations_visible_to(user)
    if ward_id:
        base = base.where(Conversation.ward_id == ward_id)
    if status in STATUSES:
        base = base.where(Conversation.status == status)
    total = db.session.scalar(select(func.count()).select_from(base.subquery()))
    read = ConversationRead
    stmt = (base.join(Conversation.ward).join(Conversation.resident)
            .outerjoin(read, and_(read.conversation_id == Conversation.id, read.user_id == user.id))
            .add_columns(func.coalesce(read.last_read_message_id, 0))
            .options(contains_eager(Conversation.ward), contains_eager(Conversation.resident),
                     joinedload(Conversation.assigned_to))
            .order_by(case((Conversation.status == "awaiting", 0), else_=1),
                      Conversation.awaiting_since, Conversation.last_message_at.desc(),
                      Conversation.id.desc())
            .limit(per_page).offset(max(page - 1, 0) * per_page))
    rows = [InboxRow(conv, conv.last_message_id > last_read)
            for conv, last_read in db.session.execute(stmt).unique()]
    return rows, total


def resident_conversations(user) -> list[InboxRow]:
    """A resident's conversations, latest activity first, with unread markers."""
    read = ConversationRead
    stmt = (conversations_visible_to(user).join(Conversation.ward)
            .outerjoin(read, and_(read.conversation_id == Conversation.id, read.user_id == user.id))
            .add_columns(func.coalesce(read.last_read_message_id, 0))
            .options(contains_eager(Conversation.ward))
            .order_by(Conversation.last_message_at.desc()).limit(200))
    return [InboxRow(conv, conv.last_message_id > last_read)
            for conv, last_read in db.session.execute(stmt)]


def unread_count(user) -> int:
    """How many of ``user``'s visible conversations have messages they have not read."""
    read = ConversationRead
    stmt = (conversations_visible_to(user)
            .outerjoin(read, and_(read.conversation_id == Conversation.id, read.user_id == user.id))
            .where(Conversation.last_message_id > func.coalesce(read.last_read_message_id, 0))
            .with_only_columns(func.count()))
    return db.session.scalar(stmt) or 0


# --------------------------------------------------------------------------- officer actions
def close_conversation(conversation: Conversation, officer, now: datetime | None = None) -> None:
    conversation.status = "closed"
    conversation.closed_at = now or utcnow()
    conversation.awaiting_since = None
    record(officer, "conversation.close", conversation)


def reopen_conversation(conversation: Conversation, officer) -> None:
    """Reopen a closed conversation: awaiting reply if the resident wrote last."""
    last = db.session.scalar(select(Message.from_officer).where(
        Message.conversation_id == conversation.id).order_by(Message.id.desc()).limit(1))
    conversation.status = "answered" if last else "awaiting"
    conversation.closed_at = None
    conversation.awaiting_since = None if last else utcnow()
    record(officer, "conversation.reopen", conversation)


def take_conversation(conversation: Conversation, officer) -> None:
    """Assign the conversation to ``officer`` ("assigned to me")."""
    conversation.assigned_to_id = officer.id
    record(officer, "conversation.take", conversation)


def record_view(conversation: Conversation, officer) -> None:
    """Audit that an officer opened a conversation (residents' messages are personal data)."""
    record(officer, "conversation.view", conversation)


# --------------------------------------------------------------------------- publishing
def publish_answer(conversation: Conversation, officer, title: str, question: str,
                   answer: str) -> posts.WardPost:
    """Publish a question and its answer from ``conversation`` to the conversation's ward.

    The resident's identity never appears: the officer's wording is scrubbed of the
    resident's name and email (and any email address or phone number), and the post keeps
    no link to the conversation or the resident.
    """
    resident = conversation.resident
    return posts.create_ward_post(conversation.ward, officer, posts.scrub_identity(title, resident),
                            posts.scrub_identity(answer, resident), kind="answer",
                            question=posts.scrub_identity(question, resident))


def default_publication(conversation: Conversation) -> dict:
    """Suggested wording for publishing: the first resident message and the latest reply,
    already scrubbed; the officer edits it."""
    first = db.session.scalar(select(Message).where(
        Message.conversation_id == conversation.id, Message.from_officer.is_(False),
        Message.hidden_at.is_(None)).order_by(Message.id).limit(1))
    reply = db.session.scalar(select(Message).where(
        Message.conversation_id == conversation.id, Message.from_officer.is_(True),
        Message.hidden_at.is_(None)).order_by(Message.id.desc()).limit(1))
    resident = conversation.resident
    return {"title": posts.scrub_identity(conversation.subject, resident),
            "question": posts.scrub_identity(first.body if first else "", resident),
            "answer": posts.scrub_identity(reply.body if reply else "", resident)}
