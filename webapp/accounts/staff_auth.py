"""Officers' and admins' password: finding a staff account, checking its password (the
same answer and the same argon2 work for an unknown address), changing it.

No account lock (a lock would let anyone lock any officer out): failed attempts are
throttled per account and source by :mod:`webapp.accounts.throttle`, and the second factor
follows (:mod:`webapp.accounts.mfa`)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from webapp.extensions import db
from webapp.platform.timeutil import utcnow
from webapp.accounts.models import User
from webapp.accounts.passwords import MAX_LENGTH, MIN_LENGTH, hash_password, verify_password
from webapp.platform.audit import record




@dataclass
class PasswordCheck:
    user: object | None
    ok: bool
    expired: bool = False  # the right one-time password, too late


def check_password(email: str, password: str, now: datetime | None = None) -> PasswordCheck:
    """Check a staff member's email and password.

    Unknown emails and residents fail exactly like a wrong password (same answer, same
    argon2 work). A one-time password past ``password_expires_at`` fails with ``expired``.
    """
    now = now or utcnow()
    user = find_staff(email)
    if user is None:
        verify_password(None, password or "x")
        return PasswordCheck(None, False)
    if not verify_password(user.password_hash, password):
        return PasswordCheck(user, False)
    if user.password_expires_at is not None and user.password_expires_at <= now:
        return PasswordCheck(user, False, expired=True)
    return PasswordCheck(user, True)


def find_staff(email: str | None):
    """The officer or admin with a password whose address is ``email``, or None."""
    user = db.session.scalar(select(User).where(User.email == (email or "").strip().lower()[:254]))
    if user is None or not user.is_staff or not user.password_hash:
        return None
    return user


def change_password(user, current: str, new: str, now: datetime | None = None) -> dict[str, str]:
    """Replace ``user``'s password with ``new`` after checking ``current``. Returns errors
    by field (nothing changes then), or {} on success: the password is no longer one-time,
    every other session of ``user`` ends (the session version moves on), and the change is
    audit-logged. The caller commits."""
    errors = {}
    if not verify_password(user.password_hash, current or ""):
        errors["current_password"] = "That is not your current password."
    if len(new or "") < MIN_LENGTH:
        errors["new_password"] = f"Use at least {MIN_LENGTH} characters."
    elif len(new) > MAX_LENGTH:
        errors["new_password"] = f"Use at most {MAX_LENGTH} characters."
    elif new == current:
        errors["new_password"] = "Choose a password different from your current one."
    elif user.email and user.email.lower() in new.lower():
        errors["new_password"] = "Do not use your email address in your password."
    if errors:
        return errors
    user.password_hash = hash_password(new)
    user.password_must_change = False
    user.password_expires_at = None
    user.session_version = (user.session_version or 0) + 1
    record(user, "staff.password_change", user)
    return {}
