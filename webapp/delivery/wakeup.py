"""Waking ``flask deliver`` the moment outbox rows are written (PostgreSQL LISTEN/NOTIFY).

Without it, an idle worker looks for due rows every ``--idle-sleep`` seconds (1 s by
default) and its part writers look for fan-out parts every 0.25 s: a Send waited up to
a second for its first push. Now every write of outbox rows or fan-out parts
(:func:`webapp.delivery.services.notify` and :func:`~webapp.delivery.services.fan_out`)
calls :func:`announce`, a ``NOTIFY`` that PostgreSQL delivers when (and only if) the
writing transaction commits; each ``flask deliver`` process listens on a connection of
its own (:class:`Wakeup`, a thread) and wakes its batch loops and part writers at once.

Polling stays, as the fallback: on SQLite (no NOTIFY), for rows that become due later
(retries), and while the listening connection is down (it reconnects, and looks once on
reconnecting: a notification sent meanwhile is lost). A notification carries no data:
nothing about residents goes through it.
"""
from __future__ import annotations

import logging
import threading

import psycopg
from sqlalchemy import text

from webapp.extensions import db

log = logging.getLogger("wardline.delivery.wakeup")

CHANNEL = "wardline_outbox"
RECONNECT_AFTER = 1.0  # seconds after the listening connection failed


def announce() -> None:
    """Wake the workers when the current transaction commits (PostgreSQL; nothing on
    SQLite). Several in one transaction are delivered as one."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


class Wakeup:
    """What a worker process's batch loops and part writers wait on between looks:
    :meth:`wait` returns when a notification came (or :meth:`nudge` was called) since
    the loop read :attr:`generation`, when ``stopping`` is set, or after the timeout."""

    def __init__(self, stopping: threading.Event):
        self.stopping = stopping
        self.generation = 0
        self.listening = threading.Event()  # set while the connection listens
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def nudge(self) -> None:
        with self._changed:
            self.generation += 1
            self._changed.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a wake-up after ``seen`` (a
        :attr:`generation` read before the last look). True if woken."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self.generation != seen or self.stopping.is_set(), timeout)

    def stop(self) -> None:
        self.stopping.set()
        self.nudge()

    def start(self, url: str) -> None:
        """Listen on a connection of its own to ``url`` (a PostgreSQL URL psycopg takes),
        in a daemon thread, until ``stopping`` is set."""
        self._thread = threading.Thread(target=self._listen, args=(url,),
                                        name="outbox-wakeup", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _listen(self, url: str) -> None:
        while not self.stopping.is_set():
            try:
                with psycopg.connect(url, autocommit=True,
                                     application_name="wardline outbox wake-up") as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    self.nudge()  # rows written while nobody listened: look now
                    while not self.stopping.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self.nudge()
            except Exception as exc:  # the database restarted, the network failed…
                log.warning("outbox wake-up connection lost (%s); polling until it is back",
                            type(exc).__name__)
            finally:
                self.listening.clear()
            self.stopping.wait(RECONNECT_AFTER)


def listener_url(engine) -> str | None:
    """The URL psycopg connects to for ``engine``'s database, or None when it is not
    PostgreSQL (then the workers poll)."""
    if engine.dialect.name != "postgresql":
        return None
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
