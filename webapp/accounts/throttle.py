"""Throttling of staff sign-in attempts, per account and source, with growing delays.

An attacker who types an officer's address with wrong passwords slows down only their own
attempts, from their own address: the officer, on a device where they signed in before (a
signed ``wardline_device`` cookie), is another source and signs in as usual. The first
``LOGIN_FREE_ATTEMPTS`` failures cost nothing; each further one makes that source wait
``LOGIN_DELAY_BASE`` seconds, doubling up to ``LOGIN_DELAY_MAX``. A success from a source
forgets its failures.

Every address is treated the same, whether it belongs to an officer, a resident or nobody,
so the answers never tell which addresses are staff. Accounts and sources are stored only
as keyed hashes (HMAC with the secret key), never as addresses.

When an officer's account collects ``LOGIN_ALERT_AFTER`` failures within an hour (from any
source), the officer is emailed (at most once an hour, through the outbox).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from blinker import Namespace
from flask import current_app
from sqlalchemy import ForeignKey, String, UniqueConstraint, delete, func, select, update
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.platform.audit import record
from webapp.platform.db import insert_ignore
from webapp.platform.timeutil import utcnow
from webapp.platform.tokens import TokenError, make_token, read_token

#: Sent (sender: the staff user; ``count``, ``now``, ``audit_event_id``) when a staff
#: account is being guessed; ``webapp.admin`` queues the warning email (accounts sits
#: below delivery, so it does not write the outbox itself).
sign_in_guessed = Namespace().signal("staff-sign-in-guessed")

DEVICE_COOKIE = "wardline_device"
DEVICE_PURPOSE = "staff-device"
DEVICE_MAX_AGE = 60 * 60 * 24 * 365
FORGET_AFTER = timedelta(days=1)  # rows idle this long are dropped
ALERT_WINDOW = timedelta(hours=1)


class LoginThrottle(db.Model):
    """Failed staff sign-in attempts of one account (keyed hash of the address) from one
    source (keyed hash of a known device's id, or of the IP address)."""

    __tablename__ = "login_throttles"
    __table_args__ = (UniqueConstraint("account_key", "source_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_key: Mapped[str] = mapped_column(String(64), index=True)
    source_key: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(default=0)
    last_failed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    blocked_until: Mapped[datetime | None]


class StaffLoginAlert(db.Model):
    """When an officer was last emailed that their account is being guessed."""

    __tablename__ = "staff_login_alerts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    alerted_at: Mapped[datetime]


def _keyed(kind: str, value: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def account_key(email: str | None) -> str:
    return _keyed("account", (email or "").strip().lower()[:254])


# --------------------------------------------------------------------------- sources
def device_cookie_value(user) -> str:
    """A signed cookie value marking this browser as one ``user`` signed in from."""
    return make_token(DEVICE_PURPOSE, {"uid": user.id, "did": secrets.token_urlsafe(12)})


def _device(device_cookie: str | None) -> dict:
    if not device_cookie or len(device_cookie) > 500:
        return {}
    try:
        payload = read_token(DEVICE_PURPOSE, device_cookie, max_age=DEVICE_MAX_AGE)
    except TokenError:
        return {}
    if not isinstance(payload, dict) or not isinstance(payload.get("did"), str):
        return {}
    return payload


def device_user_id(device_cookie: str | None) -> int | None:
    """The staff member a valid known-device cookie was issued to, or None."""
    uid = _device(device_cookie).get("uid")
    return uid if isinstance(uid, int) else None


def source_key(user, device_cookie: str | None, remote_addr: str | None) -> str:
    """The source of an attempt on ``user``'s account (None: no such staff account): a
    device where that user signed in before, else the IP address."""
    payload = _device(device_cookie)
    if user is not None and payload.get("uid") == user.id:
        return _keyed("device", payload["did"])
    return _keyed("ip", remote_addr or "unknown")


# --------------------------------------------------------------------------- throttle
def delay_after(failures: int) -> int:
    """Seconds to wait after ``failures`` failed attempts (0 while they are free)."""
    config = current_app.config
    over = failures - config["LOGIN_FREE_ATTEMPTS"]
    if over < 0:
        return 0
    return min(config["LOGIN_DELAY_BASE"] * 2 ** min(over, 30), config["LOGIN_DELAY_MAX"])


def blocked_until(account: str, source: str, now: datetime | None = None) -> datetime | None:
    """When this source may try this account again, or None if it may now."""
    now = now or utcnow()
    until = db.session.scalar(select(LoginThrottle.blocked_until).where(
        LoginThrottle.account_key == account, LoginThrottle.source_key == source))
    return until if until is not None and until > now else None


def record_failure(account: str, source: str, now: datetime | None = None) -> datetime | None:
    """Count a failed attempt; return when this source may try again (None: at once).
    The caller commits."""
    now = now or utcnow()
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.last_failed_at < now - FORGET_AFTER))
    db.session.execute(insert_ignore(LoginThrottle.__table__).values(
        account_key=account, source_key=source, failures=0, last_failed_at=now)
        .on_conflict_do_nothing())
    # One UPDATE, so parallel failures all count.
    where = (LoginThrottle.account_key == account, LoginThrottle.source_key == source)
    db.session.execute(update(LoginThrottle).where(*where)
                       .values(failures=LoginThrottle.failures + 1, last_failed_at=now))
    failures = db.session.scalar(select(LoginThrottle.failures).where(*where))
    wait = delay_after(failures)
    until = now + timedelta(seconds=wait) if wait else None
    db.session.execute(update(LoginThrottle).where(*where).values(blocked_until=until))
    return until


def forget_source(account: str, source: str) -> None:
    """A complete sign-in from ``source``: forget its failures (the caller commits)."""
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.account_key == account,
                                                   LoginThrottle.source_key == source))


def forget_account(email: str) -> None:
    """Forget every failed attempt on an account (an admin's "clear"; the caller commits)."""
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.account_key == account_key(email)))


def recent_failures(email: str, now: datetime | None = None) -> int:
    """Failed attempts on the account of ``email`` in the last hour, from every source."""
    now = now or utcnow()
    return db.session.scalar(select(func.coalesce(func.sum(LoginThrottle.failures), 0)).where(
        LoginThrottle.account_key == account_key(email),
        LoginThrottle.last_failed_at > now - ALERT_WINDOW)) or 0


def alert_if_guessed(user, now: datetime | None = None) -> bool:
    """Email ``user`` (a staff member) when their account is being guessed: at least
    ``LOGIN_ALERT_AFTER`` failures in the last hour, and no alert in the last hour.
    Audit-logged in the caller's transaction, and announced with the
    :data:`sign_in_guessed` signal, whose receiver (``webapp.admin``, above delivery)
    queues the email in the outbox in the same transaction. True if announced."""
    now = now or utcnow()
    count = recent_failures(user.email, now)
    if count < current_app.config["LOGIN_ALERT_AFTER"]:
        return False
    state = db.session.get(StaffLoginAlert, user.id)
    if state is not None and state.alerted_at > now - ALERT_WINDOW:
        return False
    if state is None:
        db.session.add(StaffLoginAlert(user_id=user.id, alerted_at=now))
    else:
        state.alerted_at = now
    event = record(None, "staff.sign_in_guessed", user, f"{count} failed attempts in the last hour")
    db.session.flush()
    sign_in_guessed.send(user, count=count, now=now, audit_event_id=event.id)
    return True
