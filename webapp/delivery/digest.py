"""The daily digest: one email per resident gathering their digest deliveries.

The tick runs every minute or so. Once the local time has passed ``DIGEST_HOUR``
(Europe/London) it gathers every queued digest row created before today's digest time
into one email delivery per resident (unique per resident and day, so two schedulers, or
a tick that runs twice, make one email). The worker sends it like any other email.
"""
from __future__ import annotations

from datetime import datetime, time as dtime

from flask import current_app
from sqlalchemy import and_, literal, select, update
from sqlalchemy.orm import aliased

from webapp.extensions import db
from webapp.timeutil import LONDON, london_to_utc, to_london, utcnow

from webapp.delivery.models import Delivery
from webapp.delivery.services import Event, insert_ignore, notification_for
from webapp.transactions import write_transaction


def digest_cutoff(now: datetime) -> datetime | None:
    """Today's digest time (naive UTC) if it has passed at ``now`` (naive UTC), else None."""
    hour = int(current_app.config["DIGEST_HOUR"])
    local = to_london(now)
    cutoff_local = datetime.combine(local.date(), dtime(hour, 0))
    cutoff = london_to_utc(cutoff_local.replace(tzinfo=LONDON))
    return cutoff if now >= cutoff else None


def send_digests(now: datetime | None = None) -> int:
    """Gather due digest rows into digest emails; commit; return how many emails were
    queued now. Idempotent and safe to run from several schedulers at once."""
    now = now or utcnow()
    cutoff = digest_cutoff(now)
    if cutoff is None:
        return 0
    with write_transaction():
        return _gather(now, cutoff)


def _gather(now: datetime, cutoff: datetime) -> int:
    day = to_london(now).date()
    notification_id = notification_for(Event(
        kind="digest", source_type="digest", source_id=int(day.strftime("%Y%m%d")),
        title=f"Your Wardline updates for {to_london(now).strftime('%-d %B')}",
        url="/", tag="digest"))
    due = and_(Delivery.channel == "digest", Delivery.state == "queued",
               Delivery.created_at < cutoff)
    gather = (select(literal(notification_id), Delivery.user_id, literal("email"), literal(0),
                     literal("queued"), literal(0), literal(now), literal(now))
              .where(due).distinct())
    created = db.session.execute(
        insert_ignore(Delivery.__table__).from_select(
            ["notification_id", "user_id", "channel", "device_id", "state", "attempts",
             "next_attempt_at", "created_at"], gather).on_conflict_do_nothing()
        .returning(Delivery.__table__.c.id)).all()
    # Attach the rows to today's digest email, unless it has already gone (rows that
    # arrive after it went wait for tomorrow's).
    carrier = aliased(Delivery)
    carrier_id = (select(carrier.id).where(
        carrier.notification_id == notification_id, carrier.user_id == Delivery.user_id,
        carrier.channel == "email", carrier.state == "queued")
        .scalar_subquery())
    db.session.execute(update(Delivery).where(due, carrier_id.is_not(None))
                       .values(state="batched", digest_delivery_id=carrier_id)
                       .execution_options(synchronize_session=False))
    return len(created)
