"""Reading conversations: a page of messages, polling, the officer inbox and a resident's
list. Lists are rows (MessageView, InboxConversation), not ORM entities, from statements
built once where their shape allows (issue 14: building a statement cost about as much CPU
as running it, and tracked objects more than the rows they came from)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import and_, bindparam, case, func, select
from sqlalchemy.orm import aliased, contains_eager

from webapp.accounts.models import User, officer_label
from webapp.extensions import db
from webapp.platform.db import rows as read_rows
from webapp.threads.models import STATUSES, Conversation, ConversationRead, Message
from webapp.threads.scope import conversations_visible_to
from webapp.wards.models import Ward
from webapp.wards.services import Officer, is_officer

PAGE_SIZE = 50          # messages shown at once in a conversation
INBOX_PAGE_SIZE = 25
POLL_LIMIT = 200        # most messages one poll returns


@dataclass(frozen=True, slots=True)
class Author:
    """What a message shows of its author."""
    display_name: str | None
    officer_label: str


@dataclass(frozen=True, slots=True)
class MessageView:
    """A message as the thread shows it (read-only): rows, not ORM entities, because a
    page of 50 messages and their authors cost more as tracked objects than the rest of
    the query (issue 14). ``author`` is None once the author's account is deleted."""
    id: int
    from_officer: bool
    body: str
    created_at: datetime
    hidden_at: datetime | None
    hidden_reason: str | None
    author: Author | None


# Built once: the columns a thread shows, the author's by an outer join.
_MESSAGE_COLUMNS = select(Message.id, Message.from_officer, Message.body, Message.created_at,
                          Message.hidden_at, Message.hidden_reason, Message.author_id,
                          User.display_name, User.rank, User.shoulder_number).outerjoin(
    User, User.id == Message.author_id).where(Message.conversation_id == bindparam("cid"))
_LATEST = _MESSAGE_COLUMNS.order_by(Message.id.desc()).limit(bindparam("n"))
_LATEST_BEFORE = _MESSAGE_COLUMNS.where(Message.id < bindparam("before")).order_by(
    Message.id.desc()).limit(bindparam("n"))
_AFTER = _MESSAGE_COLUMNS.where(Message.id > bindparam("after")).order_by(Message.id).limit(
    bindparam("n"))


def _views(rows) -> list[MessageView]:
    return [MessageView(mid, from_officer, body, created_at, hidden_at, hidden_reason,
                        None if author_id is None else
                        Author(name, officer_label(name, rank, shoulder)))
            for (mid, from_officer, body, created_at, hidden_at, hidden_reason, author_id,
                 name, rank, shoulder) in rows]


def messages_page(conversation: Conversation, before: int | None = None,
                  limit: int = PAGE_SIZE) -> tuple[list[MessageView], bool]:
    """The latest ``limit`` messages (before message id ``before``), oldest first, and
    whether there are earlier ones. One query whatever the conversation's length."""
    if before:
        rows = read_rows(_LATEST_BEFORE, {"cid": conversation.id, "before": before,
                                          "n": limit + 1}).all()
    else:
        rows = read_rows(_LATEST, {"cid": conversation.id, "n": limit + 1}).all()
    return _views(reversed(rows[:limit])), len(rows) > limit


def messages_after(conversation: Conversation, after: int) -> list[MessageView]:
    """Messages newer than ``after``, oldest first (at most POLL_LIMIT)."""
    return _views(read_rows(_AFTER, {"cid": conversation.id, "after": after,
                                     "n": POLL_LIMIT}).all())


def poll(user, conversation_id: int, after: int) -> bool | None:
    """One cheap query for polling: None if ``user`` may not see the conversation, else
    whether it has messages newer than ``after``."""
    visible = conversations_visible_to(user).where(Conversation.id == conversation_id)
    row = read_rows(visible.with_only_columns(Conversation.last_message_id)).first()
    if row is None:
        return None
    return row[0] > after


@dataclass
class InboxRow:
    conversation: Conversation | InboxConversation
    unread: bool


@dataclass(frozen=True, slots=True)
class Named:
    """The one thing a list shows of a person or a ward: a resident's or officer's
    ``display_name``, a ward's ``name``."""
    display_name: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class InboxConversation:
    """A conversation as the officer inbox lists it (read-only): rows, not ORM entities,
    because 25 conversations with their resident, ward and assignee cost more as tracked
    objects than the query (issue 14)."""
    id: int
    subject: str
    status: str
    awaiting_since: datetime | None
    last_message_at: datetime
    assigned_to_id: int | None
    assigned_to: Named | None
    resident: Named | None  # None in a resident's own list
    ward: Named

    @property
    def status_label(self) -> str:
        return STATUSES.get(self.status, self.status)


