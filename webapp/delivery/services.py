"""Deciding who gets what on which channel, and writing it to the outbox.

:func:`notify` (one person: a reply, a meeting reminder) and :func:`fan_out` (a set-based
audience: an alert, a meeting invitation, the daily digest) are the only ways to write the
outbox. Both write rows in the caller's transaction and never send anything themselves.

What a message says is a :class:`Notification`, identified by its whole content, its
recipient and the caller's occasion (:func:`notification_key`): :func:`notify` writes one
per recipient; set-based broadcasts share one (:func:`notification_for` without a
recipient), because they say the same thing to everyone.

The rules, in one place:

* email: ``email_frequency`` "off" → no email. "immediate" → an email delivery.
  "digest" → a digest row (gathered into the daily digest email) for kinds in
  :data:`DIGESTIBLE_KINDS`, unless the event is ``urgent``; personal and time-bound kinds
  (a reply to the resident, a meeting reminder or change) are emailed immediately even to
  digest-choosers, because a reply or a reminder is useless a day late.
* push: one delivery per registered device (:class:`PushSubscription` row). A
  subscription exists only because the resident allowed notifications on that device, so
  it *is* the opt-in (removing a device's subscription is how push is turned off).
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from sqlalchemy import (and_, case, delete, func, insert, literal, select, text, true, union_all,
                        update)

from webapp.accounts.models import User
from webapp.accounts.phone import texted
from webapp.extensions import db
from webapp.platform.account_data import Gathered, register_account_data
from webapp.platform.db import insert_ignore
from webapp.platform.timeutil import utcnow

from webapp.delivery.wakeup import announce
from webapp.delivery.models import (Delivery, Fanout, Notification, PushSubscription, fixed,
                                    rows_of)



log = logging.getLogger("wardline.delivery")

# Kinds a digest-chooser receives in the daily digest (unless urgent). Everything else is
# personal or time-bound and is emailed at once (unless email is off).
# "priority" (a ward priority answering a topic the resident named was set, acted on or
# closed) and "priority_round" (an invitation to confirm one's top three) are news, not
# time-bound: digest-choosers get them in the digest.
DIGESTIBLE_KINDS = frozenset({"alert", "meeting_invite", "ward_post", "priority", "priority_round",
                              "alert_update", "rumour_check"})

MAX_TITLE = 200
MAX_BODY = 5000
MAX_URL = 500


@dataclass
class Event:
    """Something to tell a user about. See the module docstring for the rules.

    ``kind`` and ``source_type``/``source_id`` say what it is about; the notification it
    becomes is identified by all of its content, its recipient and ``occasion`` (see
    :func:`notification_key`), so telling the same user the same event twice creates
    nothing new, while anything that reads differently is a new message.

    ``occasion`` is for a caller that may rightly tell one person the very same words
    again (a resident promoted from the waitlist a second time): give each telling its own
    value (the RSVP's sequence number). Whether to tell someone at all is the caller's
    decision, claimed with a conditional UPDATE; the key only makes writing the same
    telling twice harmless.
    """

    kind: str
    source_type: str
    source_id: int
    title: str
    body: str = ""
    url: str = "/"
    category: str | None = None
    urgent: bool = False
    email_template: str | None = None
    email_context: dict | None = None
    tag: str | None = None
    occasion: str = ""


# --------------------------------------------------------------------------- SQL helpers
def email_channel_sql(frequency_column, kind: str, urgent: bool):
    """SQL expression giving the email channel for a user ("email", "digest" or NULL).

    The same rule as :func:`email_channel`, for set-based fan-out and audience counts.
    """
    digest = "email" if (urgent or kind not in DIGESTIBLE_KINDS) else "digest"
    return case((frequency_column == "immediate", literal("email")),
                (frequency_column == "digest", literal(digest)),
                else_=literal(None))


def email_channel(frequency: str, kind: str, urgent: bool) -> str | None:
    """Which email channel a user with ``frequency`` gets for ``kind``: "email", "digest"
    or None (no email)."""
    if frequency == "immediate":
        return "email"
    if frequency == "digest":
        return "email" if (urgent or kind not in DIGESTIBLE_KINDS) else "digest"
    return None


def _stored_values(event: Event) -> dict:
    """The notification columns for ``event``, cut to the columns' sizes."""
    return dict(source_type=event.source_type[:32], source_id=int(event.source_id),
                kind=event.kind[:32], title=(event.title or "")[:MAX_TITLE],
                body=(event.body or "")[:MAX_BODY], url=(event.url or "/")[:MAX_URL],
                category=event.category, urgent=bool(event.urgent),
                email_template=event.email_template, email_context=event.email_context,
                tag=(event.tag or None) and event.tag[:64])


def notification_key(values: dict, recipient_id: int | None, occasion: str = "") -> str:
    """The identity of a notification: the SHA-256 (hex) of what it says (``values``, the
    stored columns), to whom (``recipient_id``, None for a broadcast) and on which
    ``occasion``. Equal keys mean the same words to the same people."""
    payload = json.dumps({"values": values, "recipient": recipient_id, "occasion": occasion},
                         sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def notification_for(event: Event, recipient_id: int | None = None) -> int:
    """Return the id of the :class:`Notification` saying exactly ``event`` to
    ``recipient_id`` (a user id; None for a broadcast written set-based to a whole
    audience), creating it if needed (race-safe: a concurrent creator's row is reused,
    and it says the same thing, since the key covers every word of it)."""
    values = _stored_values(event)
    key = notification_key(values, recipient_id, event.occasion)
    found = db.session.scalar(select(Notification.id).where(Notification.content_key == key))
    if found is not None:
        return found
    db.session.execute(insert_ignore(Notification.__table__).values(
        content_key=key, recipient_id=recipient_id, created_at=utcnow(), **values)
        .on_conflict_do_nothing())
    return db.session.scalar(select(Notification.id).where(Notification.content_key == key))


# --------------------------------------------------------------------------- outbox lock
#: The PostgreSQL advisory lock (a constant key) that writes of outbox rows take shared
#: and account deletion takes exclusive; see :func:`outbox_lock`.
OUTBOX_LOCK_KEY = 0x57A1D0  # "wardline outbox"


def outbox_lock(exclusive: bool = False) -> None:
    """Take the outbox lock for the rest of the caller's transaction (PostgreSQL).

    ``deliveries`` has no foreign keys (their per-row checks were ~40 % of a London-wide
    fan-out's cost), so a resident's rows go with their account because
    :func:`erase_own_notifications` deletes them. Every write of outbox rows
    (:func:`notify`, :func:`fan_out`) takes this lock shared before it reads who it
    writes to; account deletion takes it exclusive before it deletes the resident's
    rows. Deletion therefore waits for the writes under way (a fan-out part: about a
    second) and then sees their rows, and the writes after it no longer see the
    resident: no row is left without its user or notification. SQLite needs nothing:
    it has one writer at a time and a transaction that read before another's write
    cannot write after it."""
    if db.engine.dialect.name == "postgresql":
        fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        db.session.execute(text(f"SELECT {fn}(:key)"), {"key": OUTBOX_LOCK_KEY})


# --------------------------------------------------------------------------- notify
def notify(user, event: Event) -> int:
    """Queue ``event`` for ``user`` on the channels their preferences ask for.

    Writes outbox rows in the caller's transaction (the caller commits), under a
    notification of the user's own (personal text never shares a row with anyone
    else's); idempotent per (event, user, channel, device). Returns the number of new
    delivery rows. Sends nothing itself: the workers do, once the caller has committed.
    """
    if user is None or user.id is None:
        return 0
    db.session.flush()
    rows = []
    channel = email_channel(user.email_frequency or "immediate", event.kind, event.urgent)
    if channel and user.email:
        rows.append({"channel": channel, "device_id": 0})
    for device_id in db.session.scalars(
            select(PushSubscription.id).where(PushSubscription.user_id == user.id)):
        rows.append({"channel": "push", "device_id": device_id})
    if not rows:
        return 0  # and no text is stored that nobody will be sent
    outbox_lock()
    if db.session.scalar(select(User.id).where(User.id == user.id)) is None:
        return 0  # the account was deleted meanwhile (see outbox_lock)
    notification_id = notification_for(event, user.id)
    now = utcnow()
    stmt = insert_ignore(Delivery.__table__).values([
        dict(row, notification_id=notification_id, user_id=user.id, state="queued",
             attempts=0, next_attempt_at=now, created_at=now) for row in rows
    ]).on_conflict_do_nothing().returning(Delivery.__table__.c.id)
    # Count what RETURNING gives back: rowcount is unreliable for multi-row inserts.
    written = len(db.session.execute(stmt).all())
    if written:
        announce()  # the workers look at once when the caller commits
    return written


_DELIVERY_COLUMNS = ["notification_id", "user_id", "channel", "device_id", "state", "attempts",
                     "next_attempt_at", "created_at"]


def fan_out(event: Event, audience, *, channels=("email", "push"), now=None,
            returning: bool = True, notification_id: int | None = None,
            users: tuple[int, int] | None = None, skip_existing: bool = True) -> int:
    """Write ``event`` to the outbox for a whole ``audience`` in one set-based statement.

    ``audience`` is a SQL select of users: a ``user_id`` column and, to apply each user's
    email preference (:func:`email_channel_sql`), an ``email_frequency`` column; without
    it every member gets an immediate email (the caller has decided, as the digest has).
    ``channels``: "email" (email or digest rows), "push" (one row per device), "sms" (a
    text to members with a confirmed mobile, see :func:`webapp.accounts.phone.texted`). The rows
    share one broadcast notification (:func:`notification_for` without a recipient):
    INSERT ... SELECT of the email rows UNION ALL the push rows, over the audience computed
    once (a CTE); ON CONFLICT DO NOTHING makes a repeated fan-out harmless. Runs in the
    caller's transaction; returns the number of new rows, from RETURNING, or with
    ``returning=False`` (a very large audience: no ids back to Python) from the
    driver's row count (PostgreSQL) or by counting (SQLite).

    ``users`` (first, last user id, both included) writes only that part of the audience,
    under ``notification_id`` (already made): how :mod:`webapp.delivery.fanout` writes a
    very large audience in short transactions, one range of user ids at a time.

    ``skip_existing=False``: a plain INSERT, for rows that cannot exist yet (a part of a
    fan-out, written once): a row that does exist then raises IntegrityError (the unique
    key still holds) instead of being skipped. ON CONFLICT DO NOTHING costs PostgreSQL a
    speculative insertion per row (a look in the unique index first, a second WAL record
    after), about a fifth of a part's CPU.
    """
    db.session.flush()
    now = now or utcnow()
    outbox_lock()  # before the audience is read (see outbox_lock)
    # The workers look at once when the caller commits: for these rows, and for the other
    # parts of a fan-out started now (webapp.delivery.fanout).
    announce()
    if notification_id is None:
        notification_id = notification_for(event)
    if users is not None:
        everyone = audience.subquery("everyone")
        audience = select(*everyone.c).where(everyone.c.user_id.between(*users))
    who = audience.cte("audience")
    parts = []
    if "email" in channels:
        channel = (email_channel_sql(who.c.email_frequency, event.kind, event.urgent)
                   if "email_frequency" in who.c else literal("email"))
        parts.append(select(who.c.user_id, channel.label("channel"),
                            literal(0).label("device_id")).where(channel.is_not(None)))
    if "push" in channels:
        parts.append(select(PushSubscription.user_id, literal("push").label("channel"),
                            PushSubscription.id.label("device_id"))
                     .join(who, who.c.user_id == PushSubscription.user_id)
                     .where(true() if users is None else PushSubscription.user_id.between(*users)))
    if "sms" in channels:
        # A text to each member with a confirmed number, for urgent events or the
        # categories they chose by text (webapp.accounts.phone.texted).
        parts.append(select(who.c.user_id, literal("sms").label("channel"),
                            literal(0).label("device_id"))
                     .where(texted(who.c.user_id, event.category, event.urgent)))
    if not parts:
        return 0
    targets = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("targets")
    rows = select(literal(notification_id), targets.c.user_id, targets.c.channel,
                  targets.c.device_id, literal("queued"), literal(0), literal(now),
                  literal(now)).where(true())  # WHERE: SQLite's INSERT…SELECT…ON CONFLICT
    if skip_existing:
        stmt = insert_ignore(Delivery.__table__).from_select(
            _DELIVERY_COLUMNS, rows).on_conflict_do_nothing()
    else:
        # SQLAlchemy's core INSERT, not the dialect's (insert_ignore): the dialect's
        # INSERT cannot be cached, and compiling the part's statement afresh for every
        # part cost its part writer ~20 ms of CPU (of ~40 ms of Python a part).
        stmt = insert(Delivery.__table__).from_select(_DELIVERY_COLUMNS, rows)
    if returning:
        return len(db.session.execute(stmt.returning(Delivery.__table__.c.id)).all())
    if db.engine.dialect.name == "postgresql":
        # PostgreSQL's count of inserted rows (ON CONFLICT skips excluded): no counting
        # of the part's rows before and after.
        # (SQLAlchemy keeps an INSERT's row count only when asked to.)
        return db.session.execute(stmt.execution_options(preserve_rowcount=True)).rowcount
    before = delivery_count(notification_id, users)
    db.session.execute(stmt)
    return delivery_count(notification_id, users) - before


def delivery_count(notification_id: int, users: tuple[int, int] | None = None) -> int:
    """How many outbox rows carry ``notification_id`` (for the user ids ``users``, first
    and last included, when given). Counted, because the driver's rowcount of an
    INSERT that starts WITH (the audience CTE) is -1 on SQLite."""
    return db.session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.notification_id == notification_id,
        true() if users is None else Delivery.user_id.between(*users)))


