"""The cluster test (issue 15): Wardline as it is deployed from ``deploy/``, on this machine.

Two gunicorn instances (``deploy/gunicorn.conf.py``) behind Debian's nginx
(``deploy/nginx/wardline.conf``: TLS, static files, ``X-Forwarded-*``, retries), two
``flask deliver`` workers and two ``flask scheduler``s, on one PostgreSQL database
(migrated by ``flask db upgrade``) and one Redis (the one on 127.0.0.1:6379, else a
``redis-server`` of its own). Everything is checked through the
proxy, over HTTPS. Runs when PostgreSQL answers (``TEST_DATABASE_URL``, which
``.ci/run`` sets), and nginx and Redis are there (``make test`` installs both).
The tests run in file order on one cluster: the last ones kill a worker and a web instance.
"""
from __future__ import annotations

import itertools
import os
import re
import secrets
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pyotp
import pytest
import requests
import requests.adapters
from sqlalchemy import select

from tests.cluster import harness
from tests.conftest import create_database, drop_database, is_postgres

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not is_postgres(), reason="the cluster runs on PostgreSQL"),
    pytest.mark.skipif(not harness.answers(6379) and not harness.shutil.which("redis-server"),
                       reason="no Redis on 127.0.0.1:6379 and no redis-server to start"),
    pytest.mark.skipif(harness.nginx_binary() is None, reason="nginx is not installed"),
]
RESIDENTS = 5000
BULK = "@cluster.example"
PASSWORD = "cluster officer passphrase"


class Cluster:
    def __init__(self, folder: Path):
        self.folder = folder
        self.procs: dict[str, subprocess.Popen] = {}
        self.web_ports = [harness.free_port(), harness.free_port()]
        self.http_port, self.https_port = harness.free_port(), harness.free_port()
        self.base = f"https://127.0.0.1:{self.https_port}"

    def session(self) -> requests.Session:
        browser = requests.Session()
        browser.trust_env = False  # REQUESTS_CA_BUNDLE would override verify; no proxies
        browser.verify = str(self.folder / "nginx" / "fullchain.pem")
        browser.headers["Referer"] = self.base + "/"  # as a browser sends (CSRF over HTTPS)
        return browser

    def wait(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while not (value := predicate()):
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.2)
        return value


def seed(db, push_url: str) -> dict:
    """5,000 residents across London's wards, all taking email at once, a fifth with a
    push device; an admin; an officer (password + TOTP) whose team covers one ward."""
    from webapp.accounts.models import SURVEY_DONE, User, UserCategory, UserWard
    from webapp.accounts.passwords import hash_password
    from webapp.delivery.models import PushSubscription
    from webapp.platform.timeutil import utcnow
    from webapp.wards.models import Team, Ward
    from tests.support.push_service import FakeUserAgent
    keys = [FakeUserAgent("x").subscription["keys"] for _ in range(8)]
    wards = list(db.session.scalars(select(Ward.id).order_by(Ward.id)))
    now, conn = utcnow(), db.session.connection()
    users = [{"email": f"r{i}{BULK}", "display_name": f"Resident {i}", "role": "resident",
              "confirmed_at": now, "created_at": now, "session_version": 1,
              "push_enabled": False, "survey_step": SURVEY_DONE, "survey_completed_at": now,
              "respondent_key": secrets.token_hex(12), "email_frequency": "immediate"}
             for i in range(RESIDENTS)]
    ids = [row[0] for row in conn.execute(User.__table__.insert().returning(User.__table__.c.id),
                                          users)]
    conn.execute(UserWard.__table__.insert(), [
        {"user_id": uid, "ward_id": wards[n % len(wards)], "is_home": True, "position": 0}
        for n, uid in enumerate(ids)])
    conn.execute(UserCategory.__table__.insert(), [
        {"user_id": uid, "category": c} for uid in ids for c in ("prevention", "appeals")])
    conn.execute(PushSubscription.__table__.insert(), [
        {"user_id": uid, "endpoint": f"{push_url}/push/{uid}", "user_agent": "cluster",
         "created_at": now, **keys[n % 8]} for n, uid in enumerate(ids) if n % 5 == 0])
    admin = User(email="admin@police.example", display_name="Admin", role="admin",
                 confirmed_at=now)
    officer = User(email="officer@police.example", display_name="PC Cluster", role="officer",
                   rank="PC", confirmed_at=now, password_hash=hash_password(PASSWORD),
                   totp_secret=pyotp.random_base32(), totp_confirmed_at=now)
    ward = db.session.get(Ward, wards[0])
    team = Team(name="Cluster SNT", wards=[ward], members=[officer])
    db.session.add_all([admin, officer, team])
    db.session.commit()
    return {"admin_id": admin.id, "officer_totp": officer.totp_secret, "ward": ward,
            "ward_id": ward.id, "ward_residents": sum(1 for n in range(RESIDENTS)
                                                      if n % len(wards) == 0)}


