"""Shared fixtures: one database per test process (SQLite, or PostgreSQL when
``TEST_DATABASE_URL`` is set), wards loaded once, real commits, a real SMTP server on
loopback, a test client that sends CSRF tokens like htmx does, and factories.

The suite runs in parallel (pytest-xdist: ``make test`` passes ``-n``; see ``PYTEST_WORKERS``
in the Makefile). Every worker is its own process with its own session fixtures: its own
database, app, SMTP server, live server and browser. A test runs on any worker, in any
order, next to any other test of the suite running at the same moment in another worker.
So a test (and a fixture) must:

* keep its state in its database, its ``tmp_path``, or the app's ``instance_path`` (a
  temporary folder per worker), never in a shared path of the repository (``instance/``);
* listen on a port the OS picked (``free_port()`` or bind to port 0), never a fixed one;
* prefix the keys it writes to a shared server (Redis on 127.0.0.1:6379) with a value unique
  to the test (``secrets.token_hex``), and delete them afterwards;
* name any database it creates with ``create_database`` (unique per process);
* restore what it changes in ``app.config``, ``os.environ`` or module state (``monkeypatch``),
  as the next test of the same worker shares the session app;
* not depend on another test having run before it (each test starts on a clean database),
  except through a fixture scoped to its module or class: a module that defines one (the
  cluster's, say) runs in one worker, all its tests together in file order
  (``pytest_xdist_make_scheduler`` below), so the expensive fixture is made once;
* wait for a condition (``wait_until``, ``mail.wait_for``), not a fixed sleep, where it can:
  the machine is busier when the workers run side by side, so a timing bound must leave
  room for a slow moment.

Plain ``pytest`` (no ``-n``) runs the same tests in one process, as before."""
from __future__ import annotations

import email
import email.policy
import os
import re
import secrets
import tempfile
import threading
import time
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import text

from webapp import create_app
from webapp.config import Config
from webapp.extensions import db, limiter

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
REFERENCE_TABLES = {"boroughs", "wards", "ward_neighbours"}


