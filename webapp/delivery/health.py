"""Is the outbox keeping up? What the admins' "outbox is stuck" banner shows.

Stuck: a due delivery has waited longer than ``OUTBOX_STUCK_MINUTES`` (no worker running,
or workers that cannot keep up), or ``OUTBOX_STUCK_RETRYING`` deliveries are waiting for a
retry after a failure (the mail server or a push service refusing). Counting uses the
partial index of waiting rows only.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, case, func, or_, select

from webapp.delivery.models import Delivery
from webapp.extensions import db
from webapp.platform.timeutil import utcnow

SENDABLE = ("email", "push")


@dataclass(frozen=True)
class OutboxHealth:
    due: int  # due now and not being sent (or claimed by a worker whose lease ran out)
    due_since: datetime | None  # naive UTC: how long the oldest due delivery has waited
    retrying: int  # waiting for a retry after a failure
    last_error: str | None  # of the latest failure still being retried
    stuck: bool


def outbox_health(now: datetime | None = None) -> OutboxHealth:
    cfg = current_app.config
    now = now or utcnow()
    waiting = and_(Delivery.channel.in_(SENDABLE), Delivery.state.in_(("queued", "sending")))
    # When a due row became due: a queued row at its next attempt, a claimed row when its
    # worker's lease ran out.
    became_due = func.coalesce(Delivery.lease_until, Delivery.next_attempt_at)
    due_now = or_(and_(Delivery.state == "queued", Delivery.next_attempt_at <= now),
                  and_(Delivery.state == "sending", Delivery.lease_until < now))
    retrying = and_(Delivery.state == "queued", Delivery.attempts > 0)
    # One statement (it is on every admin's staff page): the waiting rows counted twice,
    # and the latest error of those retrying.
    last_error = (select(Delivery.last_error).where(waiting, retrying)
                  .order_by(Delivery.id.desc()).limit(1).scalar_subquery())
    due, due_since, count, last_error = db.session.execute(
        select(func.coalesce(func.sum(case((due_now, 1), else_=0)), 0),
               func.min(case((due_now, became_due))),
               func.coalesce(func.sum(case((retrying, 1), else_=0)), 0), last_error)
        .where(waiting)).one()
    late = due_since is not None and \
        now - due_since > timedelta(minutes=float(cfg["OUTBOX_STUCK_MINUTES"]))
    return OutboxHealth(due=due, due_since=due_since, retrying=count, last_error=last_error,
                        stuck=late or count >= int(cfg["OUTBOX_STUCK_RETRYING"]))
