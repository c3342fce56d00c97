"""The delivery worker: claim due outbox rows, send them, record the outcome.

``flask deliver`` runs :func:`run_forever`; several workers may run at once, on several
machines. Claiming is one conditional UPDATE that stamps a claim token and a lease:

* PostgreSQL: the rows are picked with ``FOR UPDATE SKIP LOCKED``, so concurrent workers
  take different rows without waiting for each other;
* SQLite: the claim runs in a ``BEGIN IMMEDIATE`` transaction (one writer at a time), and
  the single UPDATE ... WHERE id IN (SELECT ... LIMIT n) is atomic.

Leases are short (``DELIVERY_LEASE_SECONDS``, 60 s by default) and renewed while a batch
is being sent (a heartbeat thread, every third of the lease), so a live worker never loses
its rows however slow the batch, and a worker that dies mid-batch leaves rows in state
"sending" that any worker claims again within one lease. Delivery is at least once: a
worker killed after sending but before recording repeats at most the rows it had in
flight (one batch per loop), never a loss.

A delivery that keeps failing is retried with backoff until it is older than
``DELIVERY_GIVE_UP_HOURS`` (24 h by default, and at least ``MIN_ATTEMPTS`` tries): an
outage of the mail server or a push service for a few hours delays mail, it does not
lose it. Then it is "dead" (``/admin/deliveries``).
"""
from __future__ import annotations

import email.errors
import logging
import random
import secrets
import signal
import smtplib
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import NamedTuple

from flask import current_app
from sqlalchemy import Integer, String, any_, bindparam, cast, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from webapp.extensions import db
from webapp.platform.timeutil import utcnow
from webapp.platform.db import read_only, write_connection

from webapp.delivery.models import Delivery, Notification, PushSubscription, fixed
from webapp.accounts.models import User
from webapp.delivery.emails import FlatEmail, batch_builder, message_for
from webapp.delivery.endpoints import endpoint_problem
from webapp.delivery.fanout import write_parts, yield_to_writers
from webapp.delivery.metrics import record_batch
from webapp.delivery.push import PushClient
from webapp.delivery.push_async import AsyncPushClient
from webapp.delivery.push import build_payload
from webapp.delivery.subscriptions import vapid
from webapp.delivery.wakeup import Wakeup, listener_url
from webapp.platform.mail import SMTPConnection
from webapp.accounts.phone import SmsNumber
from webapp.delivery.notify_client import (REFERENCE_PREFIX, email_by_notify, send_email,
                                           send_sms_batch, sms_personalisation)

log = logging.getLogger("wardline.delivery.worker")

MIN_ATTEMPTS = 3  # tries before giving up by age (a row retried by an admin gets these)
BACKOFF_BASE = 30  # seconds before the first retry; doubles each time
BACKOFF_CAP = 6 * 3600
RETRY_AFTER_CAP = 24 * 3600  # longest wait a push service's Retry-After can ask for
SEEN_EVERY = timedelta(days=1)  # how often a device's last_success_at is written

_push_client = None
_push_client_lock = threading.Lock()

#: Held by a batch loop for its CPU and database work: claiming, loading, encrypting the
#: push messages (the push client's ``cpu_lock``), recording. The process's other batch
#: loops wait for their answers from push services, mail servers and Notify meanwhile,
#: not for this lock. Two loops working at once (one encrypting, one recording, say)
#: passed the interpreter lock to each other at every database call and cryptographic
#: operation: in one process with two loops, 184–201 µs of CPU a push against 144–150 µs
#: taking turns, for the same rate (``bench/profile_push_worker.py``, two loops).
TURN = threading.Lock()


