"""A resident's mobile number for text messages: adding it, confirming it with a code,
which categories come by text, removing it, and "STOP".

* :class:`SmsNumber` is the confirmed number (one per resident, E.164, UK mobiles only),
  with ``stopped_at`` set when a "STOP" came back from it (GOV.UK Notify's received-text
  callback, :func:`stop_number`): no text goes to a stopped number until the resident
  confirms it again.
* :class:`PhoneCode` is a code sent to a number being added: six digits, kept only as a
  keyed hash (HMAC-SHA256 with the app's secret key), valid ``SMS_CODE_MINUTES``, used
  once, ``SMS_CODE_ATTEMPTS`` tries; at most ``SMS_CODES_PER_HOUR`` sent per account and
  per number.
* :class:`SmsCategory`: the alert categories a resident wants by text. Urgent alerts go by
  text to every confirmed number in the audience whatever the categories.

Sending belongs to :mod:`webapp.delivery` (a higher layer): it registers the function that
sends a code with :func:`set_code_sender` (``webapp.delivery.notify_client`` at import).
Nothing here commits; views do.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Callable, Iterable

import phonenumbers
from flask import current_app
from sqlalchemy import ForeignKey, String, and_, bindparam, column, delete, exists, func, or_, select, table
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.platform.account_data import Gathered, register_account_data
from webapp.platform.taxonomy import CATEGORIES
from webapp.platform.timeutil import utcnow

CODE_LENGTH = 6
PHONE_MAX = 32  # characters a resident may type (spaces, brackets, +44 ...)


class SmsNumber(db.Model):
    """A resident's confirmed mobile number."""

    __tablename__ = "sms_numbers"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    phone: Mapped[str] = mapped_column(String(16), index=True)  # E.164, "+447700900123"
    confirmed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A "STOP" text came from this number: nothing is sent until it is confirmed again.
    stopped_at: Mapped[datetime | None]


class SmsCategory(db.Model):
    """An alert category a resident wants by text (see :data:`webapp.platform.taxonomy.CATEGORIES`)."""

    __tablename__ = "sms_categories"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    category: Mapped[str] = mapped_column(String(16), primary_key=True)


class PhoneCode(db.Model):
    """A confirmation code sent to a number being added (pending until used or expired)."""

    __tablename__ = "phone_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    phone: Mapped[str] = mapped_column(String(16), index=True)  # E.164
    code_hash: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256 (hex), never the code
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    used_at: Mapped[datetime | None]


class PhoneError(ValueError):
    """Something the resident should fix; ``message`` is shown next to ``field``."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


# --------------------------------------------------------------------------- numbers
def normalise_mobile(raw: str | None) -> str:
    """A UK mobile number in E.164 ("+447700900123"), from what a resident typed
    ("07700 900123", "+44 7700 900123", "(0)7700-900123"). Raises :class:`PhoneError`."""
    text = (raw or "").strip()
    if not text:
        raise PhoneError("phone", "Enter your mobile number, like 07700 900123.")
    if len(text) > PHONE_MAX:
        raise PhoneError("phone", "That is too long for a phone number. "
                                  "Enter a UK mobile number, like 07700 900123.")
    try:
        number = phonenumbers.parse(text, "GB")
    except phonenumbers.NumberParseException:
        raise PhoneError("phone", "Enter a UK mobile number using only numbers, spaces and "
                                  "+, like 07700 900123.") from None
    if number.country_code != 44:
        raise PhoneError("phone", "Enter a UK mobile number (starting 07 or +44 7). "
                                  "We can only send texts to UK mobiles.")
    if not phonenumbers.is_valid_number(number):
        raise PhoneError("phone", "That is not a complete UK mobile number. Check the "
                                  "number of digits: 11, like 07700 900123.")
    kind = phonenumbers.number_type(number)
    if kind not in (phonenumbers.PhoneNumberType.MOBILE,
                    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise PhoneError("phone", "That is not a mobile number. Enter a UK mobile number "
                                  "(starting 07), which can receive texts.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_number(e164: str) -> str:
    """"+447700900123" as residents write it: "07700 900123"."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, "GB"),
                                          phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def number_for(user) -> SmsNumber | None:
    return db.session.get(SmsNumber, user.id) if user is not None and user.id else None


def _phone_state_statement():
    users = table("users", column("id"))
    user_id = bindparam("user_id")
    pending = select(PhoneCode.id).where(
        PhoneCode.user_id == user_id, PhoneCode.used_at.is_(None),
        PhoneCode.expires_at > bindparam("now")).order_by(PhoneCode.id.desc()).limit(1)
    return (select(SmsNumber, PhoneCode, SmsCategory.category).select_from(users)
            .outerjoin(SmsNumber, SmsNumber.user_id == users.c.id)
            .outerjoin(PhoneCode, PhoneCode.id == pending.scalar_subquery())
            .outerjoin(SmsCategory, SmsCategory.user_id == users.c.id)
            .where(users.c.id == user_id))


# Built once, values bound at run time: building it on every settings page cost about as
# much CPU as running it (issue 14).
_PHONE_STATE = _phone_state_statement()


