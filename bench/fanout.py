"""Benchmark: alert fan-out, push and email delivery throughput (a script, not a test).

    .venv/bin/python bench/fanout.py [--residents 100000] [--database-url postgresql://…]

Creates its own PostgreSQL database (dropped at the end), loads London's wards and
``--residents`` residents spread across them (home ward, sometimes an extra ward,
categories, email frequency, push devices for about a quarter), then measures:

(a) the fan-out of a London-wide alert into the outbox (one transaction: the alert's
    state change plus INSERT ... SELECT of every delivery row); target ≤ 3 s;
(b) push deliveries per second to a loopback push sink, sent by the real workers
    (two ``flask deliver`` processes: both cores), beside, in the same run, a plain loop
    of ``pywebpush.webpush()`` calls (as most apps send: no session; and with a
    ``requests.Session``) and the encryption-only ceiling (``WebPusher.encode`` alone);
    target ≥ 2.5 × the plain loop;
(c) emails per second to a loopback SMTP sink (aiosmtpd) sent by the real workers,
    beside raw ``smtplib`` sending the same (pre-built) messages over one connection;
    target ≥ 70 %;
(d) text messages per second to the fake GOV.UK Notify API (``tests/support/fake_notify.py``,
    which verifies every request's JWT and payload) sent by the real workers through
    ``notifications-python-client``, beside a plain loop of the client's
    ``send_sms_notification()`` (``--texts`` residents get a confirmed mobile).

The sinks run in their own processes. Everything shares the machine's cores, so figures
vary by ±10–20 % from run to run.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import secrets
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_ADMIN_URL = os.environ.get("BENCH_DATABASE_URL") or os.environ.get(
    "TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"


# --------------------------------------------------------------------------- sinks
def _push_sink(port_queue):
    """A minimal keep-alive HTTP/1.1 server answering every request 201 (asyncio)."""
    import socket

    class Sink(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport, self.buf = transport, b""

        def data_received(self, data):
            self.buf += data
            while True:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buf[:end].lower()
                length = 0
                i = head.find(b"content-length:")
                if i >= 0:
                    j = head.find(b"\r\n", i)
                    length = int(head[i + 15:j if j >= 0 else len(head)])
                if len(self.buf) < end + 4 + length:
                    return
                self.buf = self.buf[end + 4 + length:]
                self.transport.write(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")

    async def main():
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        server = await asyncio.get_running_loop().create_server(Sink, sock=sock, backlog=512)
        port_queue.put(sock.getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def _smtp_sink(port_queue, counter):
    """aiosmtpd on loopback that accepts and counts messages."""
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            with counter.get_lock():
                counter.value += 1
            return "250 OK"

    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    port_queue.put(port)
    signal.sigwait({signal.SIGTERM})
    controller.stop()


def _notify_sink(port_queue):
    """The tests' fake GOV.UK Notify API (checks every request), in a process of its own."""
    from tests.support.fake_notify import FakeNotify
    fake = FakeNotify().start()
    port_queue.put((fake.base_url, fake.api_key, fake.sms_template))
    signal.sigwait({signal.SIGTERM})
    fake.stop()


def add_mobiles(db, count: int, rng: random.Random) -> int:
    """Give ``count`` random residents a confirmed UK mobile number."""
    from sqlalchemy import select
    from webapp.accounts.models import User
    from webapp.accounts.phone import SmsNumber
    from webapp.platform.timeutil import utcnow
    ids = list(db.session.scalars(select(User.id).where(User.role == "resident")))
    chosen = rng.sample(ids, min(count, len(ids)))
    now = utcnow()
    db.session.execute(SmsNumber.__table__.insert(), [
        {"user_id": uid, "phone": f"+4479{rng.randrange(10 ** 8):08d}", "confirmed_at": now}
        for uid in chosen])
    db.session.commit()
    return len(chosen)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_process(target, *args):
    queue = multiprocessing.Queue()
    proc = multiprocessing.Process(target=target, args=(queue, *args), daemon=True)
    proc.start()
    return proc, queue.get(timeout=20)


