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


def load_or_create_secret(instance_path: str, name: str = "secret_key", factory=None) -> str:
    """Return the secret stored in ``instance/<name>``, creating it (mode 0600) on first run
    with ``factory()`` (default: 48 random bytes, url-safe)."""
    path = Path(instance_path) / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = factory() if factory is not None else secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process (a second worker) created it first
        return path.read_text().strip()
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
    # The delivery worker spreads a batch's emails over up to this many SMTP connections
    # side by side, each with at least SMTP_PER_CONNECTION messages (a small batch: one).
    SMTP_CONNECTIONS = int(os.environ.get("SMTP_CONNECTIONS", "4"))
    SMTP_PER_CONNECTION = int(os.environ.get("SMTP_PER_CONNECTION", "25"))
    MAIL_FROM = os.environ.get("MAIL_FROM", "Wardline <no-reply@wardline.local>")
    # Development aid: without SMTP_HOST, write every outgoing email to instance/mail/*.eml
    # (mode 0600) and log its links. Never done when SMTP_HOST is set (production).
    MAIL_WRITE_FILES = _bool("MAIL_WRITE_FILES", default=True)
    # DKIM (RFC 6376): with a selector and a key every email is signed; RFC 8058 one-click
    # unsubscribe needs it. The key is PEM text (DKIM_PRIVATE_KEY) or a file holding it.
    DKIM_SELECTOR = os.environ.get("DKIM_SELECTOR")
    DKIM_DOMAIN = os.environ.get("DKIM_DOMAIN")  # None: the domain of MAIL_FROM
    DKIM_PRIVATE_KEY = os.environ.get("DKIM_PRIVATE_KEY")
    DKIM_PRIVATE_KEY_PATH = os.environ.get("DKIM_PRIVATE_KEY_PATH")

    # Web push (VAPID). Keys come from the environment or are generated into instance/.
    VAPID_PRIVATE_KEY = os.environ.get("VAPID_PRIVATE_KEY")
    VAPID_SUBJECT = os.environ.get("VAPID_SUBJECT", "mailto:neighbourhoods@wardline.example")
    # Push endpoints are contacted only on these push services' domains (host suffixes,
    # comma-separated) and ports; see webapp/delivery/endpoints.py.
    PUSH_ENDPOINT_HOSTS = os.environ.get(
        "PUSH_ENDPOINT_HOSTS", "fcm.googleapis.com,android.googleapis.com,"
        "push.services.mozilla.com,push.apple.com,notify.windows.com")
    PUSH_ENDPOINT_PORTS = os.environ.get("PUSH_ENDPOINT_PORTS", "443")
    # Test suites and benchmarks only: also accept http(s)://127.0.0.1 / localhost endpoints.
    PUSH_ALLOW_LOOPBACK_FOR_TESTS = _bool("PUSH_ALLOW_LOOPBACK_FOR_TESTS", default=False)
    # Test suites only: the pages and the service worker tell the browser tests what happened
    # (window.wardlinePWA.messages; static/js/pwa-test-hooks.js). Never in production.
    PWA_TEST_HOOKS = _bool("PWA_TEST_HOOKS", default=False)
    PUSH_MAX_DEVICES = int(os.environ.get("PUSH_MAX_DEVICES", "10"))  # oldest replaced
    PUSH_TIMEOUT = float(os.environ.get("PUSH_TIMEOUT", "10"))  # seconds per request
    # Seconds a batch waits for its push requests; the rest are retried later.
    PUSH_BATCH_DEADLINE = float(os.environ.get("PUSH_BATCH_DEADLINE", "30"))
    # Push messages one worker loop keeps in flight (`flask deliver --concurrency` overrides).
    PUSH_CONCURRENCY = int(os.environ.get("PUSH_CONCURRENCY", "8"))
    # How a worker sends push: "asyncio" (one event loop, its own HTTP/1.1 client with
    # keep-alive connections per push service: webapp/delivery/push_async.py, push_http.py;
    # less CPU per push, bench/fanout.py (b)) or "threads" (urllib3 connection pools, a thread
    # per message in flight: webapp/delivery/push.py).
    PUSH_SENDER = os.environ.get("PUSH_SENDER", "asyncio")
    # Seconds a push service keeps a message for an offline device (the TTL header).
    PUSH_TTL = int(os.environ.get("PUSH_TTL", str(24 * 60 * 60)))

    # GOV.UK Notify (text messages; email too when NOTIFY_EMAIL_TEMPLATE_ID is set). The API
    # key is "<key name>-<service id>-<secret>"; without it texts are only logged (development).
    NOTIFY_API_KEY = os.environ.get("NOTIFY_API_KEY")
    NOTIFY_BASE_URL = os.environ.get("NOTIFY_BASE_URL", "https://api.notifications.service.gov.uk")
    NOTIFY_TIMEOUT = float(os.environ.get("NOTIFY_TIMEOUT", "10"))  # seconds per request
    # Template ids (UUIDs) made in Notify: an alert text ((title)) ((line)) ((link)), the
    # phone-confirmation text ((code)), and an email ((subject)) ((body)) (None: email by SMTP).
    NOTIFY_SMS_TEMPLATE_ID = os.environ.get("NOTIFY_SMS_TEMPLATE_ID")
    NOTIFY_CODE_TEMPLATE_ID = os.environ.get("NOTIFY_CODE_TEMPLATE_ID")
    NOTIFY_EMAIL_TEMPLATE_ID = os.environ.get("NOTIFY_EMAIL_TEMPLATE_ID")
    # Bearer tokens Notify sends to our callbacks (set the same in Notify's "Callbacks"
    # page): delivery receipts, and received text messages ("STOP"). None: callback off.
    NOTIFY_RECEIPT_TOKEN = os.environ.get("NOTIFY_RECEIPT_TOKEN")
    NOTIFY_INBOUND_TOKEN = os.environ.get("NOTIFY_INBOUND_TOKEN")
    # Confirming a mobile number: a six-digit code valid this many minutes, this many tries
    # per code, and at most this many codes sent per account (and per number) an hour.
    SMS_CODE_MINUTES = int(os.environ.get("SMS_CODE_MINUTES", "10"))
    SMS_CODE_ATTEMPTS = int(os.environ.get("SMS_CODE_ATTEMPTS", "5"))
    SMS_CODES_PER_HOUR = int(os.environ.get("SMS_CODES_PER_HOUR", "3"))

    # The outbox workers. A claimed batch is leased for DELIVERY_LEASE_SECONDS, renewed while
    # it is being sent: a killed worker's rows are retried after at most one lease.
    DELIVERY_LEASE_SECONDS = float(os.environ.get("DELIVERY_LEASE_SECONDS", "60"))
    # Rows a batch loop claims at once (`flask deliver --batch-size` overrides). Each batch
    # costs a few statements whatever its size; a killed worker sends its loops' batches
    # again (at least once), so this is also the most each loop can repeat.
    DELIVERY_BATCH_SIZE = int(os.environ.get("DELIVERY_BATCH_SIZE", "500"))
    # A broadcast to a registered audience (an alert) is written to the outbox in parts of
    # this many user ids, each its own short transaction (webapp/delivery/fanout.py).
    FANOUT_PART_SIZE = int(os.environ.get("FANOUT_PART_SIZE", "20000"))
    # ... and the first part, written in the Send request itself, of this many when there
    # are more parts (a London-wide alert: Send returns sooner, the workers start sooner).
    FANOUT_FIRST_PART_SIZE = int(os.environ.get("FANOUT_FIRST_PART_SIZE", "5000"))
    # Threads in each `flask deliver` process that write those parts (a connection each).
    # One a process: with two processes on two cores, a second writer each only made
    # PostgreSQL's backends contend (bench/fanout.py: 5.5-6.9 s against 4.5-5.2 s).
    FANOUT_WRITERS = int(os.environ.get("FANOUT_WRITERS", "1"))
    # From a writer's first part until no part waits, each batch loop of the process waits
    # up to this many seconds after a batch (0: no wait), leaving the cores to the writers
    # (the first batch goes at once; a London-wide alert at 1,000,000 takes ~5 s).
    FANOUT_SEND_PAUSE = float(os.environ.get("FANOUT_SEND_PAUSE", "10"))
    # A delivery that keeps failing is retried until it is this old, then "dead".
    DELIVERY_GIVE_UP_HOURS = float(os.environ.get("DELIVERY_GIVE_UP_HOURS", "24"))
    # Admin pages show "the outbox is stuck" when a due delivery has waited this long, or
    # when this many deliveries are waiting to be retried after a failure.
    OUTBOX_STUCK_MINUTES = float(os.environ.get("OUTBOX_STUCK_MINUTES", "10"))
    OUTBOX_STUCK_RETRYING = int(os.environ.get("OUTBOX_STUCK_RETRYING", "20"))
    # Retention (scheduler ticks, stated on /privacy): sign-ups never confirmed, finished
    # outbox rows (their counts are kept), audit events and push devices not seen go after
    # this many days; RETENTION_BATCH rows are deleted per transaction.
    RETENTION_UNCONFIRMED_DAYS = float(os.environ.get("RETENTION_UNCONFIRMED_DAYS", "7"))
    RETENTION_OUTBOX_DAYS = float(os.environ.get("RETENTION_OUTBOX_DAYS", "30"))
    RETENTION_AUDIT_DAYS = float(os.environ.get("RETENTION_AUDIT_DAYS", "730"))
    RETENTION_PUSH_UNSEEN_DAYS = float(os.environ.get("RETENTION_PUSH_UNSEEN_DAYS", "90"))
    RETENTION_BATCH = int(os.environ.get("RETENTION_BATCH", "5000"))
    # /readyz answers 503 when the oldest due delivery has waited longer than this.
    READY_MAX_OUTBOX_LAG_SECONDS = float(os.environ.get("READY_MAX_OUTBOX_LAG_SECONDS", "600"))
    # The daily digest email goes once the London time has passed this hour.
    DIGEST_HOUR = int(os.environ.get("DIGEST_HOUR", "7"))

    # Logs: "json" writes one JSON object per line (else text). /metrics (Prometheus) answers
    # clients whose address is in METRICS_ALLOW (comma-separated addresses or networks) or
    # that send "Authorization: Bearer <METRICS_TOKEN>"; nobody when both are empty.
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
    METRICS_ALLOW = os.environ.get("METRICS_ALLOW", "")
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

    # Compress text responses (Flask-Compress): the first load of a page must stay small.
    COMPRESS_ALGORITHM = ["br", "gzip"]
    COMPRESS_MIMETYPES = ["text/html", "text/css", "text/javascript", "application/javascript",
                          "application/json", "application/manifest+json", "image/svg+xml",
                          "text/calendar", "text/csv", "text/plain"]
    COMPRESS_MIN_SIZE = 500
    COMPRESS_BR_LEVEL = 6  # close to the best size at a few milliseconds per response

    # memory:// counts per process: with several workers (gunicorn -w N) or machines, use
    # shared storage, e.g. redis://127.0.0.1:6379/0 (the `redis` package is installed).
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_KEY_PREFIX = os.environ.get("RATELIMIT_KEY_PREFIX", "wardline")
    # How many reverse proxies stand in front of the app and set X-Forwarded-For and
    # X-Forwarded-Proto (werkzeug's ProxyFix). 0: the headers are ignored (anyone can send
    # them); rate limits then key on the socket address.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", default=True)

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = BASE_URL.startswith("https://")
    REMEMBER_COOKIE_NAME = "remember_token"  # Flask-Login's default (pagestore reads it)
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    REMEMBER_COOKIE_DURATION = 60 * 60 * 24 * 90  # residents stay signed in on their phone
    WTF_CSRF_TIME_LIMIT = None  # tied to the session; a long-open form must still submit
    WTF_CSRF_FIELD_NAME = "csrf_token"  # Flask-WTF's name, read by webapp/caching.py too

    # The largest request body accepted (bytes); bigger ones get a 413 page before parsing.
    # The biggest form (an alert or a meeting) is a few KB; push subscriptions under 1 KB.
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", str(256 * 1024)))
    MAX_FORM_MEMORY_SIZE = MAX_CONTENT_LENGTH

    # Key of the HMAC kept of blocked residents' addresses (survives account deletion).
    # None: generated into instance/blocklist_key. Keep it stable: a new key forgets blocks.
    BLOCKLIST_KEY = os.environ.get("BLOCKLIST_KEY")
    # How long an admin's explicit "view all conversations" step lasts.
    ADMIN_CONVERSATION_ACCESS_MINUTES = int(os.environ.get("ADMIN_CONVERSATION_ACCESS_MINUTES", "30"))

    # Ward priorities: how many a ward may have at once; public counts of people (priority
    # topics, responsiveness statistics, round results) are hidden below STATS_MIN_COUNT.
    PRIORITIES_MAX = int(os.environ.get("PRIORITIES_MAX", "3"))
    STATS_MIN_COUNT = int(os.environ.get("STATS_MIN_COUNT", "5"))

    SIGNIN_LINK_MAX_AGE = int(os.environ.get("SIGNIN_LINK_MAX_AGE", str(30 * 60)))
    # Sign-in links sent (blank or invalid addresses do not count): per address, per IP
    # address, and per IP address while people there completed a sign-in within
    # SIGNIN_BUSY_IP_SECONDS (a ward meeting signing up on one Wi-Fi).
    SIGNIN_LIMIT_PER_EMAIL = os.environ.get("SIGNIN_LIMIT_PER_EMAIL", "5/hour")
    SIGNIN_LIMIT_PER_IP = os.environ.get("SIGNIN_LIMIT_PER_IP", "20/hour")
    SIGNIN_LIMIT_PER_BUSY_IP = os.environ.get("SIGNIN_LIMIT_PER_BUSY_IP", "100/hour")
    SIGNIN_BUSY_IP_SECONDS = int(os.environ.get("SIGNIN_BUSY_IP_SECONDS", "3600"))

    # Postcode search: a postcodes.io-compatible API (self-hosted or public) asked when the
    # postcodes table (``flask postcodes load``) has no row. None: the table only.
    POSTCODES_API_URL = os.environ.get("POSTCODES_API_URL") or None
    POSTCODES_API_TIMEOUT = float(os.environ.get("POSTCODES_API_TIMEOUT", "3"))
    POSTCODES_API_CACHE_SECONDS = int(os.environ.get("POSTCODES_API_CACHE_SECONDS", str(24 * 60 * 60)))
    # How often an open conversation asks for new messages (seconds).
    THREADS_POLL_SECONDS = int(os.environ.get("THREADS_POLL_SECONDS", "10"))

    # Staff sign-in (officers and admins). Sessions end after this much idle time, and
    # after this long in all, whatever the activity (seconds).
    STAFF_IDLE_TIMEOUT = int(os.environ.get("STAFF_IDLE_TIMEOUT", str(30 * 60)))
    STAFF_SESSION_MAX_AGE = int(os.environ.get("STAFF_SESSION_MAX_AGE", str(12 * 60 * 60)))
    # Staff passwords are hashed with argon2id: passes and memory (KiB) per hash. The default
    # is argon2-cffi's recommendation (RFC 9106 low-memory profile); only the test suite
    # lowers it.
    PASSWORD_HASH_TIME_COST = int(os.environ.get("PASSWORD_HASH_TIME_COST", "3"))
    PASSWORD_HASH_MEMORY_KIB = int(os.environ.get("PASSWORD_HASH_MEMORY_KIB", "65536"))
    # A one-time password (new account, reset) must be used within this many seconds.
    ONE_TIME_PASSWORD_MAX_AGE = int(os.environ.get("ONE_TIME_PASSWORD_MAX_AGE", str(72 * 60 * 60)))
    # Failed sign-ins per account and source (device or IP address): this many are free,
    # then each further failure waits LOGIN_DELAY_BASE seconds, doubling, up to LOGIN_DELAY_MAX.
    LOGIN_FREE_ATTEMPTS = int(os.environ.get("LOGIN_FREE_ATTEMPTS", "5"))
    LOGIN_DELAY_BASE = int(os.environ.get("LOGIN_DELAY_BASE", "60"))
    LOGIN_DELAY_MAX = int(os.environ.get("LOGIN_DELAY_MAX", str(60 * 60)))
    # Email an officer when this many sign-in attempts on their account failed within an
    # hour (from any source); at most one email an hour.
    LOGIN_ALERT_AFTER = int(os.environ.get("LOGIN_ALERT_AFTER", "5"))
    # Fernet key(s) for TOTP secrets at rest, comma-separated (the first encrypts). None:
    # generated into instance/totp_key on first run.
    TOTP_ENCRYPTION_KEY = os.environ.get("TOTP_ENCRYPTION_KEY")
    DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "wardline-demo")