def phone_state(user) -> tuple[SmsNumber | None, PhoneCode | None, set[str]]:
    """The number, the latest unused unexpired code (the number being confirmed) and the
    text categories of ``user``, in one statement: a row per category, the number and the
    code on each."""
    rows = db.session.execute(_PHONE_STATE, {"user_id": user.id, "now": utcnow()}).all()
    if not rows:
        return None, None, set()
    return rows[0][0], rows[0][1], {row[2] for row in rows if row[2] is not None}


def sms_categories(user) -> set[str]:
    return set(db.session.scalars(select(SmsCategory.category)
                                  .where(SmsCategory.user_id == user.id)))


# --------------------------------------------------------------------------- codes
_code_sender: Callable[[str, str], None] | None = None


def set_code_sender(sender: Callable[[str, str], None]) -> None:
    """Register ``sender(phone_e164, code)``, which texts a code (the delivery layer's)."""
    global _code_sender
    _code_sender = sender


def _hash(code: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"phone-code:" + code.encode(), hashlib.sha256).hexdigest()


def start_confirmation(user, raw_phone: str | None, now: datetime | None = None) -> tuple[PhoneCode, str]:
    """Make a code for the number ``user`` typed; return (row, the code in clear).

    The caller commits, then calls :func:`send_code`. Raises :class:`PhoneError` for a bad
    number or too many codes in the last hour (per account, and per number so nobody can
    flood someone else's phone from several accounts).
    """
    now = now or utcnow()
    phone = normalise_mobile(raw_phone)
    limit = int(current_app.config["SMS_CODES_PER_HOUR"])
    since = now - timedelta(hours=1)
    recent = db.session.scalar(select(func.count()).select_from(PhoneCode).where(
        PhoneCode.created_at > since,
        or_(PhoneCode.user_id == user.id, PhoneCode.phone == phone)))
    if recent >= limit:
        raise PhoneError("phone", f"We have sent {limit} codes in the last hour, which is the "
                                  "most we send. Please try again in an hour.")
    # Only the newest code counts: older unused ones stop working.
    db.session.execute(PhoneCode.__table__.update().where(
        PhoneCode.user_id == user.id, PhoneCode.used_at.is_(None)).values(used_at=now))
    code = f"{secrets.randbelow(10 ** CODE_LENGTH):0{CODE_LENGTH}d}"
    minutes = int(current_app.config["SMS_CODE_MINUTES"])
    row = PhoneCode(user_id=user.id, phone=phone, code_hash=_hash(code), created_at=now,
                    expires_at=now + timedelta(minutes=minutes), attempts=0)
    db.session.add(row)
    db.session.flush()
    return row, code


def send_code(phone: str, code: str) -> None:
    """Text ``code`` to ``phone`` through the registered sender (after the commit).
    Raises whatever the sender raises when the text cannot be sent."""
    if _code_sender is None:
        raise RuntimeError("no code sender registered (the delivery blueprint does it)")
    _code_sender(phone, code)


def confirm_code(user, raw_code: str | None, now: datetime | None = None) -> SmsNumber:
    """Check the code ``user`` typed against their latest code; on success the number
    is theirs (confirmed, un-stopped) and the code is used up. Raises :class:`PhoneError`
    with a message for a missing, malformed, wrong, expired or used-up code. A wrong try
    is counted (the caller commits either way)."""
    now = now or utcnow()
    code = "".join((raw_code or "").split())
    latest = db.session.scalar(select(PhoneCode).where(PhoneCode.user_id == user.id)
                               .order_by(PhoneCode.id.desc()).limit(1))
    if latest is None:
        raise PhoneError("code", "There is no code waiting. Enter your mobile number and "
                                 "we will text you a code.")
    if latest.expires_at <= now:
        raise PhoneError("code", "That code has expired. Codes last "
                                 f"{current_app.config['SMS_CODE_MINUTES']} minutes: "
                                 "send a new code.")
    if latest.attempts >= _max_attempts():
        raise PhoneError("code", "Too many wrong codes. Send a new code and try again.")
    if not (len(code) == CODE_LENGTH and code.isdigit()):
        raise PhoneError("code", f"Enter the {CODE_LENGTH}-digit code from the text message, "
                                 "like 123456.")
    if latest.used_at is not None:
        raise PhoneError("code", "That code has already been used. Send a new code.")
    latest.attempts += 1
    if not hmac.compare_digest(latest.code_hash, _hash(code)):
        left = _max_attempts() - latest.attempts
        db.session.flush()
        if left <= 0:
            raise PhoneError("code", "That code is wrong, and that was the last try. "
                                     "Send a new code.")
        raise PhoneError("code", f"That code is wrong. Check the text message and try again "
                                 f"({left} {'try' if left == 1 else 'tries'} left).")
    latest.used_at = now
    number = number_for(user)
    if number is None:
        number = SmsNumber(user_id=user.id)
        db.session.add(number)
    number.phone, number.confirmed_at, number.stopped_at = latest.phone, now, None
    db.session.flush()
    return number


