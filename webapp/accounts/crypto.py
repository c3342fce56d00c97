"""Encryption of secrets kept in the database (officers' TOTP secrets), with Fernet
(``cryptography``): AES-128-CBC and HMAC-SHA256, authenticated, with a timestamp.

The key comes from ``TOTP_ENCRYPTION_KEY`` (one or more Fernet keys separated by commas:
the first encrypts, all decrypt, so a key can be rotated) or, when that is unset, from
``instance/totp_key``, generated on first run like the secret key. A copy of the database
alone no longer gives anyone the officers' second factors.
"""
from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import String
from sqlalchemy.types import TypeDecorator


class SecretError(ValueError):
    """A stored secret could not be decrypted (wrong key, or not encrypted)."""


def new_key() -> str:
    """A fresh Fernet key (url-safe base64 of 32 random bytes)."""
    return Fernet.generate_key().decode()


def fernet_for(keys: str) -> MultiFernet:
    """A :class:`MultiFernet` from comma-separated keys (the first one encrypts).

    Raises ``ValueError`` when no key is given or one is malformed."""
    parts = [k.strip() for k in (keys or "").split(",") if k.strip()]
    if not parts:
        raise ValueError("TOTP_ENCRYPTION_KEY is empty")
    return MultiFernet([Fernet(k.encode()) for k in parts])


def _fernet() -> MultiFernet:
    return fernet_for(current_app.config["TOTP_ENCRYPTION_KEY"])


def encrypt(value: str, keys: str | None = None) -> str:
    fernet = fernet_for(keys) if keys is not None else _fernet()
    return fernet.encrypt(value.encode()).decode()


def decrypt(token: str, keys: str | None = None) -> str:
    """Decrypt ``token``. Raises :class:`SecretError` when it does not decrypt."""
    fernet = fernet_for(keys) if keys is not None else _fernet()
    try:
        return fernet.decrypt(token.encode()).decode()
    except (InvalidToken, ValueError) as exc:
        raise SecretError("stored secret does not decrypt with TOTP_ENCRYPTION_KEY") from exc


def is_encrypted(value: str | None) -> bool:
    """True for a Fernet token (version byte 0x80: base64 ``gAAAAA``); a base32 TOTP
    secret (A-Z, 2-7) never looks like one."""
    return bool(value) and value.startswith("gAAAAA")


class EncryptedString(TypeDecorator):
    """A string column stored encrypted: Python sees the clear value, the database only the
    Fernet token. Needs an app context (for the key) when reading or writing."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return encrypt(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return decrypt(value)