def backoff(attempts: int, retry_after: float | None = None) -> float:
    """Seconds to wait before the next try after ``attempts`` tries: exponential with
    "full jitter" between half and all of the step, and never sooner than the service's
    ``Retry-After`` (up to RETRY_AFTER_CAP)."""
    step = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    delay = random.uniform(step / 2, step)
    if retry_after is not None:
        # Capped: an absurd Retry-After (10**15 s) overflowed the date arithmetic and
        # failed every batch that held the delivery.
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
    return delay


def worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{secrets.token_hex(6)}"


def among(column, ids):
    """``column IN (ids)``; on PostgreSQL ``column = ANY(:array)``, one parameter however
    many ids. A batch's IN lists of 200 parameters each cost the worker ~17 µs of CPU per
    push to render and convert (a quarter of the push's encryption), and the server a new
    statement to parse for every batch size."""
    ids = list(ids)
    if db.engine.dialect.name == "postgresql":
        # As an array literal in text: psycopg dumps a list of ints element by element in
        # Python (~110 µs for 200 ids), the join takes a sixth of that.
        literal = "{" + ",".join(map(str, map(int, ids))) + "}"
        return column == any_(cast(bindparam(None, literal, type_=String), ARRAY(Integer)))
    return column.in_(ids)


# --------------------------------------------------------------------------- claiming
def configured_lease() -> float:
    """Seconds a claim lasts before another worker may take the rows (renewed while sending)."""
    return float(current_app.config["DELIVERY_LEASE_SECONDS"])


def claim(batch_size: int = 100, now=None, token: str | None = None,
          lease_seconds: float | None = None) -> tuple[str, list[int]]:
    """Claim up to ``batch_size`` due deliveries; return (claim token, their ids)
    (:func:`claim_rows`)."""
    token, rows = claim_rows(batch_size, now, token, lease_seconds)
    return token, [row.id for row in rows]


def claim_rows(batch_size: int = 100, now=None, token: str | None = None,
               lease_seconds: float | None = None) -> tuple[str, list[Claimed]]:
    """Claim up to ``batch_size`` due deliveries; return (claim token, their
    :class:`Claimed` columns, as the claim's UPDATE returns them: no second read).

    Due: queued with ``next_attempt_at <= now``, or "sending" with an expired lease (a
    worker died). Commits the claim in its own short transaction.
    """
    now = now or utcnow()
    token = token or worker_id()
    if lease_seconds is None:
        lease_seconds = configured_lease()
    # Two picks, each reading only its own partial index (models.Delivery): rows whose
    # worker died (lease expired) first, then due rows by time. Neither reads sent rows
    # nor digest rows, so a claim costs the same whatever the size of the outbox. Their
    # states and channel are SQL literals (models.fixed), so that a prepared statement's
    # generic plan reads the partial index too and PostgreSQL need not plan every claim
    # afresh. The ids are picked (and on PostgreSQL locked, SKIP LOCKED) first and
    # updated by id after: as one UPDATE ... WHERE id IN (SELECT ... LIMIT), the planner
    # may run the pick once per outer row when its statistics are stale (right after a
    # large fan-out), which took one claim 40 s at 100,000 residents.
    expired = (select(Delivery.id)
               .where(Delivery.state == fixed("sending"), Delivery.lease_until < now)
               .order_by(Delivery.lease_until).limit(batch_size)
               .with_for_update(skip_locked=True))  # rendered only on PostgreSQL
    with write_connection() as conn:
        # .all(): one fetch of every row (iterating a result fetches row by row).
        picked = conn.scalars(expired).all()
        if len(picked) < batch_size:
            picked += conn.scalars(
                select(Delivery.id).where(Delivery.state == fixed("queued"),
                                          Delivery.channel != fixed("digest"),
                                          Delivery.next_attempt_at <= now)
                .order_by(Delivery.next_attempt_at).limit(batch_size - len(picked))
                .with_for_update(skip_locked=True)).all()
        d = Delivery.__table__.c
        rows = [Claimed(*row) for row in conn.execute(
            update(Delivery).where(among(Delivery.id, picked))
            .values(state="sending", claimed_by=token,
                    lease_until=now + timedelta(seconds=lease_seconds),
                    attempts=Delivery.attempts + 1)
            .returning(d.id, d.channel, d.attempts, d.user_id, d.device_id,
                       d.notification_id, d.created_at)
            .execution_options(synchronize_session=False)).all()] if picked else []
    return token, rows