def alert(db, admin_id: int, title: str, ward_ids, channels, send_at=None):
    from webapp.accounts.models import User
    from webapp.alerts.services import AlertInput, Target, create_alert
    now = send_at - timedelta(minutes=1) if send_at else None
    created = create_alert(db.session.get(User, admin_id), AlertInput(
        title=title, body="Keep your phone out of sight near the station.", category="prevention",
        channels=channels, target=Target(list(ward_ids), "wards", "cluster"), send_at=send_at),
        now=now)
    db.session.commit()
    return created.id


def deliveries(db, title: str) -> dict:
    """State counts and recipients (emails, push paths) of the alert called ``title``."""
    from webapp.accounts.models import User
    from webapp.delivery.models import Delivery, Notification, PushSubscription
    db.session.rollback()
    rows = db.session.execute(
        select(Delivery.state, Delivery.channel, User.email, PushSubscription.endpoint)
        .join(Notification, Notification.id == Delivery.notification_id)
        .join(User, User.id == Delivery.user_id)
        .outerjoin(PushSubscription, PushSubscription.id == Delivery.device_id)
        .where(Notification.title == title)).all()
    return {"states": {s for s, *_ in rows}, "rows": len(rows),
            "emails": sorted(e for _, c, e, _ in rows if c == "email"),
            "pushes": sorted(urlsplit(p).path for _, c, _, p in rows if c == "push")}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from webapp import create_app
    from webapp.extensions import db
    folder = tmp_path_factory.mktemp("cluster")
    c = Cluster(folder)
    url = create_database("cluster")
    c.mail, c.push = harness.MailSink(BULK), harness.PushSink()
    redis_url, redis = harness.redis_server(folder)
    if redis is not None:
        c.procs["redis"] = redis
    env = {**os.environ, "FLASK_APP": "wsgi:app", "DATABASE_URL": url,
           "WARDLINE_INSTANCE_PATH": str(folder / "instance"),
           "SECRET_KEY": secrets.token_urlsafe(32), "BASE_URL": c.base,
           "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(c.mail.port), "MAIL_WRITE_FILES": "0",
           "RATELIMIT_STORAGE_URI": redis_url,
           "RATELIMIT_KEY_PREFIX": f"wardline-cluster-{secrets.token_hex(4)}",
           "TRUSTED_PROXIES": "1", "PUSH_ALLOW_LOOPBACK_FOR_TESTS": "1",
           "DELIVERY_LEASE_SECONDS": "4", "SIGNIN_LIMIT_PER_EMAIL": "3/hour",
           "SIGNIN_LIMIT_PER_IP": "8/hour", "SIGNIN_LIMIT_PER_BUSY_IP": "8/hour"}
    try:
        migrate = subprocess.run([str(harness.BIN / "flask"), "db", "upgrade"], cwd=harness.ROOT,
                                 env=env, capture_output=True, text=True, timeout=120)
        assert migrate.returncode == 0, migrate.stderr
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": env[
            "WARDLINE_INSTANCE_PATH"], "SECRET_KEY": env["SECRET_KEY"], "BASE_URL": c.base,
            "PUSH_ALLOW_LOOPBACK_FOR_TESTS": True})
        with app.app_context():
            from webapp.delivery.subscriptions import vapid_public_key
            from webapp.platform.timeutil import utcnow
            from webapp.wards.services import load_wards
            load_wards()
            c.seeded = seed(db, c.push.url)
            vapid_public_key()  # the key file, before the workers race to create it
            # Due already: both schedulers' first ticks (at their start) find it.
            alert(db, c.seeded["admin_id"], "Scheduled for one ward", [c.seeded["ward_id"]],
                  ["email"], send_at=utcnow() - timedelta(seconds=30))
            for n, port in enumerate(c.web_ports):
                c.procs[f"web{n}"] = harness.gunicorn(port, env, folder / f"web{n}.log")
            for n in range(2):
                c.procs[f"worker{n}"] = harness.flask(
                    ["deliver", "--batch-size", "100", "--idle-sleep", "0.2"], env,
                    folder / f"worker{n}.log")
                c.procs[f"scheduler{n}"] = harness.flask(["scheduler"], env,
                                                         folder / f"scheduler{n}.log")
            (folder / "nginx").mkdir()
            c.procs["nginx"] = harness.start_nginx(c.web_ports, c.http_port, c.https_port,
                                                   folder / "nginx")
            for n, port in enumerate(c.web_ports):
                harness.wait_http(f"http://127.0.0.1:{port}/healthz", c.procs[f"web{n}"],
                                  folder / f"web{n}.log")
            c.app, c.db = app, db
            yield c
            db.session.remove()
            db.engine.dispose()
    finally:
        harness.stop(list(c.procs.values()))
        c.mail.stop()
        c.push.stop()
        drop_database(url)


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_tls_static_files_and_readiness_through_nginx(cluster):
    browser = cluster.session()
    # Plain HTTP goes to HTTPS.
    plain = browser.get(f"http://127.0.0.1:{cluster.http_port}/privacy", allow_redirects=False,
                        timeout=10)
    assert plain.status_code == 301
    assert plain.headers["Location"] == "https://127.0.0.1/privacy"
    ready = browser.get(cluster.base + "/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["migrations"] == "ok", "flask db upgrade brought the schema to head"
    # Versioned static files come from nginx itself, immutable; others are revalidated.
    page = browser.get(cluster.base + "/", timeout=10).text
    css = re.search(r'href="(/static/[^"]+\.css\?v=[0-9a-f]{10})"', page).group(1)
    static = browser.get(cluster.base + css, timeout=10)
    assert static.status_code == 200 and "text/css" in static.headers["Content-Type"]
    assert static.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert static.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert browser.get(cluster.base + "/privacy", timeout=10).headers[
        "Strict-Transport-Security"] == "max-age=31536000", "the app's, once"
    plain_css = browser.get(cluster.base + css.split("?")[0], timeout=10)
    assert plain_css.headers["Cache-Control"] == "no-cache" and plain_css.headers["ETag"]
    time.sleep(0.5)
    logs = "".join((cluster.folder / f"web{n}.log").read_text() for n in range(2))
    assert "/static/" not in logs, "static files never reach gunicorn"
    assert "GET /readyz" in logs


def test_a_scheduled_alert_is_sent_once_although_two_schedulers_run(cluster):
    title = "Scheduled for one ward"
    sent = cluster.wait(lambda: (d := deliveries(cluster.db, title))["rows"]
                        and d["states"] == {"sent"} and d, 60, "the scheduled alert")
    expected = cluster.seeded["ward_residents"]
    assert sent["rows"] == len(sent["emails"]) == expected
    received = cluster.wait(lambda: (n := cluster.mail.count(title)) and
                            sum(n.values()) >= expected and n, 10, "its emails")
    assert sorted(received) == sent["emails"] and set(received.values()) == {1}
    assert all(cluster.procs[f"scheduler{n}"].poll() is None for n in range(2))


def test_a_london_wide_alert_reaches_5000_residents_exactly_once(cluster):
    from webapp.wards.models import Ward
    title = "London-wide: exactly once"
    with cluster.app.app_context():
        wards = list(cluster.db.session.scalars(select(Ward.id)))
        alert(cluster.db, cluster.seeded["admin_id"], title, wards, ["email", "push"])
        done = cluster.wait(lambda: (d := deliveries(cluster.db, title))["states"] == {"sent"}
                            and d, 120, "the London-wide alert")
    assert len(done["emails"]) == RESIDENTS and len(done["pushes"]) == RESIDENTS // 5
    emails = cluster.wait(lambda: (n := cluster.mail.count(title)) and
                          sum(n.values()) >= RESIDENTS and n, 10, "every email")
    time.sleep(0.5)
    assert sorted(cluster.mail.count(title)) == done["emails"]
    assert set(cluster.mail.count(title).values()) == {1}, "nobody got it twice"
    assert sum(emails.values()) == RESIDENTS
    pushes = {path: n for path, n in cluster.push.paths.items() if path in set(done["pushes"])}
    assert sorted(pushes) == done["pushes"] and set(pushes.values()) == {1}
    assert all(cluster.procs[f"worker{n}"].poll() is None for n in range(2))


def link_in(cluster, address: str, timeout: float = 20) -> str:
    """The newest sign-in link mailed to ``address``, as a path."""
    def find():
        with cluster.mail.lock:
            for msg in reversed(cluster.mail.full):
                if msg["To"] and address in msg["To"]:
                    for part in msg.walk():
                        if part.get_content_type() == "text/plain":
                            text = part.get_payload(decode=True).decode()
                            if m := re.search(r"(/signin/[A-Za-z0-9._-]+)", text):
                                return m.group(1)
        return None
    return cluster.wait(find, timeout, f"a sign-in link for {address}")


def test_sign_up_a_conversation_and_a_reply_and_the_session_works_on_both_instances(cluster):
    from webapp.accounts.models import SURVEY_DONE, User, UserCategory, UserWard
    from webapp.platform.timeutil import utcnow
    base, resident = cluster.base, cluster.session()
    address = f"newcomer.{secrets.token_hex(3)}@example.org"
    form = resident.get(base + "/signup", timeout=10).text
    sent = resident.post(base + "/signup", timeout=10, data={
        "csrf_token": csrf(form), "email": address, "display_name": "Ada Newcomer"})
    assert sent.status_code == 200 and address in sent.text, sent.status_code
    link = link_in(cluster, address)
    continue_page = resident.get(base + link + "?utm=mail", timeout=10)
    signed_in = resident.post(continue_page.url, data={"csrf_token": csrf(continue_page.text)},
                              timeout=10)
    assert signed_in.status_code == 200 and "/survey" in signed_in.url
    # Neither nginx's log nor gunicorn's holds the token (or the query string).
    time.sleep(0.3)
    token = link.rsplit("/", 1)[1]
    nginx_log = (cluster.folder / "nginx" / "access.log").read_text()
    assert nginx_log.count('"GET /signin/[redacted]" 200') == 1
    assert nginx_log.count('"POST /signin/[redacted]" 303') == 1
    for log in (nginx_log, *((cluster.folder / f"web{n}.log").read_text() for n in range(2))):
        assert token not in log and "utm=mail" not in log
    # The survey is another test's business: give the newcomer a ward as it would.
    with cluster.app.app_context():
        db = cluster.db
        user = db.session.scalar(select(User).where(User.email == address))
        user.wards.append(UserWard(ward_id=cluster.seeded["ward_id"], is_home=True, position=0))
        user.categories.append(UserCategory(category="prevention"))
        user.survey_step, user.survey_completed_at = SURVEY_DONE, utcnow()
        db.session.commit()
    # The session cookie made through the proxy works on each instance directly.
    for port in cluster.web_ports:
        direct = requests.get(f"http://127.0.0.1:{port}/settings", timeout=10,
                              cookies=resident.cookies.get_dict(),
                              headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.1"})
        assert direct.status_code == 200 and address in direct.text, port
    page = resident.get(base + "/messages", timeout=10).text
    started = resident.post(base + "/messages", timeout=10, data={
        "csrf_token": csrf(page), "ward": str(cluster.seeded["ward_id"]),
        "subject": "Bikes on the pavement", "body": "Riders use the pavement on the High Street.",
        "idempotency_key": secrets.token_hex(8)})
    assert started.status_code == 200 and "Bikes on the pavement" in started.text
    conversation = re.search(r"/messages/(\d+)", started.url).group(1)

    officer = cluster.session()
    login = officer.get(base + "/officer/login", timeout=10).text
    step = officer.post(base + "/officer/login", timeout=10, data={
        "csrf_token": csrf(login), "email": "officer@police.example", "password": PASSWORD})
    assert step.url.endswith("/officer/login/verify"), step.url
    code = pyotp.TOTP(cluster.seeded["officer_totp"]).now()
    inbox = officer.post(step.url, timeout=10, data={"csrf_token": csrf(step.text), "code": code})
    assert inbox.status_code == 200 and "/officer/login" not in inbox.url
    thread = officer.get(f"{base}/officer/messages/{conversation}", timeout=10)
    assert "Riders use the pavement" in thread.text
    reply = officer.post(f"{base}/officer/messages/{conversation}", timeout=10, data={
        "csrf_token": csrf(thread.text), "body": "We will patrol the High Street on Friday.",
        "idempotency_key": secrets.token_hex(8)})
    assert reply.status_code == 200
    # The resident reads it (on whichever instance), and the worker emails them.
    seen = resident.get(f"{base}/messages/{conversation}", timeout=10).text
    assert "We will patrol the High Street on Friday." in seen

    def emailed():
        with cluster.mail.lock:
            return [m for m in cluster.mail.full if address in (m["To"] or "")
                    and "/signin/" not in m.as_string()]
    assert cluster.wait(emailed, 30, "the reply email")


def test_the_sign_in_limit_is_shared_by_both_instances(cluster):
    base, browser = cluster.base, cluster.session()
    token = csrf(browser.get(base + "/login", timeout=10).text)
    answers = [browser.post(base + "/login", timeout=10, allow_redirects=False, data={
        "csrf_token": token, "email": f"r1{BULK}"}).status_code
        for _ in range(5)]  # SIGNIN_LIMIT_PER_EMAIL is 3/hour in this cluster
    assert answers[:3] != [429] * 3 and 429 not in answers[:3], answers
    assert answers[3:] == [429, 429], answers
    time.sleep(0.5)
    posts = [(cluster.folder / f"web{n}.log").read_text().count('"POST /login"')
             for n in range(2)]
    assert min(posts) >= 1 and sum(posts) >= 5, f"nginx spread the posts: {posts}"


class FromAddress(requests.adapters.HTTPAdapter):
    """Connect from another loopback address (127.0.0.3 …): a client nginx tells apart."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def test_the_app_sees_each_clients_address_and_no_forged_one(cluster):
    """nginx appends the address a client connects from to X-Forwarded-For; the app
    (TRUSTED_PROXIES=1) keys the sign-in limit (8 links an hour here) on it: not on nginx's
    own address (then every client would share one limit), and not on what a client wrote
    in the header (then a client could invent addresses without end)."""
    def client(address):
        browser = cluster.session()
        browser.mount("https://", FromAddress(address))
        return browser, csrf(browser.get(cluster.base + "/login", timeout=10).text)

    forger, token = client("127.0.0.3")
    answers = [forger.post(cluster.base + "/login", timeout=10, allow_redirects=False,
                           headers={"X-Forwarded-For": f"203.0.113.{n + 1}"},
                           data={"csrf_token": token, "email": f"forger{n}@example.org"}
                           ).status_code for n in range(9)]
    assert answers == [303] * 8 + [429], answers
    neighbour, token = client("127.0.0.4")
    assert neighbour.post(cluster.base + "/login", timeout=10, allow_redirects=False, data={
        "csrf_token": token, "email": "neighbour@example.org"}).status_code == 303
    time.sleep(0.3)
    logs = "".join((cluster.folder / f"web{n}.log").read_text() for n in range(2))
    forged = [line for line in logs.splitlines() if "203.0.113.1," in line]
    assert len(forged) == 1 and forged[0].startswith("127.0.0.3 [") and \
        forged[0].endswith('"203.0.113.1, 127.0.0.3"'), "gunicorn logs the client, then the chain"


def test_nginx_keeps_visitors_pages_and_never_a_signed_in_one(cluster):
    """deploy/nginx/wardline.conf's shared cache, in front of both instances: a visitor's
    ward home (and its htmx variant, apart) is kept and revalidated with a 304 once its
    10 s are up; a change shows after those 10 s; a signed-in person's page, and a page
    that sets a cookie, is never stored, and a signed-in request is never answered from it."""
    from webapp.accounts.models import User
    from webapp.posts import create_ward_post
    from webapp.wards.models import Ward
    with cluster.app.app_context():
        code = cluster.db.session.get(Ward, cluster.seeded["ward_id"]).code
        resident = cluster.db.session.scalar(select(User).where(User.email == f"r0{BULK}"))
        data = {"_user_id": resident.get_id(), "_fresh": True}
        cookie = cluster.app.session_interface.get_signing_serializer(cluster.app).dumps(data)
    url = f"{cluster.base}/wards/{code}"

    def get(path=url, signed_in=False, **headers):
        browser = cluster.session()
        if signed_in:
            browser.cookies.set("session", cookie, domain="127.0.0.1")
        return browser.get(path, headers=headers, timeout=10)

    first, again = get(), get()
    assert first.headers["X-Cache-Status"] in ("MISS", "EXPIRED") and "Set-Cookie" not in first.headers
    assert again.headers["X-Cache-Status"] == "HIT" and again.text == first.text
    assert "public" in again.headers["Cache-Control"] and "/logout" not in again.text
    fragment = get(**{"HX-Request": "true"})
    assert fragment.headers["X-Cache-Status"] == "MISS"
    assert get(**{"HX-Request": "true"}).headers["X-Cache-Status"] == "HIT"
    # Signed in: past the cache both ways, and private.
    mine = get(signed_in=True)
    assert mine.headers["X-Cache-Status"] == "BYPASS" and "/logout" in mine.text
    assert "private" in mine.headers["Cache-Control"]
    assert "/logout" not in get().text
    fresh = f"{url}?from=signed-in"
    assert "/logout" in get(fresh, signed_in=True).text
    visitor = get(fresh)
    assert visitor.headers["X-Cache-Status"] == "MISS" and "/logout" not in visitor.text
    # A page that sets a cookie (its form's CSRF session) is never kept.
    for _ in range(2):
        signup = get(f"{cluster.base}/signup")
        assert "Set-Cookie" in signup.headers and signup.headers["X-Cache-Status"] == "MISS"
    # After 10 s nginx asks the app again: unchanged, a 304 (from the stored response).
    time.sleep(12)  # nginx counts whole seconds
    assert get().headers["X-Cache-Status"] == "REVALIDATED"
    with cluster.app.app_context():
        create_ward_post(cluster.db.session.get(Ward, cluster.seeded["ward_id"]),
                         cluster.db.session.get(User, cluster.seeded["admin_id"]),
                         "Shared cache test post", "Shown once nginx asks again.")
        cluster.db.session.commit()
    assert "Shared cache test post" not in get().text  # nginx keeps it its 10 s
    time.sleep(12)  # nginx counts whole seconds
    changed = get()
    assert changed.headers["X-Cache-Status"] == "EXPIRED" and "Shared cache test post" in changed.text


def test_killing_a_worker_mid_send_loses_no_delivery(cluster):
    from webapp.wards.models import Ward
    title = "A third of London: a worker dies"
    with cluster.app.app_context():
        wards = list(cluster.db.session.scalars(select(Ward.id).order_by(Ward.id)))
        alert(cluster.db, cluster.seeded["admin_id"], title, wards[: len(wards) // 3], ["email"])
        expected = deliveries(cluster.db, title)["rows"]
        assert expected > 1500
        cluster.wait(lambda: sum(cluster.mail.count(title).values()) >= 300, 60, "sending to start")
        harness.kill(cluster.procs["worker0"])
        done = cluster.wait(lambda: (d := deliveries(cluster.db, title))["states"] == {"sent"}
                            and d, 120, "the other worker to finish")
    received = cluster.wait(lambda: (n := cluster.mail.count(title)) and
                            len(n) >= expected and n, 10, "every email")
    assert len(done["emails"]) == expected
    assert sorted(received) == done["emails"], "every resident got the alert"
    repeated = sum(received.values()) - expected
    # At least once: the killed worker may have sent some of its claimed rows before dying
    # without recording them; never more than its batches in flight (2 loops x 100).
    assert 0 <= repeated <= 200, repeated


def test_killing_a_web_instance_loses_no_request_nginx_can_retry(cluster):
    browser, results, stop = cluster.session(), [], threading.Event()
    asked = itertools.count()

    def load():
        while not stop.is_set():
            try:  # a new URL each time: nginx's cache would answer a repeated one itself
                results.append(browser.get(cluster.base + f"/privacy?n={next(asked)}",
                                           timeout=10).status_code)
            except requests.exceptions.ChunkedEncodingError:
                # The dying instance had begun its answer: nginx has sent the headers and
                # cannot ask another instance (no proxy can); a browser shows an error.
                results.append("cut short")
            except requests.RequestException as exc:
                results.append(repr(exc))

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    before = len(results)
    harness.kill(cluster.procs["web0"])
    time.sleep(2.5)
    stop.set()
    for thread in threads:
        thread.join(15)
    assert before >= 5 and len(results) - before >= 5, (before, len(results))
    # Every request nginx could retry (connection refused or reset before an answer: the
    # killed instance's queue, and every later one) got its 200 from the other instance;
    # at most the answers in flight at the kill, one per client thread, were cut short.
    assert set(results) <= {200, "cut short"}, [r for r in results if r != 200][:5]
    assert results.count("cut short") <= len(threads), results.count("cut short")
    assert results[-5:] == [200] * 5
