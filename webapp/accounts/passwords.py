"""Password hashing for officers and admins (argon2id, via argon2-cffi).

Residents have no password: they sign in by emailed link.
"""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

# A hash of a random password, verified against when the account does not exist, so a
# wrong email costs as much time as a wrong password (no account enumeration by timing).
_DUMMY_HASH = _hasher.hash("wardline-no-such-account")

MIN_LENGTH = 12
MAX_LENGTH = 256


def hash_password(password: str) -> str:
    """Return an argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches ``password_hash``. A missing hash never matches (but
    still spends the same time)."""
    if not password or len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