def inbox(user, *, ward_id: int | None = None, status: str | None = None, page: int = 1,
          per_page: int = INBOX_PAGE_SIZE) -> tuple[list[InboxRow], int]:
    """An officer's conversations: awaiting reply first (oldest waiting first), then the
    rest by latest activity. Returns a page of rows and the total. Two queries, whatever
    the number of conversations or messages."""
    if is_officer(user):
        # An officer's statements depend on nothing but these values: built once each.
        count, stmt = _officer_inbox_statements(user.id, ward_id, status, page, per_page)
    else:
        count, stmt = _inbox_statements(user, ward_id, status, page, per_page)
    total = read_rows(count).scalar()
    rows = [InboxRow(InboxConversation(cid, subject, state, awaiting, last_at, assigned_id,
                                       None if assigned_id is None else Named(assigned_name),
                                       Named(resident_name), Named(name=ward_name)),
                     (last_id or 0) > last_read)
            for (cid, subject, state, awaiting, last_at, assigned_id, assigned_name,
                 resident_name, ward_name, last_id, last_read) in read_rows(stmt)]
    return rows, total


@lru_cache(maxsize=1024)
def _officer_inbox_statements(user_id: int, ward_id, status, page: int, per_page: int):
    """The inbox's two statements for an officer, kept per process (their SQL, never their
    results): building them cost as much CPU as running them (issue 14)."""
    return _inbox_statements(Officer(user_id), ward_id, status, page, per_page)


def _inbox_statements(user, ward_id, status, page: int, per_page: int):
    """(SELECT the total, SELECT the page's rows) of :func:`inbox`."""
    base = conversations_visible_to(user)
    if ward_id:
        base = base.where(Conversation.ward_id == ward_id)
    if status in STATUSES:
        base = base.where(Conversation.status == status)
    count = select(func.count()).select_from(base.with_only_columns(Conversation.id).subquery())
    read = ConversationRead
    order = (case((Conversation.status == "awaiting", 0), else_=1), Conversation.awaiting_since,
             Conversation.last_message_at.desc(), Conversation.id.desc())
    # The page's ids first, from the conversations alone: joining the residents, wards and
    # read markers before the sort joined all of them (10,000 rows: 45 ms of PostgreSQL per
    # inbox), not just the page's.
    page_ids = (base.with_only_columns(Conversation.id).order_by(*order)
                .limit(per_page).offset(max(page - 1, 0) * per_page))
    assignee = aliased(User)
    return count, (
        select(Conversation.id, Conversation.subject, Conversation.status,
               Conversation.awaiting_since, Conversation.last_message_at,
               Conversation.assigned_to_id, assignee.display_name, User.display_name,
               Ward.name, Conversation.last_message_id,
               func.coalesce(read.last_read_message_id, 0))
        .select_from(Conversation).where(Conversation.id.in_(page_ids))
        .join(Ward, Ward.id == Conversation.ward_id)
        .join(User, User.id == Conversation.resident_id)
        .outerjoin(assignee, assignee.id == Conversation.assigned_to_id)
        .outerjoin(read, and_(read.conversation_id == Conversation.id, read.user_id == user.id))
        .order_by(*order))


def _resident_conversations_statement():
    read = ConversationRead
    user_id = bindparam("user_id")
    return (select(Conversation.id, Conversation.subject, Conversation.status,
                   Conversation.awaiting_since, Conversation.last_message_at,
                   Conversation.assigned_to_id, Ward.name, Conversation.last_message_id,
                   func.coalesce(read.last_read_message_id, 0))
            .select_from(Conversation).where(Conversation.resident_id == user_id)
            .join(Ward, Ward.id == Conversation.ward_id)
            .outerjoin(read, and_(read.conversation_id == Conversation.id, read.user_id == user_id))
            .order_by(Conversation.last_message_at.desc()).limit(200))


# conversations_visible_to(a resident), built once with the resident's id bound at run time.
_RESIDENT_CONVERSATIONS = _resident_conversations_statement()


def resident_conversations(user) -> list[InboxRow]:
    """A resident's conversations, latest activity first, with unread markers (rows: the
    list shows subject, ward, status and last message time)."""
    if user is not None and getattr(user, "is_authenticated", False) and user.role == "resident":
        return [InboxRow(InboxConversation(cid, subject, state, awaiting, last_at, assigned_id,
                                           None, None, Named(name=ward_name)),
                         (last_id or 0) > last_read)
                for (cid, subject, state, awaiting, last_at, assigned_id, ward_name, last_id,
                     last_read) in read_rows(_RESIDENT_CONVERSATIONS, {"user_id": user.id})]
    read = ConversationRead
    rows = db.session.execute(
        conversations_visible_to(user).join(Conversation.ward)
        .outerjoin(read, and_(read.conversation_id == Conversation.id, read.user_id == user.id))
        .add_columns(func.coalesce(read.last_read_message_id, 0))
        .options(contains_eager(Conversation.ward))
        .order_by(Conversation.last_message_at.desc()).limit(200))
    return [InboxRow(conv, conv.last_message_id > last_read) for conv, last_read in rows]


