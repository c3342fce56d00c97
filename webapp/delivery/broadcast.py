"""Set-based writes to the outbox for broadcasts to a computed audience (incident updates,
rumour checks), by the same rules as :func:`webapp.delivery.notify` and the alerts'
fan-out (email by the resident's frequency through ``email_channel_sql``, one push row per
device), in one ``INSERT … SELECT … ON CONFLICT DO NOTHING``."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, literal, select, true, union_all

from webapp.delivery.models import Delivery, PushSubscription
from webapp.delivery.services import Event, email_channel_sql, insert_ignore, notification_for
from webapp.extensions import db


def write_rows(notification_id: int, targets, now: datetime) -> int:
    """Insert deliveries of ``notification_id`` for ``targets`` (a subquery of user_id,
    channel, device_id). Returns how many were new."""
    rows = select(literal(notification_id), targets.c.user_id, targets.c.channel,
                  targets.c.device_id, literal("queued"), literal(0), literal(now),
                  literal(now)).where(true())  # WHERE: SQLite's INSERT…SELECT…ON CONFLICT
    before = _count(notification_id)
    db.session.execute(insert_ignore(Delivery.__table__).from_select(
        ["notification_id", "user_id", "channel", "device_id", "state", "attempts",
         "next_attempt_at", "created_at"], rows).on_conflict_do_nothing())
    return _count(notification_id) - before


def _count(notification_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.notification_id == notification_id))


def email_rows(who, event: Event):
    """SELECT (user_id, channel, device_id) of the email/digest rows for ``who`` (a CTE
    with user_id, email_frequency), by their frequency."""
    channel = email_channel_sql(who.c.email_frequency, event.kind, event.urgent)
    return select(who.c.user_id, channel.label("channel"),
                  literal(0).label("device_id")).where(channel.is_not(None))


def push_rows(who):
    """SELECT (user_id, channel, device_id): one push row per device of ``who``."""
    return (select(PushSubscription.user_id, literal("push").label("channel"),
                   PushSubscription.id.label("device_id"))
            .join(who, who.c.user_id == PushSubscription.user_id))


def fan_out(event: Event, who, now: datetime, *, email: bool = True, push: bool = True) -> int:
    """Tell everyone of ``who`` (a SELECT of user_id, email_frequency) about ``event`` on
    the channels their preferences ask for. Runs in the caller's transaction."""
    notification_id = notification_for(event)
    cte = who.cte("who")
    parts = ([email_rows(cte, event)] if email else []) + ([push_rows(cte)] if push else [])
    if not parts:
        return 0
    targets = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("targets")
    return write_rows(notification_id, targets, now)
