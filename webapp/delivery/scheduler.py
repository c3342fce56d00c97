"""Periodic ticks, run by ``flask scheduler`` (APScheduler's BlockingScheduler, its own
process).

Each tick is a "module:function" taking no arguments, called inside an app context. Ticks
keep no state in memory: they read due rows from the database and mark them with a
conditional UPDATE (or an insert guarded by a unique constraint), so a restart loses
nothing and two schedulers running at once never send anything twice. Domains append
their ticks here.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from importlib import import_module
from apscheduler.schedulers.blocking import BlockingScheduler
from webapp.extensions import db
from webapp.platform.metrics import TICK_SECONDS

log = logging.getLogger("wardline.scheduler")

# ("module:function", every N seconds)
TICKS: list[tuple[str, int]] = [
    ("webapp.alerts.services:send_due_alerts", 30),
    ("webapp.delivery.digest:send_digests", 60),
    ("webapp.meetings.services:send_due_reminders", 60),
    ("webapp.threads.services:send_officer_digests", 300),
    # Retention (batched deletes; see webapp.platform.retention), hourly.
    ("webapp.accounts.retention:purge_unconfirmed_signups", 3600),
    ("webapp.accounts.retention:purge_used_tokens", 3600),
    ("webapp.accounts.retention:purge_spent_phone_codes", 3600),
    ("webapp.accounts.retention:purge_expired_revocations", 3600),
    ("webapp.delivery.retention:purge_old_deliveries", 3600),
    ("webapp.delivery.retention:purge_unseen_devices", 3600),
    ("webapp.platform.retention:purge_audit_events", 3600),
]


def resolve(path: str):
    module_name, func_name = path.split(":")
    return getattr(import_module(module_name), func_name)


def run_tick(app, path: str):
    """Run one tick in a fresh app context; log (never raise) its errors so one failing
    tick does not stop the others."""
    with app.app_context():
        started = time.perf_counter()
        try:
            result = resolve(path)()
            if result:
                log.info("tick %s: %s", path, result)
            return result
        except Exception:
            log.exception("tick %s failed", path)
            db.session.rollback()
            return None
        finally:
            TICK_SECONDS.labels(path).observe(time.perf_counter() - started)


def build_scheduler(app, ticks=None):
    """A BlockingScheduler with one interval job per tick (never overlapping itself)."""
    scheduler = BlockingScheduler(timezone="Europe/London")
    # Ticks log what they did; APScheduler's per-run lines would drown that out.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    logging.getLogger("apscheduler.scheduler").setLevel(logging.WARNING)
    for path, seconds in (ticks if ticks is not None else TICKS):
        resolve(path)  # fail at start-up, not at the first run, on a typo
        scheduler.add_job(run_tick, "interval", args=(app, path), seconds=seconds, id=path,
                          name=path,
                          max_instances=1, coalesce=True, misfire_grace_time=seconds,
                          next_run_time=datetime.now(timezone.utc))  # first run at start
    return scheduler
