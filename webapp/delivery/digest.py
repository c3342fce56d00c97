"""The daily digest: one email per resident gathering their digest deliveries.

The tick runs every minute or so. Once the local time has passed ``DIGEST_HOUR``
(Europe/London) it gathers every queued digest row created before today's digest time
into one email delivery per resident (unique per resident and day, so two schedulers, or
a tick that runs twice, make one email). The worker sends it like any other email.
"""
from __future__ import annotations

from datetime import datetime, time as dtime

from flask import current_app
from sqlalchemy import and_, select, update
from sqlalchemy.orm import aliased

from webapp.extensions import db
from webapp.platform.timeutil import LONDON, london_to_utc, to_london, utcnow

from webapp.delivery.models import Delivery
from webapp.delivery.services import Event, fan_out, notification_for
from webapp.platform.db import write_transaction

DEFAULT_DIGEST_HOUR = 7


def digest_cutoff(now: datetime) -> datetime | None:
    """Today's digest time (naive UTC) if it has passed at ``now`` (naive UTC), else None."""
    hour = int(current_app.config.get("DIGEST_HOUR", DEFAULT_DIGEST_HOUR))
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


def digest_event(now: datetime) -> Event:
    """The digest email of ``now``'s day (Europe/London): one broadcast notification."""
    day = to_london(now).date()
    return Event(kind="digest", source_type="digest", source_id=int(day.strftime("%Y%m%d")),
                 title=f"Your Wardline updates for {to_london(now).strftime('%-d %B')}",
                 url="/", tag="digest")


def _gather(now: datetime, cutoff: datetime) -> int:
    due = and_(Delivery.channel == "digest", Delivery.state == "queued",
               Delivery.created_at < cutoff)
    created = fan_out(digest_event(now), select(Delivery.user_id.label("user_id"))
                      .where(due).distinct(), channels=("email",), now=now)
    notification_id = notification_for(digest_event(now))
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
    return created