def _max_attempts() -> int:
    return int(current_app.config["SMS_CODE_ATTEMPTS"])


def set_sms_categories(user, categories: Iterable[str]) -> None:
    """Which categories come by text (unknown codes ignored)."""
    wanted = {c for c in categories or () if c in CATEGORIES}
    db.session.execute(delete(SmsCategory).where(SmsCategory.user_id == user.id))
    db.session.add_all(SmsCategory(user_id=user.id, category=c) for c in sorted(wanted))
    db.session.flush()


def remove_number(user) -> bool:
    """Forget the resident's number, their text categories and pending codes. Texts still
    waiting in the outbox are not sent: the worker finds no number ("gone"). Returns True
    if there was a number."""
    had = number_for(user) is not None
    db.session.execute(delete(SmsNumber).where(SmsNumber.user_id == user.id))
    db.session.execute(delete(SmsCategory).where(SmsCategory.user_id == user.id))
    db.session.execute(delete(PhoneCode).where(PhoneCode.user_id == user.id))
    db.session.flush()
    return had


def _e164(raw_phone: str) -> str | None:
    """Any number Notify reports ("447700900123", "+44...", "07700...") as E.164."""
    try:
        text = raw_phone.strip()
        number = phonenumbers.parse(text if text.startswith(("+", "0")) else "+" + text, "GB")
    except (phonenumbers.NumberParseException, AttributeError):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def stop_number(raw_phone: str, now: datetime | None = None) -> list[int]:
    """A "STOP" came from ``raw_phone``: turn texts off for every resident with that
    number. Returns their user ids."""
    phone = _e164(raw_phone)
    rows = list(db.session.scalars(select(SmsNumber).where(
        SmsNumber.phone == phone, SmsNumber.stopped_at.is_(None)))) if phone else []
    for row in rows:
        row.stopped_at = now or utcnow()
    db.session.flush()
    return [row.user_id for row in rows]


def start_number(raw_phone: str) -> list[int]:
    """"START" from a stopped number: texts on again (the number was confirmed before)."""
    phone = _e164(raw_phone)
    rows = list(db.session.scalars(select(SmsNumber).where(
        SmsNumber.phone == phone, SmsNumber.stopped_at.is_not(None)))) if phone else []
    for row in rows:
        row.stopped_at = None
    db.session.flush()
    return [row.user_id for row in rows]


# --------------------------------------------------------------------------- set-based rule
def texted(user_id_column, category: str, urgent: bool):
    """SQL condition: the resident ``user_id_column`` gets an alert of ``category`` by
    text: a confirmed number, not stopped, and urgent or a category they chose. The one
    rule for the audience preview and the fan-out."""
    active = exists().where(SmsNumber.user_id == user_id_column, SmsNumber.stopped_at.is_(None))
    if urgent:
        return active
    chose = exists().where(SmsCategory.user_id == user_id_column,
                           SmsCategory.category == category)
    return and_(active, chose)


# --------------------------------------------------------------------------- account data
def _phone_parts(user) -> dict:
    """For "Download my data": the number, its text categories and any codes sent (the
    codes themselves are never stored, only their keyed hash, which is not exported)."""
    return {"number": (select(SmsNumber.phone, SmsNumber.confirmed_at, SmsNumber.stopped_at)
                       .where(SmsNumber.user_id == user.id), ()),
            "codes": (select(PhoneCode.id, PhoneCode.phone, PhoneCode.created_at,
                             PhoneCode.expires_at, PhoneCode.attempts, PhoneCode.used_at)
                      .where(PhoneCode.user_id == user.id), ("id",)),
            "categories": (select(SmsCategory.category).where(SmsCategory.user_id == user.id),
                           ("category",))}


def _phone_section(user, rows) -> tuple[str, dict]:
    def iso(value):
        return value.isoformat() + "Z" if value else None

    number = rows["number"][0] if rows["number"] else {}
    return "text_messages", {
        "number": number.get("phone"),
        "confirmed_at": iso(number.get("confirmed_at")),
        "stopped_at": iso(number.get("stopped_at")),
        "categories": [row["category"] for row in rows["categories"]],
        "codes_sent": [{"number": c["phone"], "sent_at": iso(c["created_at"]),
                        "expires_at": iso(c["expires_at"]), "wrong_tries": c["attempts"],
                        "used_at": iso(c["used_at"])} for c in rows["codes"]],
    }


def forget_phone(user) -> None:
    """Deletion: the rows go (also by ON DELETE CASCADE; explicit so nothing waits)."""
    remove_number(user)


def identifying_numbers(user) -> list[str]:
    """Deletion: the resident's numbers as they may appear in free text others wrote."""
    phones = set(db.session.scalars(select(SmsNumber.phone).where(SmsNumber.user_id == user.id)))
    phones |= set(db.session.scalars(select(PhoneCode.phone).where(PhoneCode.user_id == user.id)))
    return sorted({form for p in phones for form in (p, display_number(p))})


register_account_data(export=Gathered(_phone_parts, _phone_section), identify=identifying_numbers, forget=forget_phone)
