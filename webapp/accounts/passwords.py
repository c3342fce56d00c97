"""Password hashing for officers and admins (argon2id, via argon2-cffi).

Residents have no password: they sign in by emailed link. The cost is the library's
current recommendation (RFC 9106's low-memory profile: 3 passes over 64 MiB) unless
``PASSWORD_HASH_TIME_COST``/``PASSWORD_HASH_MEMORY_KIB`` say otherwise (the test suite's
config makes it cheap; a hash keeps its own parameters, so it verifies whatever they are now).
"""
from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app

MIN_LENGTH = 12
MAX_LENGTH = 256


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_kib: int) -> tuple[PasswordHasher, str]:
    """The hasher for these parameters, and a hash of a random password made with them,
    verified against when the account does not exist, so a wrong email costs as much time
    as a wrong password (no account enumeration by timing)."""
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
    return hasher, hasher.hash("wardline-no-such-account")


def _current() -> tuple[PasswordHasher, str]:
    config = current_app.config
    return _hasher(config["PASSWORD_HASH_TIME_COST"], config["PASSWORD_HASH_MEMORY_KIB"])


def hash_password(password: str) -> str:
    """Return an argon2id hash of ``password``."""
    return _current()[0].hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches ``password_hash``. A missing hash never matches (but
    still spends the same time)."""
    if not password or len(password) > MAX_LENGTH:
        return False
    hasher, dummy = _current()
    try:
        return hasher.verify(password_hash or dummy, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