def stop_email(user) -> int:
    """Turn email off for ``user`` (unsubscribe) and drop their digest rows not sent yet:
    those waiting for the digest, and those gathered into a digest email still waiting
    (that email then carries nothing and is not sent). Does not commit. Returns how many
    rows were dropped.

    Emails already waiting are dropped by the worker as it reaches them, unsent: it checks
    the resident still wants email before each one
    (:func:`webapp.delivery.emails.wants_email`). Looking for them here would read every
    waiting row of the outbox (they are not in the index by resident: see
    :data:`~webapp.delivery.models.RESIDENT_PARTS`), ~500,000 after a London-wide alert,
    just when people unsubscribe."""
    user.email_frequency = "off"
    dropped = 0
    for waiting in (and_(Delivery.channel == fixed("digest"), Delivery.state == fixed("queued")),
                    Delivery.state == fixed("batched")):  # each read through its own index
        dropped += db.session.execute(
            update(Delivery).where(Delivery.user_id == user.id, waiting)
            .values(state="gone", last_error="unsubscribed")
            .execution_options(synchronize_session=False)).rowcount or 0
    return dropped


# --------------------------------------------------------------------------- account hooks
def _delivery_parts(user) -> dict:
    """For "Download my data": every email and push message queued or sent to the user
    (each part of their rows read through its own index: :func:`rows_of`)."""
    return {"deliveries": (union_all(*(
        select(Delivery.id, Delivery.channel, Delivery.state, Delivery.created_at,
               Delivery.sent_at, Delivery.last_error, Notification.kind, Notification.title,
               Notification.body, Notification.url)
        .join(Notification, Notification.id == Delivery.notification_id).where(part)
        for part in rows_of(user.id))), ("id",))}


