"""Admin: the outbox in words (``/admin/outbox``): how many messages wait, by channel, how
long the oldest due one has waited, and why the failing ones failed. The same figures
``/metrics`` gives Prometheus (:mod:`webapp.delivery.metrics`), for an admin without a
dashboard. Imported by ``webapp/admin/__init__.py``.
"""
from __future__ import annotations

from flask import render_template
from sqlalchemy import func, select

from webapp.admin import bp
from webapp.delivery.metrics import WORDS, outbox_figures
from webapp.delivery.models import Delivery
from webapp.extensions import db
from webapp.platform.security import admin_required
from webapp.platform.timeutil import utcnow

CHANNEL_WORDS = {"email": ("email", "emails"), "push": ("push message", "push messages"),
                 "sms": ("text message", "text messages"),
                 "digest": ("digest item", "digest items")}


def plural(count: int, one: str, many: str) -> str:
    """``"1 email"``, ``"3 emails"``."""
    return f"{count:,} {one if count == 1 else many}"


def waited(seconds: float) -> str:
    """How long, in words: "under a minute", "3 minutes", "2 hours", "4 days"."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 120:
        return plural(minutes, "minute", "minutes")
    hours = minutes // 60
    return plural(hours, "hour", "hours") if hours < 48 else plural(hours // 24, "day", "days")


def outbox_in_words(now=None) -> dict:
    """The sentences of the outbox page."""
    now = now or utcnow()
    figures = outbox_figures(now)
    by_channel: dict[str, int] = {}
    sending = 0
    for (channel, state), count in figures.depth.items():
        by_channel[channel] = by_channel.get(channel, 0) + count
        sending += count if state == "sending" else 0
    total = sum(by_channel.values())
    parts = [plural(n, *CHANNEL_WORDS.get(ch, (ch, ch))) for ch, n in sorted(by_channel.items())]
    retrying = sum(figures.retrying.values())
    dead = db.session.scalar(select(func.count()).select_from(Delivery)
                             .where(Delivery.state == "dead"))
    return {
        "total": total,
        "waiting": (f"{plural(total, 'message', 'messages')} waiting to be sent"
                    f" ({', '.join(parts)}), {sending:,} of them being sent now."
                    if total else "Nothing is waiting to be sent."),
        "oldest": (f"The oldest due message has waited {waited((now - figures.oldest_due).total_seconds())}."
                   if figures.oldest_due else "No message is overdue."),
        "retrying": (f"{plural(retrying, 'message', 'messages')} failed and"
                     f" {'waits' if retrying == 1 else 'wait'} to be tried again:"
                     if retrying else "No message is waiting to be tried again after a failure."),
        "reasons": [f"{count:,} because {WORDS[reason]}" for reason, count in
                    sorted(figures.retrying.items(), key=lambda item: -item[1])],
        "dead": dead,
    }


@bp.get("/admin/outbox")
@admin_required
def outbox():
    now = utcnow()
    return render_template("admin/outbox.html", words=outbox_in_words(now), now=now)
