"""Conversations, messages and moderation: plain functions, no ``request``.

Every query for conversations goes through :func:`conversations_visible_to`, so a resident
only ever sees their own and an officer only those of the wards they cover. Functions that
change data add to the session (and the audit log) and leave the commit to the caller,
unless they say otherwise.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, false, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, joinedload

from webapp.platform.account_data import register_account_data
from webapp.platform.audit import AuditEvent, blank_details, record
from webapp import posts
from webapp.extensions import db
from webapp.threads.models import (MESSAGE_MAX, STATUSES, SUBJECT_MAX, BlockedAddress,
                                   Conversation, ConversationAccess, ConversationRead, Message,
                                   MessagingBlock, OfficerDigestState)
from webapp.platform.timeutil import format_london, utcnow
from webapp.wards.models import Ward
from webapp.wards.services import covered_ward_ids
from flask import current_app
from sqlalchemy import delete
from webapp.accounts.models import User
from webapp.config import load_or_create_secret
from webapp.delivery import Event, notify
from webapp.delivery.services import insert_ignore
from webapp.wards.models import TeamMember, TeamWard
import hashlib
import hmac

PAGE_SIZE = 50          # messages shown at once in a conversation
INBOX_PAGE_SIZE = 25
POLL_LIMIT = 200        # most messages one poll returns
DIGEST_INTERVAL = timedelta(hours=1)
IDEMPOTENCY_KEY_MAX = 64


class ThreadError(Exception):
    """A message or conversation was refused; ``str(exc)`` is safe to show to the user."""


class MessagingBlocked(ThreadError):
    """The resident was stopped from messaging by an officer."""


# --------------------------------------------------------------------------- scope
def conversations_visible_to(user):
    """A SELECT of the conversations ``user`` may see: a resident's own; for officers and
    admins, those of the wards they cover; nothing for anyone else."""
    stmt = select(Conversation)
    if user is None or not getattr(user, "is_authenticated", False):
        return stmt.where(false())
    if user.role == "resident":
        return stmt.where(Conversation.resident_id == user.id)
    if user.role == "officer":
        return stmt.where(Conversation.ward_id.in_(covered_ward_ids(user)))
    if user.role == "admin":
        if admin_access_until(user) is not None:  # the explicit, audited "view as admin"
            return stmt
        return stmt.where(Conversation.ward_id.in_(team_ward_ids(user)))
    return stmt.where(false())


def team_ward_ids(user):
    """A SELECT of the wards of the teams ``user`` belongs to (an admin's own teams)."""
    return (select(TeamWard.ward_id).join(TeamMember, TeamMember.team_id == TeamWard.team_id)
            .where(TeamMember.user_id == user.id).distinct())


# --------------------------------------------------------------------------- view as admin
ACCESS_REASON_MIN = 10


def admin_access_until(user, now: datetime | None = None) -> datetime | None:
    """When the admin's current "view as admin" step ends, or None when there is none."""
    if user is None or getattr(user, "role", None) != "admin":
        return None
    access = db.session.get(ConversationAccess, user.id)
    now = now or utcnow()
    return access.expires_at if access is not None and access.expires_at > now else None


def grant_admin_access(admin, reason: str, minutes: int, now: datetime | None = None) -> ConversationAccess:
    """Let ``admin`` read every conversation in London for ``minutes``, for ``reason``
    (required, recorded in the audit log). Raises :class:`ThreadError` for a missing or
    too-short reason. The caller commits."""
    if admin.role != "admin":
        raise ThreadError("Only admins can do this.")
    reason = clean_text(reason, 500, "reason")
    if len(reason) < ACCESS_REASON_MIN:
        raise ThreadError(f"Say why, in at least {ACCESS_REASON_MIN} characters.")
    now = now or utcnow()
    access = db.session.get(ConversationAccess, admin.id)
    if access is None:
        access = ConversationAccess(user_id=admin.id, reason=reason, granted_at=now,
                                    expires_at=now)
        db.session.add(access)
    access.reason, access.granted_at = reason, now
    access.expires_at = now + timedelta(minutes=minutes)
    record(admin, "conversation.admin_access", None,
           f"all conversations for {minutes} min: {reason}")
    return access


def end_admin_access(admin) -> None:
    """End the admin's "view as admin" step now (audited). The caller commits."""
    access = db.session.get(ConversationAccess, admin.id)
    if access is not None:
        db.session.delete(access)
        record(admin, "conversation.admin_access_end")


def get_conversation(user, conversation_id: int) -> Conversation | None:
    """The conversation if ``user`` may see it, else None (the view answers 404)."""
    stmt = (conversations_visible_to(user).where(Conversation.id == conversation_id)
            .options(joinedload(Conversation.ward).joinedload(Ward.borough),
                     joinedload(Conversation.resident), joinedload(Conversation.assigned_to)))
    return db.session.scalar(stmt)


def get_message(user, message_id: int) -> Message | None:
    """A message in a conversation ``user`` may see, else None."""
    visible = conversations_visible_to(user).with_only_columns(Conversation.id)
    return db.session.scalar(select(Message).where(Message.id == message_id,
                                                   Message.conversation_id.in_(visible)))


def resident_wards(user) -> list[Ward]:
    """The wards a resident may write to: their home ward and their extra wards."""
    return list(user.ward_list) if user is not None and user.role == "resident" else []


# --------------------------------------------------------------------------- validation
def clean_text(value: str | None, limit: int, what: str) -> str:
    """Trim ``value``; raise :class:`ThreadError` when it is empty or too long (the rule of
    :func:`webapp.posts.clean_text`).

    Text is stored as written and escaped when shown (Jinja autoescaping), so markup in a
    message is displayed, never run.
    """
    try:
        return posts.clean_text(value, limit, what)
    except posts.PostError as exc:
        raise ThreadError(str(exc)) from None


def clean_key(key: str | None) -> str | None:
    """An idempotency key as sent by the client, or None when missing or unusable."""
    key = (key or "").strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not re.fullmatch(r"[A-Za-z0-9_.:-]+", key):
        return None
    return key


def block_for(user) -> MessagingBlock | None:
    """The block stopping ``user`` from messaging, if any: their own, or (unsaved) one
    carried over from a deleted account with the same email address (:class:`BlockedAddress`),
    so deleting the account and signing up again does not escape a block."""
    if user is None or getattr(user, "id", None) is None:
        return None
    block = db.session.get(MessagingBlock, user.id)
    if block is None and getattr(user, "role", None) == "resident" and user.email:
        carried = db.session.get(BlockedAddress, address_hmac(user.email))
        if carried is not None:
            block = MessagingBlock(user_id=user.id, reason=CARRIED_BLOCK_REASON,
                                   blocked_by_id=None, created_at=carried.created_at)
    return block


CARRIED_BLOCK_REASON = ("An earlier account with this email address was stopped from sending "
                        "messages. Contact your ward team another way (101) to discuss it.")


def address_key(email: str) -> str:
    """The form of an address that is hashed: lower case, without a ``+tag``."""
    local, _, domain = (email or "").strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def address_hmac(email: str) -> str:
    """HMAC-SHA256 of :func:`address_key`, keyed by ``BLOCKLIST_KEY`` (from the environment,
    else generated into ``instance/blocklist_key``): without the key the stored hashes
    cannot be tested against a list of addresses."""


    key = current_app.config.get("BLOCKLIST_KEY") or \
        load_or_create_secret(current_app.instance_path, "blocklist_key")
    return hmac.new(key.encode(), address_key(email).encode(), hashlib.sha256).hexdigest()


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


def hide_message(message: Message, officer, reason: str = "", now: datetime | None = None) -> None:
    """Hide an abusive message from the resident. It is kept (and still shown to officers,
    marked hidden) for the record."""
    if message.hidden_at is None:
        message.hidden_at = now or utcnow()
        message.hidden_by_id = officer.id
        message.hidden_reason = (reason or "").strip()[:200] or None
        record(officer, "message.hide", message, message.hidden_reason or "")


def unhide_message(message: Message, officer) -> None:
    if message.hidden_at is not None:
        message.hidden_at = None
        message.hidden_by_id = None
        message.hidden_reason = None
        record(officer, "message.unhide", message)


def block_resident(resident, officer, reason: str) -> MessagingBlock:
    """Stop ``resident`` from sending messages, with a recorded reason (shown to them).
    Raises :class:`ThreadError` when the reason is missing."""
    reason = clean_text(reason, 500, "reason")
    block = db.session.get(MessagingBlock, resident.id)
    if block is None:
        block = MessagingBlock(user_id=resident.id, reason=reason, blocked_by_id=officer.id)
        db.session.add(block)
    else:
        block.reason, block.blocked_by_id = reason, officer.id
    db.session.execute(insert_ignore(BlockedAddress.__table__).values(
        address_hmac=address_hmac(resident.email), created_at=utcnow()).on_conflict_do_nothing())
    record(officer, "resident.block", resident, reason)
    return block


def unblock_resident(resident, officer) -> None:
    """Lift a block (the resident's own, or one carried over by their address)."""
    block = db.session.get(MessagingBlock, resident.id)
    carried = db.session.execute(delete(BlockedAddress).where(
        BlockedAddress.address_hmac == address_hmac(resident.email))).rowcount
    if block is not None:
        db.session.delete(block)
    if block is not None or carried:
        record(officer, "resident.unblock", resident)


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


# --------------------------------------------------------------------------- digests
def send_officer_digests(now: datetime | None = None) -> int:
    """Email each officer a digest of conversations awaiting reply in their wards, at most
    once per DIGEST_INTERVAL, and only when something new has been waiting since their last
    digest. Idempotent (a scheduler tick): each officer's ``last_digest_at`` is claimed with
    a conditional UPDATE, so parallel runs send one digest. Commits; returns how many were
    queued."""
    now = now or utcnow()
    due_before = now - DIGEST_INTERVAL
    state = OfficerDigestState
    newest_waiting = func.max(Conversation.awaiting_since)
    stmt = (select(User.id, newest_waiting)
            .join(TeamMember, TeamMember.user_id == User.id)
            .join(TeamWard, TeamWard.team_id == TeamMember.team_id)
            .join(Conversation, Conversation.ward_id == TeamWard.ward_id)
            .outerjoin(state, state.user_id == User.id)
            .where(User.role == "officer", Conversation.status == "awaiting",
                   or_(state.last_digest_at.is_(None), state.last_digest_at <= due_before))
            .group_by(User.id, state.last_digest_at)
            .having(or_(state.last_digest_at.is_(None), newest_waiting > state.last_digest_at)))
    sent = 0
    for user_id, _newest in db.session.execute(stmt).all():
        officer = db.session.get(User, user_id)
        if not _claim_digest(officer, now, due_before):
            db.session.rollback()
            continue
        count = db.session.scalar(select(state.digest_count).where(state.user_id == user_id))
        rows, total = inbox(officer, status="awaiting", per_page=20)
        items = [{"id": r.conversation.id, "subject": r.conversation.subject,
                  "ward": r.conversation.ward.name,
                  # Formatted now: the email context is stored as JSON in the outbox.
                  "since": format_london(r.conversation.awaiting_since),
                  "url": f"/officer/messages/{r.conversation.id}"} for r in rows]
        notify(officer, Event(
            # This officer's count-th digest: one notification of their own (the
            # recipient and the text are part of its identity).
            kind="officer_digest", source_type="officer_digest", source_id=officer.id,
            occasion=f"digest {count}",
            title=f"{total} conversation{'s' if total != 1 else ''} awaiting reply",
            body="\n".join(f"{i['ward']}: {i['subject']}" for i in items), url="/officer/inbox",
            email_template="threads/officer_digest",
            email_context={"items": items, "total": total, "officer": officer.display_name},
            category=None, urgent=False))
        db.session.commit()
        sent += 1
    return sent


def _claim_digest(officer, now: datetime, due_before: datetime) -> bool:
    """Take this hour's digest for ``officer`` (True), or find another run took it."""
    state = OfficerDigestState
    if db.session.get(state, officer.id) is None:
        try:
            with db.session.begin_nested():
                db.session.add(state(user_id=officer.id, last_digest_at=None, digest_count=0))
        except IntegrityError:
            pass
    claimed = db.session.execute(
        update(state).where(state.user_id == officer.id,
                            or_(state.last_digest_at.is_(None), state.last_digest_at <= due_before))
        .values(last_digest_at=now, digest_count=state.digest_count + 1)
        .execution_options(synchronize_session=False)).rowcount
    return claimed == 1


# --------------------------------------------------------------------------- account data
def export_messages(user) -> tuple[str, object]:
    """"Download my data" (accounts.EXPORTERS): a resident's conversations and messages."""
    def iso(value):
        return value.isoformat() + "Z" if value else None

    if user.role != "resident":
        return "conversations", []
    conversations = list(db.session.scalars(
        select(Conversation).where(Conversation.resident_id == user.id)
        .options(joinedload(Conversation.ward)).order_by(Conversation.id)))
    messages: dict[int, list] = {}
    if conversations:
        for m in db.session.scalars(select(Message).options(joinedload(Message.author)).where(
                Message.conversation_id.in_([c.id for c in conversations])).order_by(Message.id)):
            author = "you" if m.author_id == user.id else \
                (m.author.officer_label if m.author else "ward team")
            messages.setdefault(m.conversation_id, []).append(
                {"from": author, "text": m.body, "sent_at": iso(m.created_at),
                 "removed_by_moderator": m.hidden_at is not None,
                 "moderation": {"hidden_at": iso(m.hidden_at), "reason": m.hidden_reason}
                 if m.hidden_at is not None else None})
    block = block_for(user)
    history = db.session.execute(
        select(AuditEvent.action, AuditEvent.created_at, AuditEvent.detail)
        .where(AuditEvent.target_type == "users", AuditEvent.target_id == user.id,
               AuditEvent.action.in_(("resident.block", "resident.unblock")))
        .order_by(AuditEvent.id)).all()
    reads = db.session.execute(select(ConversationRead.conversation_id,
                                      ConversationRead.last_read_message_id)
                               .where(ConversationRead.user_id == user.id)).all()
    return "conversations", {
        "block_history": [{"action": "stopped" if a == "resident.block" else "allowed again",
                           "at": iso(at), "reason": detail or None} for a, at, detail in history],
        "address_on_block_list": db.session.get(BlockedAddress, address_hmac(user.email)) is not None,
        "read_markers": [{"conversation_id": c, "last_read_message_id": m} for c, m in reads],
        "conversations": [{"subject": c.subject, "ward": c.ward.name, "status": c.status,
                           "started_at": iso(c.created_at), "messages": messages.get(c.id, [])}
                          for c in conversations],
        "messaging_stopped": {"reason": block.reason, "at": iso(block.created_at)} if block else None,
    }


def forget_messages(user) -> None:
    """Account deletion (accounts.DELETERS): remove the resident's conversations (with
    every message in them), read markers and any messaging block. Published ward posts stay:
    they never held the resident's identity. Does not commit."""
    ids = select(Conversation.id).where(Conversation.resident_id == user.id)
    db.session.execute(delete(Message).where(Message.conversation_id.in_(ids)))
    db.session.execute(delete(ConversationRead).where(or_(
        ConversationRead.conversation_id.in_(ids), ConversationRead.user_id == user.id)))
    db.session.execute(delete(Conversation).where(Conversation.resident_id == user.id))
    db.session.execute(delete(MessagingBlock).where(MessagingBlock.user_id == user.id))


def identifying_messages(user) -> list[str]:
    """What identifies a resident in free text others wrote: their conversations' subjects,
    the messages in them (and moderators' reasons), the reason they were blocked."""
    convs = select(Conversation.id).where(Conversation.resident_id == user.id)
    values = list(db.session.scalars(select(Conversation.subject)
                                     .where(Conversation.resident_id == user.id)))
    for body, reason in db.session.execute(select(Message.body, Message.hidden_reason)
                                           .where(Message.conversation_id.in_(convs))):
        values += [body, reason]
    values += db.session.scalars(select(MessagingBlock.reason)
                                 .where(MessagingBlock.user_id == user.id))
    return values


def erase_message_traces(user) -> None:
    """Account deletion: the audit events about the resident's conversations and messages
    keep their time, not their words."""
    convs = select(Conversation.id).where(Conversation.resident_id == user.id)
    blank_details("conversations", convs)
    blank_details("messages", select(Message.id).where(Message.conversation_id.in_(convs)))


register_account_data(export=export_messages, identify=identifying_messages,
                      erase=erase_message_traces, forget=forget_messages)