# --------------------------------------------------------------------------- xdist
SHARED_FIXTURE = re.compile(r"""@pytest\.fixture\([^)]*scope=["'](?:module|class|package)["']""")


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` (``make test``): tests go one at a time to whichever worker is
    free, except a module that defines a module-, class- or package-scoped fixture (the
    cluster's): its tests go to one worker together, in file order, so the fixture is made
    once. (xdist's own ``xdist_group`` markers do not reach its scheduler under pytest 9.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling
    root, shared = Path(config.rootpath), {}

    class ModuleFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            if module not in shared:
                path = root / module
                shared[module] = path.suffix == ".py" and path.is_file() \
                    and bool(SHARED_FIXTURE.search(path.read_text(encoding="utf-8")))
            return module if shared[module] else nodeid

    return ModuleFixtureScheduling(config, log)


# --------------------------------------------------------------------------- databases
def _pg_admin_url(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def create_database(label: str) -> str:
    """Create a fresh, empty database for this run and return its SQLAlchemy URL."""
    name = f"wardline_{label}_{os.getpid()}_{secrets.token_hex(3)}"
    if TEST_DATABASE_URL:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        admin = create_engine(_pg_admin_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return make_url(_pg_admin_url(TEST_DATABASE_URL)).set(database=name) \
            .render_as_string(hide_password=False)
    folder = Path(tempfile.mkdtemp(prefix="wardline-db-"))
    return f"sqlite:///{folder / (name + '.sqlite')}"


def drop_database(url: str) -> None:
    """Drop a database made by :func:`create_database`."""
    from sqlalchemy.engine import make_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        from sqlalchemy import create_engine
        admin = create_engine(_pg_admin_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        admin.dispose()
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(parsed.database + suffix).unlink(missing_ok=True)


def is_postgres() -> bool:
    return bool(TEST_DATABASE_URL)


# --------------------------------------------------------------------------- SMTP
def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SMTPSink:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""

    def __init__(self):
        from aiosmtpd.controller import Controller
        self.messages: list[email.message.EmailMessage] = []
        self.raw: list[bytes] = []  # the same, as received (for DKIM checks)
        self.refuse = False  # set True to answer 451 (a server that is down for a while)
        self.delay = 0.0  # seconds to wait before accepting each message (a slow server)
        self.connections = 0
        self._cond = threading.Condition()
        sink = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                if sink.refuse:
                    return "451 4.3.0 Try again later"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                if sink.delay:
                    import asyncio
                    await asyncio.sleep(sink.delay)
                msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
                with sink._cond:
                    sink.raw.append(envelope.original_content)
                    sink.messages.append(msg)
                    sink._cond.notify_all()
                return "250 Message accepted"

        class CountingController(Controller):
            def factory(self):
                sink.connections += 1
                return super().factory()

        self.port = free_port()
        self.controller = CountingController(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def clear(self):
        with self._cond:
            self.messages.clear()
            self.raw.clear()
        self.refuse = False
        self.delay = 0.0
        self.connections = 0

    def wait_for(self, n: int, timeout: float = 5.0):
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.messages) >= n, timeout), \
                f"SMTP server got {len(self.messages)} < {n} messages"
            return list(self.messages)


@pytest.fixture(scope="session")
def smtp_server():
    server = SMTPSink().start()
    yield server
    server.stop()


# --------------------------------------------------------------------------- app
class CSRFClient(FlaskClient):
    """A test client that sends a valid CSRF token on every state-changing request, the
    way the app's pages do (htmx puts it in the ``X-CSRFToken`` header). Pass
    ``csrf=False`` to send none."""

    def open(self, *args, **kwargs):
        send_token = kwargs.pop("csrf", True)
        method = (kwargs.get("method") or "GET").upper()
        if send_token and method not in ("GET", "HEAD", "OPTIONS"):
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", self.csrf_token())
            kwargs["headers"] = headers
        # The `app` fixture keeps one app context pushed, so requests share `g`; forget the
        # user Flask-Login cached there, so each request loads it from its own session (as
        # in production, where every request has a fresh app context).
        from flask import g, has_app_context
        if has_app_context():
            g.pop("_login_user", None)
            g.pop("csrf_token", None)  # Flask-WTF's: a page's token comes from its own session
        return super().open(*args, **kwargs)

    def csrf_token(self) -> str:
        """Return a token valid for this client's session, creating the session secret."""
        with self.session_transaction() as sess:
            raw = sess.get("csrf_token")
            if raw is None:
                raw = sess["csrf_token"] = secrets.token_hex(20)
        serializer = URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token")
        return serializer.dumps(raw)


@pytest.fixture(scope="session")
def database_url():
    url = create_database("test")
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def _app(database_url, smtp_server, tmp_path_factory):
    instance = tmp_path_factory.mktemp("instance")

    class TestConfig(Config):
        TESTING = True
        SECRET_KEY = "test-secret-" + secrets.token_hex(8)
        SQLALCHEMY_DATABASE_URI = database_url
        INSTANCE_PATH = str(instance)
        BASE_URL = "http://wardline.test"
        SERVER_NAME = None
        SMTP_HOST = "127.0.0.1"
        SMTP_PORT = smtp_server.port
        SMTP_USE_TLS = False
        SMTP_USER = None
        MAIL_WRITE_FILES = False
        RATELIMIT_STORAGE_URI = "memory://"
        PUSH_ALLOW_LOOPBACK_FOR_TESTS = True  # the loopback push service (push_service)
        PWA_TEST_HOOKS = True  # window.wardlinePWA.messages for the browser tests
        # Cheap staff password hashes (1 pass over 1 MiB, not 3 over 64 MiB): hundreds of
        # sign-ins. tests/accounts/test_password_cost.py checks the production cost.
        PASSWORD_HASH_TIME_COST = 1
        PASSWORD_HASH_MEMORY_KIB = 1024

    app = create_app(TestConfig)
    app.test_client_class = CSRFClient
    with app.app_context():
        db.create_all()
        # The schema made from the models is the migrations' head (tests/test_migrations.py
        # proves it), so it is stamped so: /readyz is ready, as after `flask db upgrade`.
        from flask_migrate import stamp
        stamp()
        from webapp.wards.services import load_wards
        load_wards()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _clean_tables(app) -> None:
    """Empty every table but the reference data (boroughs, wards, neighbours)."""
    with app.app_context():
        tables = [t for t in reversed(db.metadata.sorted_tables) if t.name not in REFERENCE_TABLES]
        if db.engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                db.session.execute(table.delete())
        db.session.commit()
        db.session.remove()


@pytest.fixture
def app(_app, smtp_server):
    """The app with an application context pushed, on a clean database (wards loaded)."""
    from webapp.platform import pagecache, pagestore
    from webapp.platform.db import read_only
    smtp_server.clear()
    limiter.reset()
    pagecache.clear()  # values cached under another test's data
    pagestore.clear()
    # The test's own thread begins its transactions DEFERRED (on SQLite; the app begins
    # every transaction IMMEDIATE): a test that polls the database while a worker thread or
    # process writes must not hold the write lock between its polls. Other threads and
    # processes (run_at_once, the real `flask deliver`, the web server) run as in production.
    with _app.app_context(), read_only():
        yield _app
        db.session.remove()
    _clean_tables(_app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def mail(smtp_server):
    """The loopback SMTP server's inbox (``mail.messages``, ``mail.wait_for(n)``)."""
    return smtp_server


HTMX = {"HX-Request": "true"}


@pytest.fixture
def htmx_headers():
    return dict(HTMX)


# --------------------------------------------------------------------------- factories
@pytest.fixture
def make_resident(app):
    """Create a confirmed resident who completed the survey: ``make_resident(ward="E05…")``."""
    from webapp.accounts.models import SURVEY_DONE, Concern, User, UserCategory, UserWard
    from webapp.platform.timeutil import utcnow
    from webapp.wards.services import get_ward

    counter = iter(range(1, 10**9))

    def factory(ward: str = "E05013806", *, email_address: str | None = None, name: str | None = None,
                extra_wards: tuple[str, ...] = (), categories=("prevention", "events", "appeals", "outcomes"),
                email_frequency: str = "immediate", concerns=(), completed: bool = True):
        n = next(counter)
        user = User(email=email_address or f"resident{n}.{secrets.token_hex(3)}@example.org",
                    display_name=name or f"Resident {n}", role="resident",
                    confirmed_at=utcnow(), email_frequency=email_frequency,
                    survey_completed_at=utcnow() if completed else None,
                    survey_step=SURVEY_DONE if completed else 1)
        db.session.add(user)
        home = get_ward(ward)
        user.wards.append(UserWard(ward=home, is_home=True, position=0))
        for pos, code in enumerate(extra_wards, start=1):
            user.wards.append(UserWard(ward=get_ward(code), is_home=False, position=pos))
        for cat in categories:
            user.categories.append(UserCategory(category=cat))
        db.session.flush()
        for topic in concerns:
            db.session.add(Concern(user_id=user.id, respondent_key=user.respondent_key,
                                   ward_id=home.id, topic=topic))
        db.session.commit()
        return user

    return factory


@pytest.fixture
def make_staff(app):
    """Create an officer or admin: ``make_staff("officer", wards=["E05…"], rank="PC")``.

    An officer with ``wards`` gets a team of their own covering those wards (pass
    ``team=`` to join an existing team instead).
    """
    from webapp.accounts.models import User
    from webapp.platform.timeutil import utcnow
    from webapp.wards.models import Team
    from webapp.wards.services import get_ward

    counter = iter(range(1, 10**9))

    def factory(role: str = "officer", *, wards=(), team=None, name: str | None = None,
                email_address: str | None = None, rank: str = "PC", shoulder_number=None):
        n = next(counter)
        user = User(email=email_address or f"{role}{n}.{secrets.token_hex(3)}@police.example",
                    display_name=name or f"{role.title()} {n}", role=role, confirmed_at=utcnow(),
                    rank=rank if role == "officer" else None, shoulder_number=shoulder_number)
        db.session.add(user)
        if team is None and wards:
            team = Team(name=f"Team {n} {secrets.token_hex(2)}",
                        wards=[get_ward(code) for code in wards])
            db.session.add(team)
        if team is not None:
            team.members.append(user)
        db.session.commit()
        return user

    return factory


@pytest.fixture
def login():
    """Sign ``user`` in on ``client`` directly (staff also pass the second factor)."""
    def do_login(client, user, *, mfa: bool = True):
        with client.session_transaction() as sess:
            sess["_user_id"] = user.get_id()
            sess["_fresh"] = True
            if user.role in ("officer", "admin") and mfa:
                sess["mfa_user_id"] = user.id
                # A staff session starts now (it expires when idle or too old).
                sess["staff_since"] = sess["staff_seen"] = int(time.time())
        return client
    return do_login


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.02):
    """Poll ``predicate`` until it is truthy or ``timeout`` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# --------------------------------------------------------------------------- web push
@pytest.fixture
def push_service():
    """A loopback Web Push service that decrypts payloads and verifies VAPID
    (``tests/support/push_service.py``): ``push_service.agent()`` makes a subscribed browser."""
    from tests.support.push_service import PushService
    with PushService() as service:
        yield service


def run_at_once(app, fn, n: int = 2, timeout: float = 30.0) -> list:
    """Call ``fn()`` in ``n`` threads released together, each in its own app context (so its
    own database session), the way several schedulers or workers run at once. Returns the
    results; re-raises the first error."""
    barrier = threading.Barrier(n)
    results, errors = [], []

    def run():
        try:
            with app.app_context():
                barrier.wait(timeout=timeout)
                results.append(fn())
                db.session.remove()
        except Exception as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if errors:
        raise errors[0]
    assert len(results) == n, "a thread did not finish"
    return results


# --------------------------------------------------------------------------- GOV.UK Notify
@pytest.fixture(scope="session")
def _fake_notify():
    from tests.support.fake_notify import FakeNotify
    with FakeNotify() as fake:
        yield fake


@pytest.fixture
def notify_api(app, _fake_notify):
    """The app pointed at a fake GOV.UK Notify API on loopback (``tests/support/fake_notify.py``),
    with its API key, template ids and callback tokens; restored afterwards."""
    fake = _fake_notify
    fake.reset()
    settings = {"NOTIFY_API_KEY": fake.api_key, "NOTIFY_BASE_URL": fake.base_url,
                "NOTIFY_SMS_TEMPLATE_ID": fake.sms_template,
                "NOTIFY_CODE_TEMPLATE_ID": fake.code_template,
                "NOTIFY_RECEIPT_TOKEN": "receipt-token-" + secrets.token_hex(8),
                "NOTIFY_INBOUND_TOKEN": "inbound-token-" + secrets.token_hex(8)}
    saved = {k: app.config.get(k) for k in (*settings, "NOTIFY_EMAIL_TEMPLATE_ID")}
    app.config.update(settings)
    yield fake
    app.config.update(saved)