def renew(token: str, lease: float, now=None) -> int:
    """Extend the lease of the rows still claimed by ``token`` to ``now + lease``; never
    shortens one. Returns how many rows it renewed."""
    until = (now or utcnow()) + timedelta(seconds=lease)
    with write_connection() as conn:
        return conn.execute(update(Delivery).where(
            Delivery.claimed_by == token, Delivery.state == fixed("sending"),
            Delivery.lease_until < until).values(lease_until=until)
            .execution_options(synchronize_session=False)).rowcount


@contextmanager
def heartbeat(token: str, lease: float, now=None):
    """Renew ``token``'s lease every third of ``lease`` while the block runs (a thread of
    its own, so a batch stuck on a slow server keeps its rows), measured from ``now`` when
    the batch's clock is not the wall clock (tests)."""
    app = current_app._get_current_object()
    stop = threading.Event()
    offset = (now - utcnow()) if now is not None else timedelta(0)

    def beat():
        with app.app_context():
            while not stop.wait(lease / 3):
                try:
                    renew(token, lease, utcnow() + offset)
                except Exception:  # a missed beat only shortens the lease
                    log.exception("renewing the lease of %s failed", token)

    thread = threading.Thread(target=beat, name=f"lease-{token}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# --------------------------------------------------------------------------- sending
def push_client():
    """The process-wide push client (built on first use): ``PUSH_SENDER`` "asyncio" (the
    default, :class:`~webapp.delivery.push_async.AsyncPushClient`) or "threads"
    (:class:`~webapp.delivery.push.PushClient`)."""
    global _push_client
    key = vapid()
    cfg = current_app.config
    kind = PushClient if cfg["PUSH_SENDER"] == "threads" else AsyncPushClient
    # Under a lock, and a replaced client is never closed: another batch loop may be
    # sending through it (closing it there failed that batch, whose rows then waited a
    # whole lease).
    with _push_client_lock:
        if _push_client is None or _push_client.vapid.key is not key \
                or type(_push_client) is not kind:
            _push_client = kind(key, cfg["VAPID_SUBJECT"], timeout=float(cfg["PUSH_TIMEOUT"]),
                                ttl=int(cfg["PUSH_TTL"]),
                                concurrency=int(cfg["PUSH_CONCURRENCY"]),
                                **({"cpu_lock": TURN} if kind is AsyncPushClient else {}))
        return _push_client


class Outcome:
    """Results of a batch, recorded in one transaction by :func:`record`.

    ``created`` maps delivery ids to their creation time: a failed delivery gives up
    (dead) once it is older than ``give_up`` at ``now`` and was tried MIN_ATTEMPTS times.
    """

    def __init__(self, created: dict | None = None, now=None,
                 give_up: timedelta | None = None):
        self.created = created or {}
        self.now = now or utcnow()
        self.give_up = give_up if give_up is not None else timedelta(hours=24)
        self.sent: list[int] = []
        self.retry: list[tuple[int, int, str, float | None]] = []  # id, attempts, error, after
        self.dead: list[tuple[int, str]] = []
        self.gone: list[tuple[int, str]] = []
        self.gone_devices: set[int] = set()
        self.ok_devices: set[int] = set()
        # Whether a sent row may be a digest email carrying digest rows (False for a batch
        # without email: no statement to mark carried rows sent).
        self.may_carry = True

    def fail(self, delivery_id: int, attempts: int, error: str, *, permanent: bool = False,
             retry_after: float | None = None) -> None:
        created = self.created.get(delivery_id)
        too_old = created is not None and self.now - created >= self.give_up \
            and attempts >= MIN_ATTEMPTS
        if permanent or too_old:
            self.dead.append((delivery_id, error[:500]))
        else:
            self.retry.append((delivery_id, attempts, error[:500], retry_after))


def _send_push(rows, outcome: Outcome) -> None:
    """Send a batch's push messages, at most ``PUSH_BATCH_DEADLINE`` seconds in all.

    Each endpoint is checked again before it is contacted (the allow-list may have changed
    since it was saved): one that is not allowed is never contacted and its delivery is
    dead, with the reason.
    """
    config = current_app.config
    items, keys, payloads = [], [], {}
    with TURN:  # send_many takes it again to encrypt (the push client's cpu_lock)
        for delivery, notification, _user, sub in rows:
            if sub is None:
                outcome.gone.append((delivery.id, "subscription removed"))
                continue
            problem = endpoint_problem(sub.endpoint, config)
            if problem:
                outcome.fail(delivery.id, delivery.attempts, f"not sent: {problem}",
                             permanent=True)
                continue
            payload = payloads.get(notification.id)
            if payload is None:  # one payload per notification, not per device
                payload = payloads[notification.id] = build_payload(
                    notification.title, notification.body, notification.url,
                    notification.tag or f"{notification.source_type}-{notification.source_id}")
            # RFC 8030 Urgency: push services may deliver "high" even to a device saving
            # battery.
            items.append((sub.info, payload, "high" if notification.urgent else "normal"))
            keys.append((delivery, sub))
    deadline = float(config["PUSH_BATCH_DEADLINE"])
    stale = outcome.now - SEEN_EVERY  # a device seen since needs no write (see _record)
    for (delivery, sub), result in zip(keys, push_client().send_many(items, deadline), strict=False):
        if result.status == "sent":
            outcome.sent.append(delivery.id)
            if sub.last_success_at is None or sub.last_success_at < stale:
                outcome.ok_devices.add(sub.id)
        elif result.status == "gone":
            outcome.gone.append((delivery.id, result.error))
            outcome.gone_devices.add(sub.id)
        else:
            outcome.fail(delivery.id, delivery.attempts, result.error,
                         permanent=result.status == "failed", retry_after=result.retry_after)


def _send_sms(rows, outcome: Outcome) -> None:
    """Send a batch's text messages through GOV.UK Notify (:mod:`webapp.delivery.notify_client`):
    429 and 5xx are retried, other 4xx are final. A resident who removed their number, or
    sent "STOP", is not texted ("gone")."""
    config = current_app.config
    items = []
    for delivery, notification, _user, phone in rows:
        if phone is None:
            outcome.gone.append((delivery.id, "no mobile number (removed, or STOP received)"))
            continue
        items.append((delivery.id, phone, sms_personalisation(
            notification.title, notification.body, notification.url, config["BASE_URL"])))
    if not items:
        return
    attempts = {delivery.id: delivery.attempts for delivery, *_ in rows}
    for delivery_id, result in send_sms_batch(items, config).items():
        if result.status == "sent":
            outcome.sent.append(delivery_id)
        else:
            outcome.fail(delivery_id, attempts[delivery_id], result.error,
                         permanent=result.status == "failed")


def _send_email_by_notify(rows, outcome: Outcome) -> None:
    """Email through GOV.UK Notify instead of SMTP (``NOTIFY_EMAIL_TEMPLATE_ID``): the
    message is built as for SMTP, then its subject and text part fill the template's
    ((subject)) and ((body)); its one-click unsubscribe link goes with it."""
    config = current_app.config
    for delivery, notification, user in ((r[0], r[1], r[2]) for r in rows):
        try:
            msg = message_for(delivery, notification, user)
        except Exception as exc:  # a template bug must not stall the outbox
            log.exception("building email for delivery %s failed", delivery.id)
            outcome.fail(delivery.id, delivery.attempts,
                         f"building the email failed: {type(exc).__name__}: {exc}", permanent=True)
            continue
        if msg is None:
            outcome.gone.append((delivery.id, "email turned off"))
            continue
        text = next((part for part in msg.walk() if part.get_content_type() == "text/plain"),
                    None)
        unsubscribe = (msg.get("List-Unsubscribe") or "").strip()
        unsubscribe = unsubscribe[1:-1] if unsubscribe.startswith("<") else None
        result = send_email(str(msg["To"]), config["NOTIFY_EMAIL_TEMPLATE_ID"],
                            {"subject": str(msg["Subject"]),
                             "body": text.get_payload(decode=True).decode(
                                 text.get_content_charset() or "utf-8") if text else ""},
                            reference=f"{REFERENCE_PREFIX}{delivery.id}",
                            unsubscribe_url=unsubscribe, config=config)
        if result.status == "sent":
            outcome.sent.append(delivery.id)
        else:
            outcome.fail(delivery.id, delivery.attempts, result.error,
                         permanent=result.status == "failed")


def _send_email(rows, outcome: Outcome) -> None:
    """Send a batch's emails, spread over up to ``SMTP_CONNECTIONS`` SMTP connections
    side by side (a thread each, at least ``SMTP_PER_CONNECTION`` messages each).

    Each message waits for the server's replies to four commands; with one connection a
    batch spent most of its time waiting, on a busy machine most of all. Each connection
    builds its messages as it goes (a notification going to many residents is built
    once for the batch: :func:`webapp.delivery.emails.batch_builder`).
    """
    if not rows:
        return
    if email_by_notify():
        return _send_email_by_notify(rows, outcome)
    app = current_app._get_current_object()
    build_email = batch_builder(rows)
    config = current_app.config
    n = max(1, min(int(config["SMTP_CONNECTIONS"]),
                   len(rows) // max(1, int(config["SMTP_PER_CONNECTION"]))))
    if n == 1:
        with read_only():  # digest emails read their items
            return _send_emails(rows, build_email, outcome)

    def send(part):
        with app.app_context(), read_only():
            _send_emails(part, build_email, outcome)
    with ThreadPoolExecutor(n, thread_name_prefix="smtp") as pool:
        for _ in pool.map(send, [rows[i::n] for i in range(n)]):
            pass


def _send_emails(rows, build_email, outcome: Outcome) -> None:
    """Send ``rows``' emails over one SMTP connection, recording each result in
    ``outcome`` (its lists are only appended to: safe from several threads)."""
    done = 0
    try:
        with SMTPConnection() as smtp:
            for delivery, notification, user, *_rest in rows:
                try:
                    msg = build_email(delivery, notification, user)
                except Exception as exc:  # a template bug must not stall the outbox
                    log.exception("building email for delivery %s failed", delivery.id)
                    outcome.fail(delivery.id, delivery.attempts,
                                 f"building the email failed: {type(exc).__name__}: {exc}",
                                 permanent=True)
                    done += 1
                    continue
                try:
                    if msg is None:
                        outcome.gone.append((delivery.id, "email turned off"))
                    else:
                        if isinstance(msg, FlatEmail):
                            smtp.send_flat(msg.sender, msg.to, msg.data)
                        else:
                            smtp.send(msg)
                        outcome.sent.append(delivery.id)
                except smtplib.SMTPRecipientsRefused as exc:
                    codes = [code for code, _ in exc.recipients.values()]
                    permanent = bool(codes) and all(500 <= c < 600 for c in codes)
                    outcome.fail(delivery.id, delivery.attempts,
                                 f"SMTP refused: {exc.recipients}", permanent=permanent)
                except (email.errors.MessageError, ValueError) as exc:
                    # A message that cannot be flattened (found before anything is sent):
                    # this delivery is dead, the rest of the batch goes on.
                    outcome.fail(delivery.id, delivery.attempts,
                                 f"building the email failed: {type(exc).__name__}: {exc}"[:500],
                                 permanent=True)
                except smtplib.SMTPResponseException as exc:
                    # 5xx for this message is permanent; 4xx is "try later".
                    outcome.fail(delivery.id, delivery.attempts,
                                 f"SMTP {exc.smtp_code}: {exc.smtp_error!r}",
                                 permanent=500 <= exc.smtp_code < 600 and exc.smtp_code != 554)
                done += 1
    except (smtplib.SMTPException, OSError) as exc:
        # The connection failed: every message not yet sent waits for a retry.
        for delivery, *_ in rows[done:]:
            outcome.fail(delivery.id, delivery.attempts, f"SMTP connection: {exc}"[:500])


def record(outcome: Outcome, token: str, now) -> None:
    """Write a batch's outcome. Only rows still claimed by ``token`` are touched, so a
    worker whose lease expired cannot overwrite another worker's result."""
    with write_connection() as conn:
        _record(conn, outcome, token, now)


def _record(conn, outcome: Outcome, token: str, now) -> None:
    # The claim token alone names the batch's rows: a claim sets it with state "sending"
    # and every change of state away from "sending" clears it (here; a reclaim after the
    # lease replaces it). Not "AND state = 'sending'": that condition matches the leased
    # rows' partial index, whose statistics say it is nearly empty, so PostgreSQL's plan
    # for the batch's values walked every claimed row of every worker and cast the
    # batch's id array (text) for each of them (~5 µs of PostgreSQL's CPU a push).
    mine = Delivery.claimed_by == token
    cleared = dict(claimed_by=None, lease_until=None)
    if outcome.sent:
        conn.execute(update(Delivery).where(among(Delivery.id, outcome.sent), mine)
                           .values(state="sent", sent_at=now, last_error=None, **cleared)
                           .execution_options(synchronize_session=False))
    if outcome.sent and outcome.may_carry:
        # Digest rows carried by a digest email are delivered with it.
        conn.execute(update(Delivery).where(among(Delivery.digest_delivery_id, outcome.sent),
                                                  Delivery.state == fixed("batched"))
                           .values(state="sent", sent_at=now)
                           .execution_options(synchronize_session=False))
    for delivery_id, attempts, error, after in outcome.retry:
        conn.execute(update(Delivery).where(Delivery.id == delivery_id, mine).values(
            state="queued", last_error=error,
            next_attempt_at=now + timedelta(seconds=backoff(attempts, after)), **cleared)
            .execution_options(synchronize_session=False))
    for state, items in (("dead", outcome.dead), ("gone", outcome.gone)):
        for delivery_id, error in items:
            conn.execute(update(Delivery).where(Delivery.id == delivery_id, mine)
                               .values(state=state, last_error=error, **cleared)
                               .execution_options(synchronize_session=False))
    if outcome.ok_devices:
        # At most once a day per device: "last worked" needs no finer grain, and a write
        # per push would double the database work of a fan-out. (_send_push leaves out
        # the devices it loaded as seen within the day: most batches write nothing here.)
        conn.execute(update(PushSubscription)
                           .where(among(PushSubscription.id, outcome.ok_devices),
                                  or_(PushSubscription.last_success_at.is_(None),
                                      PushSubscription.last_success_at < now - SEEN_EVERY))
                           .values(last_success_at=now)
                           .execution_options(synchronize_session=False))
    if outcome.gone_devices:
        # Other rows waiting for a removed device are marked "gone" when a batch claims
        # them (load_claimed finds no device), without a request. Marking them here read
        # every waiting row of the outbox (no index finds them by device), ~500,000
        # during a London-wide alert, for each batch in which a device had gone.
        conn.execute(PushSubscription.__table__.delete().where(
            among(PushSubscription.id, outcome.gone_devices)))


class Claimed(NamedTuple):
    """The columns of a claimed delivery the sending code needs (a tuple: a frozen
    dataclass cost ~2 µs a row to build)."""

    id: int
    channel: str
    attempts: int
    user_id: int
    device_id: int
    notification_id: int
    created_at: object  # naive UTC datetime


class Device(NamedTuple):
    """A push subscription as the sending code needs it."""

    id: int
    endpoint: str
    p256dh: str
    auth: str
    last_success_at: object  # naive UTC datetime, or None

    @property
    def info(self) -> dict:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


def load_claimed(claimed: list[Claimed]) -> list[tuple]:
    """(delivery, notification, user, device) for each claimed row (for a text message,
    the number to text instead of a device: None when removed or stopped).

    Deliveries (the claim's rows) and devices are plain tuples (building ORM objects for
    thousands of rows cost more than encrypting them); notifications (a handful per batch) and the
    users of email rows (their templates may use them) are ORM objects, loaded in a short
    session of their own that is closed at once: no transaction stays open during the
    network part, and the caller's session is left alone.
    """
    with read_only(), Session(db.engine, expire_on_commit=False) as session:
        notifications = {n.id: n for n in session.scalars(select(Notification).where(
            among(Notification.id, {c.notification_id for c in claimed})))}
        user_ids = {c.user_id for c in claimed if c.channel == "email"}
        users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(user_ids)))} \
            if user_ids else {}
        device_ids = {c.device_id for c in claimed if c.channel == "push"}
        s = PushSubscription.__table__.c
        devices = {row[0]: Device(*row) for row in session.execute(
            select(s.id, s.endpoint, s.p256dh, s.auth, s.last_success_at)
            .where(among(s.id, device_ids))).all()} \
            if device_ids else {}
        texted = {c.user_id for c in claimed if c.channel == "sms"}
        phones = {uid: phone for uid, phone in session.execute(
            select(SmsNumber.user_id, SmsNumber.phone).where(
                SmsNumber.user_id.in_(texted), SmsNumber.stopped_at.is_(None)))} if texted else {}
    return [(c, notifications[c.notification_id], users.get(c.user_id),
             devices.get(c.device_id) if c.channel == "push" else
             phones.get(c.user_id) if c.channel == "sms" else None) for c in claimed]