# --------------------------------------------------------------------------- data
def make_database(admin_url: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    url = make_url(admin_url).set(drivername="postgresql+psycopg")
    name = f"wardline_bench_{os.getpid()}_{secrets.token_hex(3)}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    engine = create_engine(make_url(admin_url).set(drivername="postgresql+psycopg"),
                           isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


def populate(db, residents: int, push_url: str, rng: random.Random) -> dict:
    """Insert residents with wards, categories, frequencies and push devices in bulk."""
    import base64
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from sqlalchemy import select
    from webapp.accounts.models import User, UserCategory, UserWard
    from webapp.delivery.models import PushSubscription
    from webapp.platform.timeutil import utcnow
    from webapp.wards.models import Ward

    def b64u(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    keys = []
    for _ in range(64):  # real P-256 keys so encryption does real work; shared by devices
        pub = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        keys.append((b64u(pub), b64u(os.urandom(16))))
    ward_ids = list(db.session.scalars(select(Ward.id)))
    cats = ["prevention", "events", "appeals", "outcomes"]
    now = utcnow()
    conn = db.session.connection()
    batch = 10_000
    devices = 0
    for start in range(0, residents, batch):
        n = min(batch, residents - start)
        users = [{"email": f"r{start + i}@bench.example", "display_name": f"Resident {start + i}",
                  "role": "resident", "confirmed_at": now, "created_at": now,
                  "session_version": 1, "push_enabled": False, "survey_step": 4,
                  "respondent_key": secrets.token_hex(12),
                  "email_frequency": rng.choices(["immediate", "digest", "off"], [60, 25, 15])[0]}
                 for i in range(n)]
        ids = [row[0] for row in conn.execute(
            User.__table__.insert().returning(User.__table__.c.id), users)]
        wards, categories, subs = [], [], []
        for uid in ids:
            home = rng.choice(ward_ids)
            wards.append({"user_id": uid, "ward_id": home, "is_home": True, "position": 0})
            if rng.random() < 0.3:
                extra = rng.choice(ward_ids)
                if extra != home:
                    wards.append({"user_id": uid, "ward_id": extra, "is_home": False,
                                  "position": 1})
            for cat in rng.sample(cats, rng.randint(1, 4)):
                categories.append({"user_id": uid, "category": cat})
            if rng.random() < 0.25:
                for _ in range(1 if rng.random() < 0.8 else 2):
                    devices += 1
                    p256dh, auth = rng.choice(keys)
                    subs.append({"user_id": uid, "endpoint": f"{push_url}/push/{devices}",
                                 "p256dh": p256dh, "auth": auth, "user_agent": "bench",
                                 "created_at": now})
        conn.execute(UserWard.__table__.insert(), wards)
        conn.execute(UserCategory.__table__.insert(), categories)
        if subs:
            conn.execute(PushSubscription.__table__.insert(), subs)
    db.session.commit()
    db.session.execute(__import__("sqlalchemy").text("ANALYZE"))
    db.session.commit()
    return {"residents": residents, "devices": devices}


# --------------------------------------------------------------------------- helpers
def start_workers(n, env, concurrency, log):
    """``flask deliver`` processes; their log goes to ``log`` (a file: a pipe nobody
    reads would fill up and stall them)."""
    flask = str(Path(sys.executable).with_name("flask"))
    return [subprocess.Popen([flask, "deliver", "--batch-size", "200", "--idle-sleep", "0.05",
                              "--concurrency", str(concurrency)], env=env, cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=log, text=True)
            for _ in range(n)]


def stop_workers(workers):
    for w in workers:
        w.send_signal(signal.SIGTERM)
    for w in workers:
        try:
            w.wait(timeout=30)
        except subprocess.TimeoutExpired:
            w.kill()


def wait_sent(db, notification_id, total, timeout=600):
    """Block until every delivery of the notification is sent; return seconds waited."""
    from sqlalchemy import select
    from webapp.delivery.models import Delivery
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        db.session.rollback()
        # Cheap: only waiting rows are in the partial index the workers use.
        pending = db.session.scalar(select(Delivery.id).where(
            Delivery.state.in_(("queued", "sending")),
            Delivery.notification_id == notification_id).limit(1))
        if pending is None:
            return time.perf_counter() - start
        time.sleep(0.05)
    raise RuntimeError(f"deliveries not sent within {timeout}s")


def send_alert_now(db, admin, title, channels, ward_ids, urgent=False):
    from webapp.alerts.services import AlertInput, Target, create_alert
    from webapp.delivery.models import Notification
    from sqlalchemy import select
    alert = create_alert(admin, AlertInput(
        title=title, body="Keep your phone out of sight near the station. " * 3,
        category="prevention", channels=channels, target=Target(ward_ids, "wards", "bench"),
        urgent=urgent))
    db.session.commit()
    nid = db.session.scalar(select(Notification.id).where(Notification.source_type == "alert",
                                                          Notification.source_id == alert.id))
    return alert, nid


def count_deliveries(db, nid):
    from sqlalchemy import func, select
    from webapp.delivery.models import Delivery
    return db.session.scalar(select(func.count()).select_from(Delivery)
                             .where(Delivery.notification_id == nid))


# --------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL,
                        help="PostgreSQL server to create the bench database on")
    parser.add_argument("--plain", type=int, default=2000, help="messages in the plain loops")
    parser.add_argument("--emails", type=int, default=3000, help="emails for (c)")
    parser.add_argument("--texts", type=int, default=2000,
                        help="residents with a mobile number for (d)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    rng = random.Random(42)
    push_proc, push_port = start_process(_push_sink)
    push_url = f"http://127.0.0.1:{push_port}"
    counter = multiprocessing.Value("i", 0)
    smtp_proc, smtp_port = start_process(_smtp_sink, counter)
    notify_proc, (notify_url, notify_key, notify_template) = start_process(_notify_sink)
    instance = tempfile.mkdtemp(prefix="wardline-bench-")
    url = make_database(args.database_url)
    results = []
    try:
        from webapp import create_app
        from webapp.extensions import db
        secret = secrets.token_urlsafe(32)
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": instance,
                          "SECRET_KEY": secret, "MAIL_WRITE_FILES": False,
                          "SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_port,
                          "BASE_URL": "http://wardline.bench",
                          "PUSH_ALLOW_LOOPBACK_FOR_TESTS": True})
        import logging
        logging.getLogger().setLevel(logging.WARNING)
        with app.app_context():
            db.create_all()
            from webapp.wards.services import load_wards
            t = time.perf_counter()
            load_wards()
            print(f"wards loaded in {time.perf_counter() - t:.1f} s", flush=True)
            t = time.perf_counter()
            info = populate(db, args.residents, push_url, rng)
            print(f"{info['residents']:,} residents with {info['devices']:,} push devices "
                  f"created in {time.perf_counter() - t:.1f} s", flush=True)
            from webapp.accounts.models import User
            from webapp.alerts.services import audience_counts, resolve_target
            from webapp.delivery.models import Delivery
            admin = User(email="admin@bench.example", role="admin", display_name="Admin")
            db.session.add(admin)
            db.session.commit()
            from webapp.delivery.subscriptions import vapid, vapid_public_key
            vapid_public_key()  # generate the key into instance/ before the workers start

            # (a) fan-out of a London-wide alert
            london = resolve_target(admin, "london")
            preview = audience_counts(london.ward_ids, "prevention", ["email", "push"], False)
            t = time.perf_counter()
            alert, nid = send_alert_now(db, admin, "London-wide alert", ["email", "push"],
                                        london.ward_ids)
            fanout = time.perf_counter() - t
            rows = count_deliveries(db, nid)
            expected = preview.email_now + preview.digest + preview.push_devices
            assert rows == expected, (rows, expected)
            results.append(("(a) London-wide fan-out into the outbox",
                            f"{fanout:.2f} s", f"{rows:,} rows for {preview.residents:,} "
                            "residents", "≤ 3 s", fanout <= 3))
            print(f"(a) fan-out: {rows:,} rows in {fanout:.2f} s", flush=True)
            # Park those rows: (b) and (c) measure their own alerts.
            db.session.execute(Delivery.__table__.update().values(state="sent"))
            db.session.commit()

            # (b) push: ceiling and plain loops first (workers not running yet)
            import requests
            from pywebpush import WebPusher, webpush
            from sqlalchemy import select
            from webapp.delivery.models import PushSubscription
            from webapp.delivery.push import build_payload
            subs = [s.info for s in db.session.scalars(select(PushSubscription)
                                                       .limit(args.plain))]
            payload = build_payload("London-wide alert", "Keep your phone out of sight.",
                                    "/alerts/1", "alert-1")
            key = vapid()

            def reference_loops():
                """(encode-only ceiling, plain webpush() loop, plain loop + Session)/s."""
                t = time.perf_counter()
                for sub in subs:
                    WebPusher(sub).encode(payload.encode())
                ceiling = len(subs) / (time.perf_counter() - t)
                t = time.perf_counter()
                for sub in subs:
                    webpush(sub, payload, vapid_private_key=key,
                            vapid_claims={"sub": "mailto:bench@wardline.example"}, ttl=3600,
                            timeout=10)
                plain = len(subs) / (time.perf_counter() - t)
                with requests.Session() as session:
                    t = time.perf_counter()
                    for sub in subs:
                        webpush(sub, payload, vapid_private_key=key,
                                vapid_claims={"sub": "mailto:bench@wardline.example"},
                                ttl=3600, timeout=10, requests_session=session)
                    plain_session = len(subs) / (time.perf_counter() - t)
                return ceiling, plain, plain_session

            # Measured before and after the workers' run and averaged: other load on the
            # machine drifts, and this keeps the comparison fair.
            before = reference_loops()
            print("(b) before: ceiling {:,.0f}/s, plain loop {:,.0f}/s, plain loop + session "
                  "{:,.0f}/s".format(*before), flush=True)

            env = {**os.environ, "FLASK_APP": "wsgi:app", "DATABASE_URL": url,
                   "WARDLINE_INSTANCE_PATH": instance, "SECRET_KEY": secret,
                   "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port),
                   "MAIL_WRITE_FILES": "0", "BASE_URL": "http://wardline.bench",
                   "PUSH_ALLOW_LOOPBACK_FOR_TESTS": "1",  # the loopback push sink
                   "PYTHONPATH": str(ROOT)}
            log = open(Path(instance) / "workers.log", "w")
            workers = start_workers(args.workers, env, args.concurrency, log)
            try:
                time.sleep(3)  # let the workers import and start polling
                cpu_start = [cpu_seconds(w.pid) for w in workers] + [cpu_seconds(push_proc.pid)]
                alert, nid = send_alert_now(db, admin, "Push-only alert", ["push"],
                                            london.ward_ids)
                pushes = count_deliveries(db, nid)
                took = wait_sent(db, nid, pushes)
                rate = pushes / took
                cpu = [cpu_seconds(w.pid) for w in workers] + [cpu_seconds(push_proc.pid)]
                used = [(b - a) / took for a, b in zip(cpu_start, cpu, strict=False)]
                print("(b) CPU used while sending: workers " +
                      ", ".join(f"{u:.0%}" for u in used[:-1]) +
                      f" of a core each, push sink {used[-1]:.0%}", flush=True)
                stop_workers(workers)
                after = reference_loops()
                print("(b) after: ceiling {:,.0f}/s, plain loop {:,.0f}/s, plain loop + session "
                      "{:,.0f}/s".format(*after), flush=True)
                ceiling, plain, plain_session = ((x + y) / 2 for x, y in zip(before, after, strict=False))
                results.append(("(b) push: plain webpush() loop, no session",
                                f"{plain:,.0f}/s", "how most apps send", "", None))
                results.append(("(b) push: plain webpush() loop + requests.Session",
                                f"{plain_session:,.0f}/s", "", "", None))
                results.append(("(b) push: encryption only (WebPusher.encode)",
                                f"{ceiling:,.0f}/s", "one core, no HTTP: the ceiling", "", None))
                results.append((f"(b) push: Wardline workers ({args.workers} proc. × 2 loops × "
                                f"{args.concurrency} in flight)", f"{rate:,.0f}/s",
                                f"{pushes:,} pushes; {rate / plain:.1f}× plain, "
                                f"{rate / plain_session:.1f}× plain+session, "
                                f"{rate / (2 * ceiling):.0%} of 2-core ceiling",
                                "≥ 2.5× plain",
                                rate >= 2.5 * plain))
                print(f"(b) workers: {pushes:,} pushes in {took:.2f} s = {rate:,.0f}/s",
                      flush=True)

                stop_workers(workers)

                # (c) email: enough wards for about --emails immediate emails
                from datetime import timedelta
                from sqlalchemy import func
                from webapp.delivery.emails import message_for
                from webapp.delivery.models import Notification
                from webapp.platform.timeutil import utcnow
                wards = list(london.ward_ids)
                rng.shuffle(wards)
                lo, hi = 1, len(wards)
                while lo < hi:  # fewest wards reaching the target
                    mid = (lo + hi) // 2
                    c = audience_counts(wards[:mid], "prevention", ["email"], False)
                    lo, hi = (mid + 1, hi) if c.email_now < args.emails else (lo, mid)
                alert, nid = send_alert_now(db, admin, "Email alert", ["email"], wards[:lo])
                mine = Delivery.notification_id == nid
                # Hold the deliveries back until the workers are up; digest rows aside.
                db.session.execute(Delivery.__table__.update().where(mine).values(
                    next_attempt_at=utcnow() + timedelta(days=1)))
                db.session.execute(Delivery.__table__.update().where(
                    mine, Delivery.channel == "digest").values(state="sent"))
                db.session.commit()
                emails = db.session.scalar(select(func.count()).select_from(Delivery)
                                           .where(mine, Delivery.channel == "email"))
                rows = db.session.execute(
                    select(Delivery, Notification, User)
                    .join(Notification, Notification.id == Delivery.notification_id)
                    .join(User, User.id == Delivery.user_id)
                    .where(mine, Delivery.channel == "email")).all()
                messages = [message_for(d, n, u) for d, n, u in rows]
                db.session.rollback()

                def raw_smtplib():
                    """Raw smtplib over one connection, the same (pre-built) messages."""
                    t = time.perf_counter()
                    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
                        for msg in messages:
                            smtp.send_message(msg)
                    return len(messages) / (time.perf_counter() - t)

                raw_before = raw_smtplib()
                workers = start_workers(args.workers, env, args.concurrency, log)
                time.sleep(3)
                db.session.execute(Delivery.__table__.update().where(mine).values(
                    next_attempt_at=utcnow()))
                db.session.commit()
                took = wait_sent(db, nid, emails)
                worker_rate = emails / took
                stop_workers(workers)
                raw_after = raw_smtplib()
                raw_rate = (raw_before + raw_after) / 2
                print(f"(c) workers: {emails:,} emails in {took:.2f} s = {worker_rate:,.0f}/s; "
                      f"raw smtplib {raw_before:,.0f}/s before, {raw_after:,.0f}/s after",
                      flush=True)

                # (d) text messages through GOV.UK Notify's client, to the fake Notify
                from notifications_python_client.notifications import NotificationsAPIClient
                from webapp.accounts.phone import SmsNumber
                mobiles = add_mobiles(db, args.texts, rng)
                sms_preview = audience_counts(london.ward_ids, "prevention", ["sms"], True)
                alert, nid = send_alert_now(db, admin, "Urgent text alert", ["sms"],
                                            london.ward_ids, urgent=True)
                mine = Delivery.notification_id == nid
                texts = count_deliveries(db, nid)
                assert texts == sms_preview.sms, (texts, sms_preview.sms)
                db.session.execute(Delivery.__table__.update().where(mine).values(
                    next_attempt_at=utcnow() + timedelta(days=1)))
                db.session.commit()
                numbers = list(db.session.scalars(select(SmsNumber.phone).limit(args.plain // 4)))
                db.session.rollback()

                def plain_client_loop():
                    """The client's send_sms_notification() in a loop, one request at a time."""
                    client = NotificationsAPIClient(notify_key, base_url=notify_url)
                    t = time.perf_counter()
                    for number in numbers:
                        client.send_sms_notification(
                            phone_number=number, template_id=notify_template,
                            personalisation={"title": "Bench", "line": "One line.",
                                             "link": "http://wardline.bench/alerts/1"})
                    return len(numbers) / (time.perf_counter() - t)

                plain_sms_before = plain_client_loop()
                sms_env = {**env, "NOTIFY_API_KEY": notify_key, "NOTIFY_BASE_URL": notify_url,
                           "NOTIFY_SMS_TEMPLATE_ID": notify_template}
                workers = start_workers(args.workers, sms_env, args.concurrency, log)
                time.sleep(3)
                db.session.execute(Delivery.__table__.update().where(mine).values(
                    next_attempt_at=utcnow()))
                db.session.commit()
                took = wait_sent(db, nid, texts)
                sms_rate = texts / took
                stop_workers(workers)
                failed = db.session.scalar(select(func.count()).select_from(Delivery).where(
                    mine, Delivery.state != "sent"))
                assert failed == 0, f"{failed} texts not sent (see {instance}/workers.log)"
                plain_sms = (plain_sms_before + plain_client_loop()) / 2
                print(f"(d) workers: {texts:,} texts in {took:.2f} s = {sms_rate:,.0f}/s "
                      f"({mobiles:,} residents with a mobile); plain client loop "
                      f"{plain_sms:,.0f}/s", flush=True)
            finally:
                stop_workers(workers)
                log.close()

            results.append(("(c) email: raw smtplib, one connection", f"{raw_rate:,.0f}/s",
                            f"{len(messages):,} pre-built messages", "", None))
            results.append((f"(c) email: Wardline workers ({args.workers} processes)",
                            f"{worker_rate:,.0f}/s", f"{worker_rate / raw_rate:.0%} of raw "
                            "(rendering, tokens and outbox included)", "≥ 70 %",
                            worker_rate >= 0.7 * raw_rate))
            results.append(("(d) sms: plain send_sms_notification() loop", f"{plain_sms:,.0f}/s",
                            f"{len(numbers):,} texts, one at a time, to the fake Notify", "",
                            None))
            results.append((f"(d) sms: Wardline workers ({args.workers} processes)",
                            f"{sms_rate:,.0f}/s", f"{texts:,} texts of an urgent London-wide "
                            f"alert; {sms_rate / plain_sms:.1f}× the plain loop", "", None))
            db.session.remove()
            db.engine.dispose()
    finally:
        drop_database(args.database_url, url)
        push_proc.terminate()
        os.kill(smtp_proc.pid, signal.SIGTERM)
        smtp_proc.join(5)
        os.kill(notify_proc.pid, signal.SIGTERM)
        notify_proc.join(5)

    print()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Machine: {os.cpu_count()} cores (load average at the end {load}); "
          f"{args.residents:,} residents; PostgreSQL")
    print(f"| {'measure':<58} | {'result':>10} | {'detail':<64} | {'target':<12} | ok |")
    print(f"|{'-' * 60}|{'-' * 12}|{'-' * 66}|{'-' * 14}|----|")
    for name, value, detail, target, ok in results:
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"| {name:<58} | {value:>10} | {detail:<64} | {target:<12} | {mark:<2} |")
    return 0 if all(ok is not False for *_, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
