"""The outbox: what to say (:class:`Notification`), to whom and how (:class:`Delivery`),
and where push messages go (:class:`PushSubscription`, one per device).

A delivery row is written in the same transaction as the change that causes it (an
alert being sent, a reply being posted), so nothing is announced that did not happen and
nothing that happened is lost. Workers (``flask deliver``) claim due rows, send them and
record the outcome; see :mod:`webapp.delivery.worker`.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (JSON, ForeignKey, Index, String, Text, UniqueConstraint, and_,
                        literal_column, or_, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.platform.states import one_of
from webapp.platform.timeutil import utcnow

# Delivery channels. "digest" rows are never sent on their own: the daily digest tick
# gathers them into one "email" delivery per resident (see webapp.delivery.digest).
CHANNELS = ("email", "push", "digest", "sms")

# Delivery states.
#   queued    due at next_attempt_at (new, or waiting for a retry after a failure)
#   sending   claimed by a worker (claimed_by) until lease_until; reclaimed when it expires
#   sent      delivered (digest rows: gathered into a digest email that was sent); for
#             texts and Notify email: accepted by GOV.UK Notify
#   delivered Notify's delivery receipt says it reached the phone or inbox
#   batched   digest rows gathered into a digest email that is not sent yet
#   dead      still failing DELIVERY_GIVE_UP_HOURS after it was written, or a permanent
#             error; admins may retry
#   gone      the push subscription was removed (404/410) or the address unsubscribed
STATES = ("queued", "sending", "sent", "delivered", "batched", "dead", "gone")
# The states a row is in once its sending is over (or, "batched", handed to a digest).
SETTLED = ("sent", "delivered", "batched", "dead", "gone")

# The rows of ix_deliveries_user (by resident): texts, and every row whose sending is over.
USER_INDEXED = ("channel = 'sms' OR state IN ("
                + ", ".join(f"'{state}'" for state in SETTLED) + ")")


class Notification(db.Model):
    """What one message says, and to whom: shared by all of its deliveries.

    A row is identified by ``content_key``, the SHA-256 of everything it says (kind,
    source, title, body, url, category, urgency, email template and context, push tag),
    of its recipient and of the caller's ``occasion`` (see
    :func:`webapp.delivery.services.notification_key`). Two different messages therefore
    never share a row, whatever their source: a reminder after a meeting moved, a second
    officer's digest or a reply whose message id was used before each get their own.
    Writing the same message again finds the same row, so repeating a fan-out or a
    scheduler tick adds nothing (deliveries are unique per notification, user, channel
    and device).

    Personal messages (:func:`~webapp.delivery.services.notify`) have one row per
    recipient (``recipient_id``; they go with the account). Broadcasts written set-based
    to a whole audience (an alert, a meeting invitation, the daily digest email) have
    ``recipient_id`` NULL and say the same thing to everyone.
    ``source_type``/``source_id``/``kind`` say what the message is about (alert statistics
    look deliveries up by them); they are not unique.
    """

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("content_key"),
                      Index("ix_notifications_source", "source_type", "source_id", "kind"))

    id: Mapped[int] = mapped_column(primary_key=True)
    content_key: Mapped[str] = mapped_column(String(64))  # hex SHA-256, see above
    # The one person a personal message is for; NULL for a broadcast.
    recipient_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True)
    source_type: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")  # plain text
    url: Mapped[str] = mapped_column(String(500), default="/")  # path on this site
    category: Mapped[str | None] = mapped_column(String(16))
    urgent: Mapped[bool] = mapped_column(default=False)
    email_template: Mapped[str | None] = mapped_column(String(80))
    email_context: Mapped[dict | None] = mapped_column(JSON)
    tag: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(db.Model):
    """One message to one resident on one channel (and, for push, one device).

    The unique constraint (notification, user, channel, device) makes writing the same
    delivery twice harmless: inserts use ON CONFLICT DO NOTHING.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("notification_id", "user_id", "channel", "device_id"),
        # Partial indexes: only rows still waiting are indexed, so the outbox can grow
        # (sent rows are history) without slowing the workers, and a fan-out of 100,000
        # rows does not pay for indexes it never uses.
        # The workers' claim queries: rows a worker may send, by time. Digest rows wait
        # (queued) until the daily digest and are never claimed, so they are kept out:
        # a London-wide alert queues ~180,000 of them at 1,000,000 residents, and an
        # index ordered by time that held them would make every claim walk past them.
        # Queued and claimed rows have an index each, so each of the two claim queries
        # (due rows; rows whose lease expired) reads only its own rows.
        Index("ix_deliveries_due", "next_attempt_at",
              postgresql_where=text("state = 'queued' AND channel <> 'digest'"),
              sqlite_where=text("state = 'queued' AND channel <> 'digest'")),
        Index("ix_deliveries_leased", "lease_until",
              postgresql_where=text("state = 'sending'"),
              sqlite_where=text("state = 'sending'")),
        # The digest tick: queued digest rows by resident.
        Index("ix_deliveries_digest", "user_id", "created_at",
              postgresql_where=text("channel = 'digest' AND state = 'queued'"),
              sqlite_where=text("channel = 'digest' AND state = 'queued'")),
        # A resident's rows (unsubscribe, STOP, the counts kept at account deletion),
        # except email, push and digest rows still waiting or being sent: those are
        # written ~720,000 at a time by a London-wide fan-out, and an entry each cost
        # ~15 % of the fan-out's PostgreSQL time (and a push's claim another). Texts
        # stay in (STOP drops the waiting ones at once). :data:`RESIDENT_PARTS` says which
        # index finds the others.
        Index("ix_deliveries_user", "user_id",
              postgresql_where=text(USER_INDEXED), sqlite_where=text(USER_INDEXED)),
        one_of("channel", CHANNELS),
        one_of("state", STATES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign keys on purpose (migration 0005_fanout_keys): their checks were ~40 % of
    # PostgreSQL's CPU in a London-wide fan-out (a trigger and a row lock on users and on
    # the notification for each of ~720,000 rows). The rows still go with their resident
    # and notification: account deletion deletes them explicitly, serialized with every
    # write of outbox rows (:func:`webapp.delivery.services.outbox_lock`), and writes
    # take their users from the users table itself (an audience SELECT; notify() checks
    # the row is there). tests/delivery/test_outbox_integrity.py proves no orphans stay.
    notification_id: Mapped[int]
    user_id: Mapped[int] = mapped_column(info={"refers_to": "users"})  # see ix_deliveries_user
    channel: Mapped[str] = mapped_column(String(8))
    # PushSubscription.id for push (no foreign key: the subscription may be removed while
    # the delivery waits; the worker then marks it "gone"); 0 for email, digest and sms.
    device_id: Mapped[int] = mapped_column(default=0)
    state: Mapped[str] = mapped_column(String(12), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # Digest rows: the digest email delivery (a row of this table, same resident) that
    # carries them. No foreign key on purpose: a self-referencing key costs a trigger per
    # inserted row in every fan-out, and both rows go together when the resident does.
    digest_delivery_id: Mapped[int | None]

    notification: Mapped[Notification] = relationship(
        primaryjoin="foreign(Delivery.notification_id) == Notification.id", viewonly=True)
    user: Mapped["User"] = relationship(  # noqa: F821
        primaryjoin="foreign(Delivery.user_id) == User.id", viewonly=True)


def fixed(value: str):
    """A state or channel name as a SQL literal, not a bound parameter: PostgreSQL can then
    tell from it that a partial index holds the rows, whichever plan it settles on (a
    prepared statement's generic plan knows no parameter's value)."""
    assert value in STATES or value in CHANNELS, value
    return literal_column(f"'{value}'")


def _fixed(*values: str) -> list:
    return [fixed(value) for value in values]


#: A resident's rows, in four parts that do not overlap and together are all of them,
#: each held by one index:
#:   texts, and rows whose sending is over: ix_deliveries_user, by resident;
#:   digest rows waiting for the digest: ix_deliveries_digest, by resident;
#:   email and push rows waiting: ix_deliveries_due (every waiting row, read through);
#:   rows being sent: ix_deliveries_leased (every claimed row, read through).
#: Rows stay in the last two for minutes (a London-wide alert's ~500,000 until they are
#: sent), so only account deletion and "Download my data" read them for one resident.
RESIDENT_PARTS = (
    or_(Delivery.channel == fixed("sms"), Delivery.state.in_(_fixed(*SETTLED))),
    and_(Delivery.channel == fixed("digest"), Delivery.state == fixed("queued")),
    and_(Delivery.state == fixed("queued"), Delivery.channel.in_(_fixed("email", "push"))),
    and_(Delivery.state == fixed("sending"), Delivery.channel != fixed("sms")),
)


def rows_of(user_id) -> list:
    """For each part of :data:`RESIDENT_PARTS`, the WHERE clause of ``user_id``'s rows in it:
    a statement each (or one UNION ALL), so that each part is read through its index."""
    return [and_(Delivery.user_id == user_id, part) for part in RESIDENT_PARTS]


# The digest email's rows (the worker marks them sent with it).
Index("ix_deliveries_digest_delivery", Delivery.digest_delivery_id,
      postgresql_where=Delivery.digest_delivery_id.is_not(None),
      sqlite_where=Delivery.digest_delivery_id.is_not(None))


class PushSubscription(db.Model):
    """A browser's push subscription (one per device), as ``PushSubscription.toJSON()``
    gives it. Removed when the push service answers 404/410."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(128))
    auth: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_success_at: Mapped[datetime | None]

    user: Mapped["User"] = relationship()  # noqa: F821

    @property
    def info(self) -> dict:
        """The subscription in the shape pywebpush expects."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


# Fan-out states: "sending" while parts remain, "done" when every part is written.
FANOUT_STATES = ("sending", "done")


class Fanout(db.Model):
    """A broadcast being written to the outbox in parts (:mod:`webapp.delivery.fanout`).

    One per notification: writing the same broadcast again finds this row. ``audience``
    names a registered audience (:func:`webapp.delivery.fanout.register_audience`) and
    ``audience_id`` its argument (the alert's id), so any worker can rebuild who it is
    for; ``channels`` is comma-separated.
    """

    __tablename__ = "fanouts"
    __table_args__ = (UniqueConstraint("notification_id"), one_of("state", FANOUT_STATES))

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"))
    audience: Mapped[str] = mapped_column(String(32))
    audience_id: Mapped[int]
    channels: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(12), default="sending")
    parts: Mapped[int] = mapped_column(default=0)
    parts_done: Mapped[int] = mapped_column(default=0)
    rows: Mapped[int] = mapped_column(default=0)  # delivery rows written so far
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class FanoutPart(db.Model):
    """One range of user ids of a :class:`Fanout` (``first_user_id`` to
    ``last_user_id``, both included), written in one short transaction that also sets
    ``done_at``: a part is either wholly written and marked, or not at all."""

    __tablename__ = "fanout_parts"
    __table_args__ = (
        # Parts still to write, oldest first: the workers' claim.
        Index("ix_fanout_parts_waiting", "id", postgresql_where=text("done_at IS NULL"),
              sqlite_where=text("done_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fanout_id: Mapped[int] = mapped_column(ForeignKey("fanouts.id", ondelete="CASCADE"),
                                           index=True)
    first_user_id: Mapped[int]
    last_user_id: Mapped[int]
    rows: Mapped[int] = mapped_column(default=0)
    # When the transaction that wrote it began and committed: how long parts hold one.
    started_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
