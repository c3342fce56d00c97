"""Retention ticks of the accounts domain (run by ``flask scheduler``; see
:mod:`webapp.platform.retention` for the batching rule).

- sign-ups never confirmed (the link was never followed) go after
  ``RETENTION_UNCONFIRMED_DAYS``, through :func:`delete_account` like any account;
- records of used sign-in and email-change links go once the link itself has expired:
  a record only stops a link being used twice, and an expired link is refused anyway;
- phone confirmation codes go once they are used or expired and an hour old (the hourly
  limit on codes counts the last hour's);
- records of signed-out sessions go once every cookie that could carry them has expired.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, or_, select

from webapp.accounts.data_rights import delete_account
from webapp.accounts.email_change import MAX_AGE as EMAIL_CHANGE_MAX_AGE
from webapp.accounts.email_change import PURPOSE as EMAIL_CHANGE_PURPOSE
from webapp.accounts.models import User
from webapp.accounts.phone import PhoneCode
from webapp.accounts.sessions import RevokedSession
from webapp.accounts.signin import SIGNIN_PURPOSE
from webapp.extensions import db
from webapp.platform.db import write_transaction
from webapp.platform.retention import batch_size, cutoff, delete_in_batches
from webapp.platform.timeutil import utcnow
from webapp.platform.tokens import UsedToken


def purge_unconfirmed_signups(now: datetime | None = None) -> dict | None:
    """Scheduler tick: delete residents who signed up more than
    ``RETENTION_UNCONFIRMED_DAYS`` ago and never followed their link. Each account goes
    through :func:`delete_account` (every domain's hooks), ``RETENTION_BATCH`` accounts per
    transaction."""
    old = and_(User.role == "resident", User.confirmed_at.is_(None),
               User.created_at < cutoff("RETENTION_UNCONFIRMED_DAYS", now))
    batch, total = batch_size(), 0
    while True:
        with write_transaction():
            users = list(db.session.scalars(select(User).where(old).order_by(User.id)
                                            .limit(batch).with_for_update(skip_locked=True)))
            for user in users:
                delete_account(user)
        total += len(users)
        if len(users) < batch:
            return {"unconfirmed_signups": total} if total else None


def purge_used_tokens(now: datetime | None = None) -> dict | None:
    """Scheduler tick: delete the records of used single-use links that have expired
    since (a sign-in link after ``SIGNIN_LINK_MAX_AGE``, an email-change link after a day;
    any other purpose after the longer of the two)."""
    now = now or utcnow()
    ages = {SIGNIN_PURPOSE: int(current_app.config["SIGNIN_LINK_MAX_AGE"]),
            EMAIL_CHANGE_PURPOSE: EMAIL_CHANGE_MAX_AGE}
    t = UsedToken.__table__.c
    expired = or_(*(and_(t.purpose == purpose, t.used_at < now - timedelta(seconds=age))
                    for purpose, age in ages.items()),
                  and_(t.purpose.not_in(ages),
                       t.used_at < now - timedelta(seconds=max(ages.values()))))
    gone = delete_in_batches(UsedToken.__table__, expired)
    return {"used_tokens": gone} if gone else None


def purge_spent_phone_codes(now: datetime | None = None) -> dict | None:
    """Scheduler tick: delete phone confirmation codes that were used or have expired, once
    they are more than an hour old (until then they count towards the hourly limit)."""
    now = now or utcnow()
    t = PhoneCode.__table__.c
    spent = and_(t.created_at < now - timedelta(hours=1),
                 or_(t.used_at.is_not(None), t.expires_at < now))
    gone = delete_in_batches(PhoneCode.__table__, spent)
    return {"phone_codes": gone} if gone else None


def purge_expired_revocations(now: datetime | None = None) -> dict | None:
    """Scheduler tick: delete records of signed-out sessions whose cookies have all expired
    (sign-out also drops them, but only when someone signs out)."""
    t = RevokedSession.__table__.c
    gone = delete_in_batches(RevokedSession.__table__, t.expires_at < (now or utcnow()),
                             key=t.session_id)
    return {"revoked_sessions": gone} if gone else None