def deliver_due(batch_size: int = 100, now=None) -> dict:
    """Claim one batch of due deliveries, send it and record the outcome.

    Returns counts: claimed, sent, retry, dead, gone. ``now`` (naive UTC) lets tests move
    the clock forward (retries, expired leases).
    """
    if not str(current_app.config["VAPID_SUBJECT"] or "").startswith(("mailto:", "https://")):
        # Checked before claiming anything: push services reject (403) a VAPID subject that
        # is not a contact URL, and a misconfigured worker must not hold rows.
        raise ValueError("VAPID_SUBJECT must be a mailto: or https:// URL")
    now = now or utcnow()
    # The claim and the results use connections of their own: end this thread's session
    # transaction first (committing anything pending, as write_transaction() does), so on
    # SQLite it cannot hold the write lock the claim waits for.
    db.session.commit()
    lease = configured_lease()
    with TURN:
        token, claimed = claim_rows(batch_size, now, lease_seconds=lease)
    result = {"claimed": len(claimed), "sent": 0, "retry": 0, "dead": 0, "gone": 0}
    if not claimed:
        return result
    started = time.perf_counter()
    with heartbeat(token, lease, now):
        with TURN:
            rows = load_claimed(claimed)
        outcome = Outcome({r[0].id: r[0].created_at for r in rows}, now,
                          timedelta(hours=float(current_app.config["DELIVERY_GIVE_UP_HOURS"])))
        # Email first: an email batch never waits on a slow push service.
        emails = [r for r in rows if r[0].channel == "email"]
        outcome.may_carry = bool(emails)
        _send_email(emails, outcome)
        _send_push([r for r in rows if r[0].channel == "push"], outcome)
        _send_sms([r for r in rows if r[0].channel == "sms"], outcome)
        db.session.rollback()  # end the read transaction (digest rendering reads)
    with TURN:
        record(outcome, token, now)
    record_batch({r[0].id: r[0].channel for r in rows}, outcome, time.perf_counter() - started)
    result.update(sent=len(outcome.sent), retry=len(outcome.retry), dead=len(outcome.dead),
                  gone=len(outcome.gone))
    db.session.expire_all()
    return result


