"""Conversations between a resident and their ward team: starting, writing (idempotent),
officers' status changes, publishing an answer to the ward. Reading (a page of messages,
the inbox, a resident's list) is :mod:`webapp.threads.reading`, re-exported here."""
from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.exc import IntegrityError

from webapp.platform.audit import record
from webapp import posts
from webapp.extensions import db
from webapp.threads.models import (MESSAGE_MAX, SUBJECT_MAX, Conversation, ConversationRead, Message)
from webapp.platform.db import dialect_insert
from webapp.platform.pagecache import note_written
from webapp.platform.timeutil import utcnow
from webapp.wards.models import Ward
from webapp.delivery import Event, notify

from webapp.threads.scope import MessagingBlocked, ThreadError, clean_text, resident_wards
from webapp.threads.moderation import block_for

from webapp.threads.reading import (INBOX_PAGE_SIZE, PAGE_SIZE, POLL_LIMIT,  # noqa: F401
                                    InboxRow, inbox, messages_after, messages_page, poll,
                                    resident_conversations)

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


def _mark_read_statement():
    table = ConversationRead.__table__
    stmt = dialect_insert(table).values(conversation_id=bindparam("conversation_id"),
                                       user_id=bindparam("user_id"),
                                       last_read_message_id=bindparam("message_id"))
    return stmt.on_conflict_do_update(
        index_elements=[table.c.conversation_id, table.c.user_id],
        set_={"last_read_message_id": stmt.excluded.last_read_message_id},
        where=table.c.last_read_message_id < stmt.excluded.last_read_message_id,
    ).returning(table.c.user_id)  # a row only when it moved (psycopg's rowcount here is -1)


_MARK_READ: dict[str, object] = {}  # per dialect (dialect_insert's), built once each


def _mark_read(conversation_id: int, user_id: int, message_id: int) -> None:
    """Move ``user_id``'s read marker forward to ``message_id`` (never backwards)."""
    # One statement (an upsert that only moves forward), safe against a parallel request.
    dialect = db.engine.dialect.name
    stmt = _MARK_READ.get(dialect)
    if stmt is None:
        stmt = _MARK_READ[dialect] = _mark_read_statement()
    # On the session's connection as a core statement: the page cache then counts it as a
    # write of conversation_reads only when it moved the marker (a conversation seen again,
    # or polled, with nothing new changes nothing, and leaves pages stored for it alone).
    moved = db.session.connection().execute(stmt, {"conversation_id": conversation_id,
                                                   "user_id": user_id, "message_id": message_id})
    if moved.first() is not None:
        note_written(db.session, "conversation_reads")


def mark_read(conversation: Conversation, user) -> None:
    """Record that ``user`` has seen the whole conversation (the caller commits)."""
    if conversation.last_message_id:
        _mark_read(conversation.id, user.id, conversation.last_message_id)


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
