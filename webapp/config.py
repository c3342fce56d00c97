"""Configuration read from the environment, with embedded defaults for development.

Nothing secret is committed: ``SECRET_KEY`` comes from the environment or is generated into
``instance/secret_key`` on first run (see :func:`load_or_create_secret`).
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def load_or_create_secret(instance_path: str, name: str = "secret_key") -> str:
    """Return the secret stored in ``instance/<name>``, creating it (mode 0600) on first run."""
    path = Path(instance_path) / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


class Config:
    """Settings from the environment. Tests subclass it (see ``tests/conftest.py``)."""

    SECRET_KEY = os.environ.get("SECRET_KEY")  # None: generated into instance/ by create_app
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL")  # None: SQLite under instance/
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    # SQLite only: seconds a transaction waits for the write lock before "database is locked".
    SQLITE_BUSY_TIMEOUT = float(os.environ.get("SQLITE_BUSY_TIMEOUT", "30"))
    BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/")

    SMTP_HOST = os.environ.get("SMTP_HOST")  # None: no SMTP, mail only written to instance/mail
    SMTP_PORT = int(os.environ.get("SMTP_PORT", "25"))
    SMTP_USER = os.environ.get("SMTP_USER")
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD")
    SMTP_USE_TLS = _bool("SMTP_USE_TLS")
    SMTP_TIMEOUT = float(os.environ.get("SMTP_TIMEOUT", "10"))
    MAIL_FROM = os.environ.get("MAIL_FROM", "Wardline <no-reply@wardline.local>")
    # Write every outgoing email to instance/mail/*.eml and log its links (development aid).
    MAIL_WRITE_FILES = _bool("MAIL_WRITE_FILES", default=True)

    # Web push (VAPID). Keys come from the environment or are generated into instance/.
    VAPID_PRIVATE_KEY = os.environ.get("VAPID_PRIVATE_KEY")
    VAPID_PUBLIC_KEY = os.environ.get("VAPID_PUBLIC_KEY")
    VAPID_SUBJECT = os.environ.get("VAPID_SUBJECT", "mailto:neighbourhoods@wardline.example")

    # The outbox workers. A claimed batch is leased for DELIVERY_LEASE_SECONDS, renewed while
    # it is being sent: a killed worker's rows are retried after at most one lease.
    DELIVERY_LEASE_SECONDS = float(os.environ.get("DELIVERY_LEASE_SECONDS", "60"))
    # A delivery that keeps failing is retried until it is this old, then "dead".
    DELIVERY_GIVE_UP_HOURS = float(os.environ.get("DELIVERY_GIVE_UP_HOURS", "24"))
    # Admin pages show "the outbox is stuck" when a due delivery has waited this long, or
    # when this many deliveries are waiting to be retried after a failure.
    OUTBOX_STUCK_MINUTES = float(os.environ.get("OUTBOX_STUCK_MINUTES", "10"))
    OUTBOX_STUCK_RETRYING = int(os.environ.get("OUTBOX_STUCK_RETRYING", "20"))

    # Compress text responses (Flask-Compress): the first load of a page must stay small.
    COMPRESS_ALGORITHM = ["br", "gzip"]
    COMPRESS_MIMETYPES = ["text/html", "text/css", "text/javascript", "application/javascript",
                          "application/json", "application/manifest+json", "image/svg+xml",
                          "text/calendar", "text/csv", "text/plain"]
    COMPRESS_MIN_SIZE = 500
    COMPRESS_BR_LEVEL = 6  # close to the best size at a few milliseconds per response

    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", default=True)

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = BASE_URL.startswith("https://")
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    REMEMBER_COOKIE_DURATION = 60 * 60 * 24 * 90  # residents stay signed in on their phone
    WTF_CSRF_TIME_LIMIT = None  # tied to the session; a long-open form must still submit

    SIGNIN_LINK_MAX_AGE = int(os.environ.get("SIGNIN_LINK_MAX_AGE", str(30 * 60)))
    TIMEZONE = "Europe/London"
    DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "wardline-demo")
