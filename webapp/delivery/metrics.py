"""The outbox's figures for Prometheus (:mod:`webapp.platform.metrics`) and the admins'
outbox page: its depth by state and channel and the age of the oldest due delivery (read
at scrape time, one query on the partial index of waiting rows), what each worker batch
sent and why the rest failed (counters, and one log line per batch).

Failure reasons are short codes (:func:`failure_reason`), never the error text: a
mail server's refusal may quote the address.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import and_, case, func, or_, select

from webapp.delivery.models import Delivery
from webapp.extensions import db
from webapp.platform.db import read_only
from webapp.platform.metrics import FAILURES, SENT, register_scrape_collector
from webapp.platform.timeutil import utcnow

log = logging.getLogger("wardline.delivery.batch")

WAITING = ("queued", "sending")

# (code, what it means in words, pattern of the recorded error), first match wins.
REASONS = (
    ("smtp_connection", "the mail server could not be reached", r"^SMTP connection"),
    ("smtp_refused", "the mail server refused the address", r"^SMTP refused"),
    ("smtp_error", "the mail server answered with an error", r"^SMTP \d"),
    ("email_build", "the email could not be built", r"^building the email"),
    ("not_allowed", "the push endpoint is not on an allowed push service", r"^not sent:"),
    ("push_network", "a push service could not be reached", r"^network:"),
    ("push_deadline", "the push batch ran out of time", r"deadline passed"),
    ("push_gone", "the device was removed", r"^HTTP 4(04|10)|subscription removed"),
    ("push_http", "a push service answered with an error", r"^HTTP \d"),
    ("notify", "GOV.UK Notify refused or could not be reached", r"^Notify"),
    ("no_number", "no mobile number (removed, or STOP received)", r"no mobile number"),
    ("email_off", "the resident turned email off", r"email turned off"),
)
_PATTERNS = [(code, words, re.compile(pattern)) for code, words, pattern in REASONS]
WORDS = {code: words for code, words, _ in REASONS} | {"other": "another error"}


def failure_reason(error: str | None) -> str:
    """A short code for a recorded delivery error (``other`` when none fits)."""
    for code, _words, pattern in _PATTERNS:
        if error and pattern.search(error):
            return code
    return "other"


def record_batch(channels: dict[int, str], outcome, seconds: float) -> None:
    """Count a worker batch's outcome (``channels``: delivery id → channel) and log one
    line per channel: how many, sent, failed, in how long. No address, token or text."""
    summary: dict[str, dict[str, int]] = {}
    sent: dict[str, int] = {}
    failures: dict[tuple[str, str, str], int] = {}

    def tally(delivery_id, key):
        channel = channels.get(delivery_id, "unknown")
        summary.setdefault(channel, {"count": 0, "sent": 0, "failed": 0})[key] += 1
        summary[channel]["count"] += 1
        return channel

    # Counted per batch, then added to the counters once per label set (a counter's
    # increment per row was ~5 µs of a push's CPU in the worker).
    for delivery_id in outcome.sent:
        channel = tally(delivery_id, "sent")
        sent[channel] = sent.get(channel, 0) + 1
    failed = [("retry", i, e) for i, _a, e, _r in outcome.retry] + \
        [("dead", i, e) for i, e in outcome.dead] + [("gone", i, e) for i, e in outcome.gone]
    for state, delivery_id, error in failed:
        key = (tally(delivery_id, "failed"), state, failure_reason(error))
        failures[key] = failures.get(key, 0) + 1
    for channel, n in sent.items():
        SENT.labels(channel).inc(n)
    for labels, n in failures.items():
        FAILURES.labels(*labels).inc(n)
    for channel, counts in sorted(summary.items()):
        log.info("delivery batch channel=%s count=%d sent=%d failed=%d duration_ms=%d",
                 channel, counts["count"], counts["sent"], counts["failed"], seconds * 1000,
                 extra={"event": "delivery_batch", "channel": channel, **counts,
                        "duration_ms": round(seconds * 1000)})


@dataclass(frozen=True)
class OutboxFigures:
    depth: dict[tuple[str, str], int]  # (channel, state) -> rows waiting
    oldest_due: datetime | None  # naive UTC: since when the oldest due delivery waits
    retrying: dict[str, int]  # reason code -> rows waiting for a retry after a failure


def outbox_figures(now: datetime | None = None) -> OutboxFigures:
    """The outbox's waiting rows by channel and state, the oldest due one, and the
    reasons of the failures being retried: one grouped query on the waiting rows."""
    now = now or utcnow()
    due = or_(and_(Delivery.state == "queued", Delivery.next_attempt_at <= now),
              and_(Delivery.state == "sending", Delivery.lease_until < now))
    became_due = func.coalesce(Delivery.lease_until, Delivery.next_attempt_at)
    failing = and_(Delivery.state == "queued", Delivery.attempts > 0)
    rows = db.session.execute(
        select(Delivery.channel, Delivery.state, func.count(),
               func.min(case((due, became_due))),
               case((failing, Delivery.last_error)))
        .where(Delivery.state.in_(WAITING))
        .group_by(Delivery.channel, Delivery.state, case((failing, Delivery.last_error)))).all()
    depth: dict[tuple[str, str], int] = {}
    retrying: dict[str, int] = {}
    oldest = None
    for channel, state, count, since, error in rows:
        depth[(channel, state)] = depth.get((channel, state), 0) + count
        if since is not None and (oldest is None or since < oldest):
            oldest = since
        if error is not None:
            reason = failure_reason(error)
            retrying[reason] = retrying.get(reason, 0) + count
    return OutboxFigures(depth=depth, oldest_due=oldest, retrying=retrying)


class OutboxCollector:
    """Prometheus gauges read at scrape time (see :func:`outbox_figures`)."""

    def collect(self):
        with read_only():  # SQLite: a scrape never queues for (or holds) the write lock
            figures = outbox_figures()
        depth = GaugeMetricFamily("wardline_outbox_depth",
                                  "Deliveries waiting to be sent, by channel and state.",
                                  labels=["channel", "state"])
        for (channel, state), count in sorted(figures.depth.items()):
            depth.add_metric([channel, state], count)
        yield depth
        age = figures.oldest_due and (utcnow() - figures.oldest_due).total_seconds()
        yield GaugeMetricFamily("wardline_outbox_oldest_due_seconds",
                                "How long the oldest due delivery has waited (0: none due).",
                                value=max(0.0, age or 0.0))
        retrying = GaugeMetricFamily("wardline_outbox_retrying",
                                     "Deliveries waiting for a retry, by failure reason.",
                                     labels=["reason"])
        for reason, count in sorted(figures.retrying.items()):
            retrying.add_metric([reason], count)
        yield retrying


register_scrape_collector(OutboxCollector())