def _delivery_section(user, rows) -> tuple[str, list]:
    return "deliveries", [
        {"channel": r["channel"], "state": r["state"], "kind": r["kind"], "title": r["title"],
         "body": r["body"], "url": r["url"], "last_error": r["last_error"],
         "created_at": r["created_at"].isoformat() + "Z",
         "sent_at": r["sent_at"].isoformat() + "Z" if r["sent_at"] else None}
        for r in rows["deliveries"]]


def identifying_devices(user) -> list[str]:
    """What identifies a resident in free text: their devices' push endpoints and browsers."""
    values = []
    for endpoint, agent in db.session.execute(select(PushSubscription.endpoint,
                                                     PushSubscription.user_agent)
                                              .where(PushSubscription.user_id == user.id)):
        values += [endpoint, agent]
    return values


def erase_own_notifications(user) -> None:
    """Account deletion: every delivery of the resident goes (explicitly: ``deliveries``
    has no foreign keys; :func:`outbox_lock`, taken exclusive first, keeps a write under
    way from leaving one behind), and the notifications delivered only to them are
    theirs and go too (found by joining through ``deliveries``, so it works however
    notifications are keyed); their devices go with the user row (ON DELETE CASCADE)."""
    outbox_lock(exclusive=True)
    mine = union_all(*(select(Delivery.notification_id).where(part) for part in rows_of(user.id)))
    others = select(Delivery.notification_id).where(Delivery.user_id != user.id)
    # A broadcast still being written in parts is not theirs, even if its only rows so
    # far are (their part was written first).
    writing = select(Fanout.notification_id).where(Fanout.state == "sending")
    own = list(db.session.scalars(select(Notification.id).where(
        Notification.id.in_(mine), Notification.id.not_in(others),
        Notification.id.not_in(writing))))
    for part in rows_of(user.id):  # each part of their rows through its own index
        db.session.execute(delete(Delivery).where(part)
                           .execution_options(synchronize_session=False))
    if own:
        db.session.execute(delete(Notification).where(Notification.id.in_(own))
                           .execution_options(synchronize_session=False))


register_account_data(export=Gathered(_delivery_parts, _delivery_section), identify=identifying_devices,
                      erase=erase_own_notifications)
