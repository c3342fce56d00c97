"""Officers' and admins' second factor.

TOTP (pyotp) with a QR code for enrolment (segno, as inline SVG markup that the strict CSP
allows) and ten single-use backup codes kept only as hashes. The password comes first
(:mod:`webapp.accounts.staff_auth`); failed attempts at either are throttled per account
and source by :mod:`webapp.accounts.throttle`."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timezone

import pyotp
import segno
from sqlalchemy import ForeignKey, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.platform.timeutil import utcnow
from sqlalchemy import func



ISSUER = "Wardline"
BACKUP_CODE_COUNT = 10
_BACKUP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: easy to read out


class StaffLoginState(db.Model):
    """The TOTP time step last accepted for one staff account."""

    __tablename__ = "staff_login_states"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    # The TOTP time step last accepted: a code is never accepted twice (replay).
    totp_last_counter: Mapped[int] = mapped_column(default=0)


class BackupCode(db.Model):
    """A single-use backup code, stored as a SHA-256 hash (codes are random, ~50 bits,
    so a fast hash is enough; nobody can guess them from the hash)."""

    __tablename__ = "staff_backup_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


# --------------------------------------------------------------------------- state
def _state(user) -> StaffLoginState:
    state = db.session.get(StaffLoginState, user.id)
    if state is None:
        state = StaffLoginState(user_id=user.id, totp_last_counter=0)
        db.session.add(state)
        db.session.flush()
    return state


# --------------------------------------------------------------------------- TOTP
def new_totp_secret() -> str:
    return pyotp.random_base32()  # 160 bits


def provisioning_uri(user, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The QR code of ``uri`` as inline ``<svg>`` markup (no script, no style attribute)."""
    # omitsize: a viewBox instead of a fixed size, so CSS can scale it on small screens.
    return segno.make(uri, error="m").svg_inline(scale=5, omitsize=True, border=4,
                                                 title="QR code for your authenticator app",
                                                 dark="#000", light="#fff")


def _normalise_code(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())[:32]


def _matching_counter(secret: str, code: str, now: datetime) -> int | None:
    """The time step (±1 for clock drift) at which ``code`` is valid, or None."""
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    # Stored times are naive UTC; make them aware before taking the epoch.
    timestamp = (now if now.tzinfo else now.replace(tzinfo=timezone.utc)).timestamp()
    for drift in (0, -1, 1):
        at = timestamp + drift * totp.interval
        if secrets.compare_digest(totp.at(int(at)), code):
            return int(at) // totp.interval
    return None


def verify_totp(user, code: str, now: datetime | None = None, secret: str | None = None) -> bool:
    """True if ``code`` is a current TOTP code for ``user`` (or for ``secret`` during
    enrolment) that was not used before. Records the step used; the caller commits."""
    secret = secret or user.totp_secret
    if not secret:
        return False
    counter = _matching_counter(secret, _normalise_code(code), now or utcnow())
    if counter is None:
        return False
    # Claim the step atomically: a replayed (or raced) code finds it already taken.
    _state(user)
    claimed = db.session.execute(
        update(StaffLoginState)
        .where(StaffLoginState.user_id == user.id, StaffLoginState.totp_last_counter < counter)
        .values(totp_last_counter=counter)).rowcount
    return claimed == 1


def confirm_enrolment(user, secret: str, code: str, now: datetime | None = None) -> list[str] | None:
    """Finish TOTP enrolment when ``code`` matches ``secret``: store the secret and return
    fresh backup codes (shown once). Returns None when the code is wrong."""
    if not verify_totp(user, code, now, secret=secret):
        return None
    user.totp_secret = secret
    user.totp_confirmed_at = now or utcnow()
    return regenerate_backup_codes(user)


# --------------------------------------------------------------------------- backup codes
def _hash_code(code: str) -> str:
    return hashlib.sha256(_normalise_code(code).encode()).hexdigest()


def regenerate_backup_codes(user) -> list[str]:
    """Replace ``user``'s backup codes with BACKUP_CODE_COUNT new ones; return them in
    readable form ("abcde-fghjk"). The caller commits."""
    db.session.query(BackupCode).filter_by(user_id=user.id).delete()
    codes = []
    for _ in range(BACKUP_CODE_COUNT):
        raw = "".join(secrets.choice(_BACKUP_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(BackupCode(user_id=user.id, code_hash=_hash_code(raw)))
    return codes


def use_backup_code(user, code: str, now: datetime | None = None) -> bool:
    """Spend one backup code. True if it was valid and unused (it cannot be used again)."""
    normalised = _normalise_code(code)
    if len(normalised) != 10:
        return False
    row = db.session.scalar(select(BackupCode).where(
        BackupCode.user_id == user.id, BackupCode.code_hash == _hash_code(normalised),
        BackupCode.used_at.is_(None)))
    if row is None:
        return False
    # Conditional update: two parallel uses of one code cannot both succeed.
    spent = db.session.execute(update(BackupCode)
                               .where(BackupCode.id == row.id, BackupCode.used_at.is_(None))
                               .values(used_at=now or utcnow())).rowcount
    return spent == 1


def backup_codes_left(user) -> int:
    return db.session.scalar(select(func.count()).select_from(BackupCode).where(
        BackupCode.user_id == user.id, BackupCode.used_at.is_(None))) or 0
