"""Retention of the outbox, and the counts kept of what it sent.

Delivered, dead and gone deliveries (states ``FINISHED``) go ``RETENTION_OUTBOX_DAYS``
after they were written; push devices that have not been seen (registered, or a push
accepted for them) for ``RETENTION_PUSH_UNSEEN_DAYS`` go too. Both are scheduler ticks
(:data:`webapp.delivery.scheduler.TICKS`), batched by
:func:`webapp.platform.retention.delete_in_batches`.

Before a delivery row goes, it is added to :class:`DeliveryCount`, one row per source
(``source_type``, ``source_id``, ``kind`` of its notification), channel and state, in the
same transaction as the delete (``DELETE … RETURNING``: two schedulers deleting at once
count each row once, as only one of them gets it back). An account's deletion does the same
for that resident's deliveries (:func:`keep_counts_of_account`, an ``erase`` hook that runs
before the delivery domain's own), so an alert's statistics
(:func:`retained_counts`, added in by ``alerts.services.alert_stats``) never go down.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import String, UniqueConstraint, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from webapp.delivery.models import CHANNELS, Delivery, Notification, PushSubscription, fixed
from webapp.extensions import db
from webapp.platform.account_data import register_account_data
from webapp.platform.retention import cutoff, delete_in_batches
from webapp.platform.states import one_of

# The states a delivery never leaves on its own (an admin may retry a dead one).
FINISHED = ("sent", "delivered", "dead", "gone")


class DeliveryCount(db.Model):
    """How many deliveries about one source reached one final state on one channel, after
    their rows were deleted (by retention or with the resident's account)."""

    __tablename__ = "delivery_counts"
    __table_args__ = (UniqueConstraint("source_type", "source_id", "kind", "channel", "state"),
                      one_of("channel", CHANNELS), one_of("state", FINISHED))

    id: Mapped[int] = mapped_column(primary_key=True)
    source_type: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(12))
    count: Mapped[int] = mapped_column(default=0)


def add_counts(counts: Counter) -> None:
    """Add ``{(notification_id, channel, state): n}`` to :class:`DeliveryCount` in the
    caller's transaction (an upsert per source, channel and state)."""
    if not counts:
        return
    sources = {row.id: (row.source_type, row.source_id, row.kind) for row in db.session.execute(
        select(Notification.id, Notification.source_type, Notification.source_id,
               Notification.kind).where(Notification.id.in_({k[0] for k in counts})))}
    merged: Counter = Counter()
    for (notification_id, channel, state), n in counts.items():
        if notification_id in sources:
            merged[(*sources[notification_id], channel, state)] += n
    table = DeliveryCount.__table__
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    for (source_type, source_id, kind, channel, state), n in sorted(merged.items()):
        stmt = dialect.insert(table).values(source_type=source_type, source_id=source_id,
                                            kind=kind, channel=channel, state=state, count=n)
        db.session.execute(stmt.on_conflict_do_update(
            index_elements=["source_type", "source_id", "kind", "channel", "state"],
            set_={"count": table.c.count + stmt.excluded.count}))


def _count_deleted(rows) -> None:
    add_counts(Counter((row.notification_id, row.channel, row.state) for row in rows))


def purge_old_deliveries(now: datetime | None = None) -> dict | None:
    """Scheduler tick: delete finished deliveries written more than
    ``RETENTION_OUTBOX_DAYS`` ago, keeping their counts (see the module docstring)."""
    before = cutoff("RETENTION_OUTBOX_DAYS", now)
    d = Delivery.__table__.c
    # Ids grow with time: the first row written since the cutoff bounds the scan, so a run
    # with nothing to delete reads the few old rows left, not the whole table.
    bound = db.session.scalar(select(d.id).where(d.created_at >= before).order_by(d.id).limit(1))
    where = [d.state.in_(FINISHED), d.created_at < before]
    if bound is not None:
        where.append(d.id < bound)
    gone = delete_in_batches(Delivery.__table__, *where, before_commit=_count_deleted)
    return {"deliveries": gone} if gone else None


def purge_unseen_devices(now: datetime | None = None) -> dict | None:
    """Scheduler tick: delete push devices neither registered again nor sent to
    successfully for ``RETENTION_PUSH_UNSEEN_DAYS`` (a phone thrown away, a browser
    reset); deliveries still waiting for one are marked "gone" by the worker."""
    s = PushSubscription.__table__.c
    seen = func.coalesce(s.last_success_at, s.created_at)
    gone = delete_in_batches(PushSubscription.__table__,
                             seen < cutoff("RETENTION_PUSH_UNSEEN_DAYS", now))
    return {"push_devices": gone} if gone else None


def keep_counts_of_account(user) -> None:
    """Account deletion (an ``erase`` hook): count the resident's finished deliveries
    before they go with the account, so an alert's statistics stay the same."""
    add_counts(Counter({(n, ch, st): c for n, ch, st, c in db.session.execute(
        select(Delivery.notification_id, Delivery.channel, Delivery.state, func.count())
        .where(Delivery.user_id == user.id, Delivery.state.in_([fixed(s) for s in FINISHED]))
        .group_by(Delivery.notification_id, Delivery.channel, Delivery.state))}))


def retained_counts(source_type: str, source_id: int, kind: str) -> list[tuple[str, str, int]]:
    """``(channel, state, count)`` of the deleted deliveries about one source."""
    return [tuple(row) for row in db.session.execute(
        select(DeliveryCount.channel, DeliveryCount.state, DeliveryCount.count)
        .where(DeliveryCount.source_type == source_type, DeliveryCount.source_id == source_id,
               DeliveryCount.kind == kind))]


register_account_data(erase=keep_counts_of_account)
