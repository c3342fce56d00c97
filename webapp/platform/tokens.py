"""Signed tokens: one signer, a purpose (salt) per kind, each with its own max age.

Single-use tokens carry a random ``jti`` that is recorded in ``used_tokens`` when used;
the unique constraint makes a second use fail even if two requests race.
"""
from __future__ import annotations

import secrets
from datetime import datetime

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import String, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.platform.timeutil import utcnow


class TokenError(Exception):
    """A token is invalid, expired or already used. ``reason`` says which."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # "invalid" | "expired" | "used"


class UsedToken(db.Model):
    __tablename__ = "used_tokens"
    __table_args__ = (UniqueConstraint("purpose", "jti"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    jti: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime] = mapped_column(default=utcnow)


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"wardline.{purpose}")


def make_token(purpose: str, payload: dict, *, single_use: bool = False) -> str:
    """Sign ``payload`` for ``purpose``; single-use tokens get a fresh ``jti``."""
    data = dict(payload)
    if single_use:
        data["jti"] = secrets.token_urlsafe(16)
    return _serializer(purpose).dumps(data)


def read_token(purpose: str, token: str, max_age: int | None = None) -> dict:
    """Return the payload of a valid token, or raise :class:`TokenError`."""
    try:
        return _serializer(purpose).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise TokenError("expired") from exc
    except (BadSignature, UnicodeError, ValueError, TypeError) as exc:
        raise TokenError("invalid") from exc


def is_used(purpose: str, jti: str) -> bool:
    return db.session.query(UsedToken.id).filter_by(purpose=purpose, jti=jti).first() is not None


def consume(purpose: str, jti: str) -> None:
    """Record a single-use token as used in the caller's transaction.

    Raises :class:`TokenError` ("used") when it was used before. Uses a savepoint so the
    caller's transaction survives the failed insert.
    """
    try:
        with db.session.begin_nested():
            db.session.add(UsedToken(purpose=purpose, jti=jti))
    except IntegrityError as exc:
        raise TokenError("used") from exc
