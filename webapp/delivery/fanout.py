"""Writing a very large broadcast to the outbox in parts, each its own short transaction.

A London-wide alert reaches every resident: at 1,000,000 residents that is ~720,000
delivery rows. Written in one statement it held one transaction for tens of seconds and
the workers could not start sending until it committed. So a broadcast to a registered
audience (:func:`register_audience`; an alert registers "alert") is split by user id into
parts of ``FANOUT_PART_SIZE`` ids (:class:`~webapp.delivery.models.FanoutPart`):

* :func:`start_fan_out` (in the caller's transaction, e.g. the Send request) makes the
  notification, the :class:`~webapp.delivery.models.Fanout` and its parts, and writes
  the first part at once, so a small audience is wholly written before the caller
  commits (as before) and the first messages of a large one are due the moment it does;
* the part writers (:func:`write_parts`: ``FANOUT_WRITERS`` threads in every ``flask
  deliver`` process, one by default, each with its own database connection, beside the
  batch loops that send) take the other parts as soon as the caller has committed, back
  to back, one at a time each (:func:`write_next_part`): ``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL (two processes write two parts side by side, one a core, while the batch
  loops send what is written), ``BEGIN IMMEDIATE`` on SQLite. A part's rows, its
  ``done_at`` and the fan-out's progress commit together: a process killed half-way
  through a part leaves nothing of it (its connection closes, PostgreSQL rolls the
  transaction back and releases the part's lock), and the part is taken again by the
  next writer; a writer whose machine vanished is cut off by
  ``idle_in_transaction_session_timeout`` once its statement is done. Rows are exactly once (the part is written once, by a plain
  INSERT; the unique key stands behind that: see :func:`write_next_part`).

A part's transaction commits with ``synchronous_commit = off`` on PostgreSQL: it does
not wait for its WAL to reach the disk. A crash of PostgreSQL may then lose the last
parts' commits, wholly (rows and ``done_at`` are one transaction), so those parts are
waiting again and are rewritten; and no row of a lost part can have been sent, because
the claim that would send it commits synchronously after it, and flushing the claim's
WAL flushes everything before it.

While a process's part writers are writing, from a writer's first part until it finds
none waiting, its batch loops yield the CPU to them (:func:`yield_to_writers`): each
waits up to ``FANOUT_SEND_PAUSE`` seconds after a batch before claiming the next.
Sending and writing share the machine's cores, and a part written sooner makes its rows
due sooner; the first batches still go at once (a loop
waits only after a batch), so the first messages leave within a second or two of Send.

The fan-out's ``state`` is "sending" until its last part is written, then "done";
:func:`progress` tells the alert's page.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from flask import current_app
from sqlalchemy import case, func, select, text, update
from sqlalchemy.exc import IntegrityError

from webapp.accounts.models import User
from webapp.extensions import db
from webapp.platform.db import read_only, write_transaction
from webapp.platform.timeutil import utcnow

from webapp.delivery.models import Fanout, FanoutPart, Notification
from webapp.delivery.services import Event, fan_out, notification_for

log = logging.getLogger("wardline.delivery.fanout")

#: audience name -> function(audience_id, users=(first, last)) giving the audience SELECT
#: (user_id and email_frequency columns, as :func:`webapp.delivery.services.fan_out`
#: takes) of the user ids ``users`` (a part), or of everyone with ``users=None``. The
#: range goes into every table the SELECT reads (a part then reads only its own rows).
AUDIENCES: dict[str, Callable] = {}


def register_audience(name: str, audience: Callable) -> None:
    """Let fan-outs name ``audience`` (``audience(audience_id, users=None)`` → a SELECT
    of users)."""
    AUDIENCES[name] = audience


class _Writing:
    """How many of this process's part writers are writing a part now, or are between
    two parts of a run of them (:func:`write_parts`)."""

    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()
        self.idle = threading.Event()
        self.idle.set()

    def begin(self) -> None:
        with self.lock:
            self.count += 1
            self.idle.clear()

    def end(self) -> None:
        with self.lock:
            self.count -= 1
            if not self.count:
                self.idle.set()

    def __enter__(self):
        self.begin()

    def __exit__(self, *_):
        self.end()


_writing = _Writing()


def yield_to_writers(pause: float | None = None) -> float:
    """Called by a batch loop after a batch: while this process's part writers are
    writing (a part, or parts back to back), wait until they stop or ``pause`` seconds
    (``FANOUT_SEND_PAUSE``) pass.
    Returns the seconds waited."""
    if pause is None:
        pause = float(current_app.config["FANOUT_SEND_PAUSE"])
    if pause <= 0 or _writing.idle.is_set():
        return 0.0
    started = time.perf_counter()
    _writing.idle.wait(pause)
    return time.perf_counter() - started


def _user_id_span() -> tuple[int, int]:
    lo, hi = db.session.execute(select(func.min(User.id), func.max(User.id))).one()
    return (lo or 0), (hi or 0)


def start_fan_out(event: Event, audience: str, audience_id: int, *,
                  channels=("email", "push"), now=None) -> int:
    """Write ``event`` to the outbox for the registered ``audience`` (called with
    ``audience_id``), in parts of ``FANOUT_PART_SIZE`` user ids: the first part now, in
    the caller's transaction, the others by the workers once the caller has committed.
    Starting the same broadcast again finds the same fan-out and writes nothing. Returns
    the number of rows written now (all of them for an audience within one part)."""
    now = now or utcnow()
    db.session.flush()
    notification_id = notification_for(event)
    found = db.session.scalar(select(Fanout).where(Fanout.notification_id == notification_id))
    if found is not None:
        return 0
    size = max(1, int(current_app.config["FANOUT_PART_SIZE"]))
    lo, hi = _user_id_span()
    job = Fanout(notification_id=notification_id, audience=audience, audience_id=audience_id,
                 channels=",".join(channels), state="sending", created_at=now)
    db.session.add(job)
    db.session.flush()
    # The part written here, in the caller's transaction, is smaller when there are
    # others (FANOUT_FIRST_PART_SIZE): Send returns sooner, and the part writers, which
    # wait for it to commit, start sooner.
    first = min(size, max(1, int(current_app.config["FANOUT_FIRST_PART_SIZE"])))
    starts = [lo, *range(lo + first, hi + 1, size)] if hi - lo + 1 > size else [lo]
    parts = [FanoutPart(fanout_id=job.id, first_user_id=start,
                        last_user_id=min(hi, end - 1))
             for start, end in zip(starts, [*starts[1:], hi + 1], strict=True)] or [
        FanoutPart(fanout_id=job.id, first_user_id=0, last_user_id=0)]
    job.parts = len(parts)
    db.session.add_all(parts)
    db.session.flush()
    return _write_part(job, parts[0], now)


def _write_part(job: Fanout, part: FanoutPart, now, skip_existing: bool = True) -> int:
    """Write ``part`` of ``job`` and record it, in the current transaction. Few
    statements (each a round trip, and in a busy worker a wait for the interpreter).
    ``skip_existing=False``: a plain INSERT (see :func:`write_next_part`)."""
    started = utcnow()
    notification = db.session.get(Notification, job.notification_id)
    event = Event(kind=notification.kind, source_type=notification.source_type,
                  source_id=notification.source_id, title=notification.title,
                  category=notification.category, urgent=notification.urgent)
    users = (part.first_user_id, part.last_user_id)
    written = fan_out(event, AUDIENCES[job.audience](job.audience_id, users=users),
                      channels=tuple(job.channels.split(",")), now=now,
                      returning=False, notification_id=notification.id,
                      users=users, skip_existing=skip_existing)
    db.session.execute(update(FanoutPart).where(FanoutPart.id == part.id).values(
        rows=written, started_at=started, done_at=max(now, utcnow()))
        .execution_options(synchronize_session=False))
    # One UPDATE (not read-modify-write): two workers finishing parts at once both count,
    # and the one finishing the last part (SET reads the row as it was) marks it done.
    last = Fanout.parts_done + 1 >= Fanout.parts
    db.session.execute(update(Fanout).where(Fanout.id == job.id).values(
        parts_done=Fanout.parts_done + 1, rows=Fanout.rows + written,
        state=case((last, "done"), else_=Fanout.state),
        finished_at=case((last, now), else_=Fanout.finished_at))
        .execution_options(synchronize_session=False))
    return written


def write_next_part(now=None, look_first: bool = True) -> int | None:
    """Take one waiting part of any fan-out, write it and record it, in one transaction
    of its own (committed here). Returns the rows it wrote, or None when no part waits.
    ``look_first``: look for one on a read-only connection first (most of the time none
    waits, and then no write lock is taken for nothing).

    The rows are written by a plain INSERT: none can exist yet (the part is written once:
    it is locked and marked done in this transaction), and ON CONFLICT DO NOTHING would
    cost PostgreSQL a speculative insertion per row. Should some exist all the same (the
    same broadcast written before fan-outs had parts), the unique key refuses them, the
    transaction is rolled back and the part written again skipping them."""
    now = now or utcnow()
    if look_first:
        waiting = select(FanoutPart.id).where(FanoutPart.done_at.is_(None)).limit(1)
        with read_only(), db.engine.connect() as conn:
            if conn.scalar(waiting) is None:
                return None
    with _writing:
        try:
            return _take_and_write(now, skip_existing=False)
        except IntegrityError:
            db.session.rollback()
            log.warning("a fan-out part had rows already: written again skipping them")
            return _take_and_write(now, skip_existing=True)


def _take_and_write(now, skip_existing: bool) -> int | None:
    with write_transaction():
        if db.engine.dialect.name == "postgresql":
            # See the module docstring: why not waiting for the disk loses nothing, and
            # why a transaction left idle (its worker's machine gone) must end. And the
            # part is planned for its own values every time: psycopg prepares a statement
            # from its fifth run, and PostgreSQL's generic plan of a part then built the
            # alert's ward ids (one parameter each) into an array again for every
            # resident, ~20 % of a London-wide fan-out's PostgreSQL time; planning a
            # part costs a millisecond.
            db.session.execute(text(
                "SELECT set_config('synchronous_commit', 'off', true), "
                "set_config('idle_in_transaction_session_timeout', '30000', true), "
                "set_config('plan_cache_mode', 'force_custom_plan', true)"))
        found = db.session.execute(
            select(FanoutPart, Fanout).join(Fanout, Fanout.id == FanoutPart.fanout_id)
            .where(FanoutPart.done_at.is_(None)).order_by(FanoutPart.id).limit(1)
            .with_for_update(skip_locked=True, of=FanoutPart)).first()  # PostgreSQL only
        if found is None:
            return None
        part, job = found
        written = _write_part(job, part, now, skip_existing=skip_existing)
    log.info("fan-out %s: part %s wrote %s rows", job.id, part.id, written)
    return written


def write_parts(stopping: threading.Event, poll: float = 0.25, once: bool = False,
                wakeup=None) -> None:
    """A part writer (a thread of ``flask deliver``): write waiting parts back to back
    until ``stopping`` is set, looking for new ones every ``poll`` seconds while none
    waits (a read of the waiting parts' partial index), or as soon as ``wakeup``
    (:class:`webapp.delivery.wakeup.Wakeup`) says a fan-out was started. ``once``: one
    look, then return. From its first part until it finds none waiting, the batch loops
    of the process yield to it (:func:`yield_to_writers`)."""
    wrote = None
    streak = False  # this writer has written parts back to back and not yet found none
    try:
        while not stopping.is_set():
            seen = wakeup.generation if wakeup else 0  # before looking: none is missed
            try:
                wrote = write_next_part(look_first=wrote is None)
            except Exception:  # a database hiccup must not end the writer
                log.exception("writing a fan-out part failed")
                db.session.rollback()
                wrote = None
            if (wrote is not None) != streak:
                # The batch loops yield from a part's start until no part waits, not
                # only while a part is being written: in the moment between two parts
                # they would otherwise send a batch each time.
                streak = not streak
                (_writing.begin if streak else _writing.end)()
            if once:
                return
            if wrote is None:
                if wakeup:
                    wakeup.wait(seen, poll)
                else:
                    stopping.wait(poll)
    finally:
        if streak:
            _writing.end()


def progress(audience: str, audience_id: int) -> Fanout | None:
    """The fan-out of ``audience`` ``audience_id`` still being written, or None (done, or
    none)."""
    return db.session.scalar(select(Fanout).where(
        Fanout.audience == audience, Fanout.audience_id == audience_id,
        Fanout.state == "sending").order_by(Fanout.id.desc()).limit(1))