def batch_loop(stopping: threading.Event, batch_size: int, idle_sleep: float,
               pause: float, once: bool = False, wakeup: Wakeup | None = None) -> None:
    """One batch loop of :func:`run_forever`: batches back to back until ``stopping`` is
    set, ``idle_sleep`` seconds between them when fewer than ``batch_size`` were due
    (less when ``wakeup`` says rows were written meanwhile), and up to ``pause`` seconds
    after each batch while a part writer of this process writes
    (:func:`webapp.delivery.fanout.yield_to_writers`)."""
    while not stopping.is_set():
        seen = wakeup.generation if wakeup else 0  # before looking: no wake-up is missed
        try:
            result = deliver_due(batch_size)
        except Exception:  # a database hiccup must not kill the worker
            log.exception("delivery batch failed")
            db.session.rollback()
            result = {"claimed": 0}
        if result["claimed"]:
            log.info("delivered %s", result)
        if once:
            break
        if result["claimed"]:
            yield_to_writers(pause)
        if result["claimed"] < batch_size:
            if wakeup:
                wakeup.wait(seen, idle_sleep)
            else:
                stopping.wait(idle_sleep)


def run_forever(batch_size: int = 100, idle_sleep: float = 1.0, once: bool = False,
                loops: int = 2, writers: int | None = None) -> None:
    """Deliver until SIGTERM/SIGINT: full batches back to back, a short sleep when idle.

    ``loops`` batch loops run side by side in this process (threads, each with its own
    app context and database session), so one loop's database work (claim, load, record)
    overlaps another's sending instead of leaving the network idle. Beside them,
    ``writers`` part writers (``FANOUT_WRITERS`` by default) write the parts of large
    fan-outs as soon as they wait (:func:`webapp.delivery.fanout.write_parts`), so the
    rows already written go out while the rest is written; while they write, each batch
    loop waits up to ``FANOUT_SEND_PAUSE`` seconds after a batch
    (:func:`webapp.delivery.fanout.yield_to_writers`), leaving them the CPU.
    """
    app = current_app._get_current_object()
    stopping = threading.Event()
    pause = float(current_app.config["FANOUT_SEND_PAUSE"])
    wakeup = Wakeup(stopping)  # LISTEN/NOTIFY on PostgreSQL: no waiting for the next look
    url = listener_url(db.engine)
    if url and not once:
        wakeup.start(url)

    def _stop(*_):
        wakeup.stop()

    def loop():
        with app.app_context():
            batch_loop(stopping, batch_size, idle_sleep, pause, once, wakeup)

    def writer():
        with app.app_context():
            write_parts(stopping, min(idle_sleep, 0.25), once, wakeup)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if writers is None:
        writers = int(current_app.config["FANOUT_WRITERS"])
    log.info("delivery worker started (%d loops, %d part writers)", loops, writers)
    threads = [threading.Thread(target=loop, name=f"deliver-{n}", daemon=True)
               for n in range(1, max(1, loops))]
    threads += [threading.Thread(target=writer, name=f"fanout-writer-{n}", daemon=True)
                for n in range(1, writers + 1)]
    for thread in threads:
        thread.start()
    loop()
    for thread in threads:
        thread.join()
    wakeup.join(timeout=5)
    if _push_client is not None:
        _push_client.close()
    log.info("delivery worker stopped")
