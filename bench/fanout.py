"""Benchmark: alert fan-out, push and email delivery throughput (a script, not a test).

    .venv/bin/python bench/fanout.py [--scales 100000,1000000] [--database-url postgresql://…]

For each scale (``--scales``, residents, comma-separated; default 100,000; 100,000 and
1,000,000 together take about ten minutes here), creates its own PostgreSQL database
(dropped at the end), loads London's wards and the residents spread across them, set-based
in SQL (home ward, sometimes an extra ward, categories, email frequency, push devices for
about a quarter), then measures with the real ``flask deliver`` workers (two processes:
both cores) against loopback sinks in their own processes:

(a) a London-wide alert (email and push), workers running: from pressing Send (the alert,
    its fan-out plan and first part of ``FANOUT_PART_SIZE`` user ids in one transaction)
    to every row written by the workers, part by part; the first message accepted by a
    sink; the longest transaction (the Send, or a part). Targets ≤ 5 s, ≤ 2 s, ≤ 2 s;
(b) push: a London-wide push-only alert, from Send to the last push sent, once per sender
    (``--senders threads,asyncio``: ``PUSH_SENDER``), beside a plain loop of
    ``pywebpush.webpush()`` (no session; and with a ``requests.Session``) and the
    encryption-only ceiling (``WebPusher.encode`` alone), measured before and after and
    averaged; the workers' CPU per push, and with PostgreSQL's and the sink's (the ratio
    "by the machine's CPU": what an idle machine would reach), and peak memory (VmHWM;
    target ≤ 200 MB). Targets ≥ 2.5 ×
    the plain loop, ≥ 40 % of the two-core encryption ceiling;
(c) email, interleaved (raw ``smtplib`` over one connection with the same pre-built
    messages, then the workers on a new alert, ``--rounds`` times); target ≥ 100 % of raw;
(d) text messages to the fake GOV.UK Notify (``tests/support/fake_notify.py``, which
    verifies every request's JWT and payload) through ``notifications-python-client``,
    beside a plain loop of ``send_sms_notification()`` (``--texts`` residents get a
    confirmed mobile; 0 skips it).

Between measures every waiting row is marked sent and the outbox VACUUMed (as autovacuum
would soon after), so each measure sends only its own alert with the earlier ones' rows
in the table. With several scales, the table ends with push and email throughput at the
largest scale against the smallest (target ≥ 90 %: sending cost independent of the
outbox's size). Everything shares the machine's cores, so figures vary by ±10–20 % from
run to run, and far more when other work runs: note the load average printed at the end.
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
def _push_sink(port_queue, counter):
    """A minimal keep-alive HTTP/1.1 server answering every request 201 (asyncio), counting
    the requests it accepted in ``counter`` (shared memory; this process alone writes it)."""
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
                counter.value += 1

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
    """Give ``count`` random residents a confirmed UK mobile number (and nobody else)."""
    from sqlalchemy import select
    from webapp.accounts.models import User
    from webapp.accounts.phone import SmsNumber
    from webapp.platform.timeutil import utcnow
    ids = list(db.session.scalars(select(User.id).where(User.role == "resident")))
    chosen = rng.sample(ids, min(count, len(ids)))
    now = utcnow()
    # A kept database (--keep-database) has an earlier run's numbers: this run's alone.
    db.session.execute(SmsNumber.__table__.delete())
    db.session.execute(SmsNumber.__table__.insert(), [
        {"user_id": uid, "phone": f"+4479{rng.randrange(10 ** 8):08d}", "confirmed_at": now}
        for uid in chosen])
    db.session.commit()
    return len(chosen)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_cpu(db, since: dict | None = None) -> dict:
    """CPU seconds of this database's PostgreSQL backends (same machine, /proc), by pid;
    with ``since`` (an earlier answer), what each used after it (a new one: all of it)."""
    from sqlalchemy import text
    db.session.rollback()
    pids = db.session.scalars(text("SELECT pid FROM pg_stat_activity "
                                   "WHERE datname = current_database()")).all()
    db.session.rollback()
    now = {}
    for pid in pids:
        try:
            now[pid] = cpu_seconds(pid)
        except OSError:  # ended meanwhile
            pass
    return now if since is None else {pid: c - since.get(pid, 0.0) for pid, c in now.items()}


def start_process(target, *args):
    queue = multiprocessing.Queue()
    proc = multiprocessing.Process(target=target, args=(queue, *args), daemon=True)
    proc.start()
    return proc, queue.get(timeout=20)


# --------------------------------------------------------------------------- data
def make_database(admin_url: str, keep: str | None = None) -> tuple[str, bool]:
    """Create a database for one scale; return its URL and whether it was there already
    (``keep``: that name, made once and reused by later runs, never dropped)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    url = make_url(admin_url).set(drivername="postgresql+psycopg")
    name = keep or f"wardline_bench_{os.getpid()}_{secrets.token_hex(3)}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        there = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if there and not _loaded(url.set(database=name)):
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))  # a run cut short
            there = None
        if not there:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False), bool(there)


def _loaded(url) -> bool:
    """Has the database at ``url`` its residents and the admin (a finished load)?"""
    from sqlalchemy import create_engine, exc, text
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(conn.scalar(text("SELECT 1 FROM users WHERE role = 'admin'")))
    except exc.ProgrammingError:  # no table yet
        return False
    finally:
        engine.dispose()


def make_url_name(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).database


def drop_database(admin_url: str, url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    engine = create_engine(make_url(admin_url).set(drivername="postgresql+psycopg"),
                           isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


def populate(db, residents: int, push_url: str, rng: random.Random) -> dict:
    """Insert residents with wards, categories, frequencies and push devices, set-based in
    PostgreSQL (``generate_series``, ``random()`` seeded from ``rng``): 1,000,000 residents
    in about a minute. 30 % follow a second ward, each category is chosen by 5 in 8,
    60 % immediate / 25 % digest / 15 % no email; a quarter have a push device (one in five
    of those two), using 64 real P-256 keys so encryption does real work."""
    import base64
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from sqlalchemy import text
    from webapp.platform.timeutil import utcnow

    def b64u(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    keys = []
    for _ in range(64):
        pub = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        keys.append({"n": len(keys) + 1, "p": b64u(pub), "a": b64u(os.urandom(16))})
    now = utcnow()
    conn = db.session.connection()
    conn.execute(text("SELECT setseed(:seed)"), {"seed": rng.random()})
    conn.execute(text("CREATE TEMP TABLE bench_keys (n int, p256dh text, auth text)"))
    conn.execute(text("INSERT INTO bench_keys VALUES (:n, :p, :a)"), keys)
    conn.execute(text("CREATE TEMP TABLE bench_wards AS SELECT row_number() OVER (ORDER BY id)"
                      " AS n, id FROM wards"))
    wards = conn.execute(text("SELECT count(*) FROM bench_wards")).scalar()
    conn.execute(text("""
        INSERT INTO users (email, display_name, role, confirmed_at, created_at,
                           session_version, survey_step, respondent_key,
                           email_frequency, password_must_change)
        SELECT 'r' || g || '@bench.example', 'Resident ' || g, 'resident', :now, :now, 1,
               4, substr(md5(g::text || random()::text), 1, 24),
               CASE WHEN r < 0.60 THEN 'immediate' WHEN r < 0.85 THEN 'digest' ELSE 'off' END,
               false
        FROM (SELECT g, random() AS r FROM generate_series(1, :n) AS g) AS s"""),
                 {"now": now, "n": residents})
    conn.execute(text("""
        INSERT INTO user_wards (user_id, ward_id, is_home, position)
        SELECT u.id, w.id, true, 0
        FROM (SELECT id, 1 + floor(random() * :k)::int AS n FROM users
              WHERE role = 'resident') AS u JOIN bench_wards AS w USING (n)"""), {"k": wards})
    conn.execute(text("""
        INSERT INTO user_wards (user_id, ward_id, is_home, position)
        SELECT u.id, w.id, false, 1
        FROM (SELECT id, 1 + floor(random() * :k)::int AS n FROM users
              WHERE role = 'resident' AND random() < 0.3) AS u JOIN bench_wards AS w USING (n)
        ON CONFLICT DO NOTHING"""), {"k": wards})
    conn.execute(text("""
        INSERT INTO user_categories (user_id, category)
        SELECT u.id, c FROM users AS u
        CROSS JOIN unnest(ARRAY['prevention', 'events', 'appeals', 'outcomes']) AS c
        WHERE u.role = 'resident' AND random() < 0.625"""))
    devices = conn.execute(text("""
        INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, user_agent, created_at)
        SELECT u.id, :url || '/push/' || u.id || '-' || d, k.p256dh, k.auth, 'bench', :now
        FROM (SELECT id, random() AS r, 1 + floor(random() * 64)::int AS n FROM users
              WHERE role = 'resident') AS u
        CROSS JOIN generate_series(1, 2) AS d JOIN bench_keys AS k USING (n)
        WHERE u.r < 0.25 AND (d = 1 OR u.r < 0.05)"""), {"url": push_url, "now": now}).rowcount
    db.session.commit()
    # VACUUM, not only ANALYZE, as autovacuum would soon after such a load: it sets the
    # visibility map, without which every index-only scan of a part's audience (the
    # residents' categories) reads the table too (autovacuum is off on some bench servers).
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as vacuum:
        vacuum.execute(text("VACUUM ANALYZE"))
    return {"residents": residents, "devices": devices}


# --------------------------------------------------------------------------- helpers
def start_workers(n, env, concurrency, log, loops=2):
    """``flask deliver`` processes; their log goes to ``log`` (a file: a pipe nobody
    reads would fill up and stall them)."""
    flask = str(Path(sys.executable).with_name("flask"))
    batch = ["--batch-size", os.environ["BENCH_BATCH"]] if os.environ.get("BENCH_BATCH") else []
    return [subprocess.Popen([flask, "deliver", *batch, "--idle-sleep", "0.05",
                              "--concurrency", str(concurrency), "--loops", str(loops)],
                             env=env, cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=log, text=True)
            for _ in range(n)]


def wait_ready(db, workers, timeout=120):
    """Wait until every worker has connected to the database (they have imported the app
    and started polling): on a busy machine that takes longer than a fixed sleep."""
    from sqlalchemy import text
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        db.session.rollback()
        others = db.session.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"))
        if others >= len(workers):
            time.sleep(0.5)
            return
        time.sleep(0.1)
    raise RuntimeError("workers did not start")


def stop_workers(workers):
    for w in workers:
        w.send_signal(signal.SIGTERM)
    for w in workers:
        try:
            w.wait(timeout=30)
        except subprocess.TimeoutExpired:
            w.kill()


def workers_send(db, args, env, mine, notification_id, log, cpu=None) -> float:
    """Start the workers, make the held-back rows ``mine`` due, and return the seconds
    until every delivery of ``notification_id`` is sent (the workers are stopped after).
    ``cpu``: a list that gets the CPU seconds the workers used meanwhile (all of them)."""
    from webapp.delivery.models import Delivery
    from webapp.platform.timeutil import utcnow
    workers = start_workers(args.workers, env, args.concurrency, log, args.loops)
    try:
        wait_ready(db, workers)
        before = sum(cpu_seconds(w.pid) for w in workers)
        t = time.perf_counter()
        db.session.execute(Delivery.__table__.update().where(mine).values(
            next_attempt_at=utcnow()))
        db.session.commit()
        took = wait_sent(db, notification_id) - t
        if cpu is not None:
            cpu.append(sum(cpu_seconds(w.pid) for w in workers) - before)
        return took
    finally:
        stop_workers(workers)


def wait_sent(db, notification_id, timeout=600):
    """Block until every delivery of the notification is sent (its fan-out written and
    nothing queued or claimed); return the time.perf_counter() at which it was seen.
    Looks every 50 ms, and every 5 ms once fewer than two batches are left (the end is
    then seen within a few ms, not up to 50 ms late, for a few more cheap reads)."""
    from sqlalchemy import func, select
    from webapp.delivery.models import Delivery, Fanout
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        db.session.rollback()
        writing = db.session.scalar(select(Fanout.id).where(
            Fanout.notification_id == notification_id, Fanout.state == "sending"))
        # Cheap: each reads one of the partial indexes the workers use.
        queued = 0 if writing else db.session.scalar(select(func.count()).select_from(
            select(Delivery.id).where(Delivery.state == "queued", Delivery.channel != "digest",
                                      Delivery.notification_id == notification_id)
            .limit(1000).subquery()))
        sending = not writing and not queued and db.session.scalar(
            select(Delivery.id).where(Delivery.state == "sending",
                                      Delivery.notification_id == notification_id).limit(1))
        if not (writing or queued or sending):
            return time.perf_counter()
        time.sleep(0.05 if writing or queued >= 1000 else 0.005)
    raise RuntimeError(f"deliveries not sent within {timeout}s")


def send_alert_now(db, admin, title, channels, target, urgent=False):
    """Press Send: create the alert (its first part written) and commit, as the view does.
    ``target``: a resolved Target (``resolve_target(admin, "london")``: "All of London", as
    an admin's London-wide Send makes it), or a list of ward ids (chosen one by one)."""
    from webapp.alerts.services import AlertInput, Target, create_alert
    from webapp.delivery.models import Notification
    from sqlalchemy import select
    if not isinstance(target, Target):
        target = Target(list(target), "wards", "bench")
    alert = create_alert(admin, AlertInput(
        title=title, body="Keep your phone out of sight near the station. " * 3,
        category="prevention", channels=channels, target=target, urgent=urgent))
    db.session.commit()
    nid = db.session.scalar(select(Notification.id).where(Notification.source_type == "alert",
                                                          Notification.source_id == alert.id))
    return alert, nid


def write_all_parts(db):
    """Write the parts of the fan-outs still being written, here (for the measures of
    sending: the workers are not running yet)."""
    from webapp.delivery.fanout import write_next_part
    while write_next_part() is not None:
        pass


def count_deliveries(db, nid):
    from sqlalchemy import func, select
    from webapp.delivery.models import Delivery
    return db.session.scalar(select(func.count()).select_from(Delivery)
                             .where(Delivery.notification_id == nid))


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory (VmHWM) of process ``pid``, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def park_all(db):
    """Mark every waiting row sent (later measures use their own alerts), then VACUUM, as
    autovacuum would soon after such a bulk change: the dead row versions would otherwise
    sit in the claim's index until it did."""
    from sqlalchemy import text
    db.session.execute(text("UPDATE deliveries SET state = 'sent', claimed_by = NULL, "
                            "lease_until = NULL WHERE state IN ('queued', 'sending')"))
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE deliveries"))
        # And a checkpoint, as benchmarks of PostgreSQL do before each measure: one that
        # fell due during a measure (by time, or by WAL: each London-wide fan-out at
        # 1,000,000 writes ~330 MB of it) changed that measure's CPU by a third.
        conn.execute(text("CHECKPOINT"))


# --------------------------------------------------------------------------- one scale
def measure(args, residents: int, sinks: dict) -> list[tuple]:
    """Every measure at ``residents`` residents, on a database of its own; returns rows
    (key, name, value, detail, target, ok)."""
    rng = random.Random(42)
    push_url = f"http://127.0.0.1:{sinks['push_port']}"
    smtp_port = sinks["smtp_port"]
    notify_url, notify_key, notify_template = sinks["notify"]
    instance = tempfile.mkdtemp(prefix="wardline-bench-")
    url, reused = make_database(args.database_url, args.keep_database and
                                f"{args.keep_database}_{residents}")
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
            from webapp.accounts.models import User
            from webapp.alerts.services import audience_counts, resolve_target
            from webapp.delivery.models import FanoutPart
            from sqlalchemy import text
            if reused:  # --keep-database: loaded by an earlier run; this run's sink port
                admin = db.session.scalar(text("SELECT id FROM users WHERE role = 'admin'"))
                admin = db.session.get(User, admin)
                db.session.execute(text("UPDATE push_subscriptions SET endpoint = :url || "
                                        "substring(endpoint from position('/push/' in "
                                        "endpoint))"), {"url": push_url})
                db.session.commit()
                if args.empty_outbox:  # as on a database just loaded
                    db.session.execute(text("TRUNCATE deliveries, fanout_parts, fanouts"))
                    db.session.commit()
                park_all(db)
                print(f"[{residents:,}] reusing {make_url_name(url)}", flush=True)
            else:
                db.create_all()
                from webapp.wards.services import load_wards
                load_wards()
                t = time.perf_counter()
                info = populate(db, residents, push_url, rng)
                print(f"[{residents:,}] {info['residents']:,} residents with "
                      f"{info['devices']:,} push devices created in "
                      f"{time.perf_counter() - t:.1f} s", flush=True)
                admin = User(email="admin@bench.example", role="admin", display_name="Admin")
                db.session.add(admin)
                db.session.commit()
                park_all(db)  # VACUUM and CHECKPOINT after the load, as on a kept database
            from webapp.delivery.subscriptions import vapid, vapid_public_key
            vapid_public_key()  # generate the key into instance/ before the workers start
            env = {**os.environ, "FLASK_APP": "wsgi:app", "DATABASE_URL": url,
                   "WARDLINE_INSTANCE_PATH": instance, "SECRET_KEY": secret,
                   "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port),
                   "MAIL_WRITE_FILES": "0", "BASE_URL": "http://wardline.bench",
                   "PUSH_ALLOW_LOOPBACK_FOR_TESTS": "1",  # the loopback push sink
                   "PYTHONPATH": str(ROOT)}
            log = open(Path(instance) / "workers.log", "w")
            from sqlalchemy import func, select

            # (a) a London-wide alert, workers running: Send, first message out, all written
            london = resolve_target(admin, "london")
            if args.email_only:
                results += measure_email(args, residents, db, admin, london, env, log, rng,
                                         smtp_port, sinks["smtp_pid"])
                log.close()
                db.session.remove()
                db.engine.dispose()
                return results
            preview = audience_counts(london.ward_ids, "prevention", ["email", "push"], False)
            workers = start_workers(args.workers, env, args.concurrency, log, args.loops)
            wait_ready(db, workers)  # the workers have imported the app and poll
            accepted = lambda: sinks["pushes"].value + sinks["emails"].value  # noqa: E731
            before = accepted()
            backends = backend_cpu(db)
            workers_cpu = [cpu_seconds(w.pid) for w in workers]
            sinks_cpu = [cpu_seconds(sinks[k]) for k in ("push_pid", "smtp_pid")]
            own_cpu = time.process_time()
            from webapp.platform.timeutil import utcnow
            t0, sent_at = time.perf_counter(), utcnow()
            alert, nid = send_alert_now(db, admin, "London-wide alert", ["email", "push"],
                                        london)
            send_took = time.perf_counter() - t0
            first = None
            from webapp.delivery.models import Fanout
            # The end is read from the database (the last part's done_at, stamped by its
            # worker on this machine's clock once the part's rows are in, just before its
            # commit), so the look can be rare: it takes the cores the writers need (with
            # one every 10 ms this script used ~1 CPU-second during (a), Send included).
            while True:
                if first is None and accepted() > before:
                    first = time.perf_counter() - t0
                db.session.rollback()
                if db.session.scalar(select(Fanout.state).where(
                        Fanout.notification_id == nid)) == "done":
                    break
                time.sleep(0.01 if first is None else 0.1)
            # (Not before Send returned: the Send's own part commits with it.)
            written = max(send_took, (db.session.scalar(
                select(func.max(FanoutPart.done_at)).join(Fanout)
                .where(Fanout.notification_id == nid)) - sent_at).total_seconds())
            pg_cpu = sum(backend_cpu(db, backends).values())
            workers_cpu = sum(cpu_seconds(w.pid) - c for w, c in zip(workers, workers_cpu,
                                                                     strict=True))
            sinks_cpu = sum(cpu_seconds(sinks[k]) - c for k, c in zip(
                ("push_pid", "smtp_pid"), sinks_cpu, strict=True))
            own_cpu = time.process_time() - own_cpu
            meanwhile = accepted() - before
            load = os.getloadavg()[0]
            while first is None and time.perf_counter() - t0 < 30:
                if accepted() > before:
                    first = time.perf_counter() - t0
                time.sleep(0.01)
            stop_workers(workers)
            parts = db.session.execute(select(FanoutPart.started_at, FanoutPart.done_at)
                                       .join(Fanout).where(Fanout.notification_id == nid)).all()
            longest = max([send_took] + [(d - s).total_seconds() for s, d in parts[1:]])
            rows = count_deliveries(db, nid)
            expected = preview.email_now + preview.digest + preview.push_devices
            assert rows == expected, (rows, expected)
            results.append(("a", "(a) London-wide alert: Send to every row written",
                            f"{written:.2f} s", f"{rows:,} rows, {len(parts)} parts, "
                            f"workers sending meanwhile", "≤ 5 s", written <= 5))
            results.append(("a2", "(a) longest transaction (Send incl. first part; a part)",
                            f"{longest:.2f} s", f"Send returned in {send_took:.2f} s", "≤ 2 s",
                            longest <= 2))
            results.append(("a3", "(a) Send to the first message accepted by a sink",
                            f"{first:.2f} s" if first else "none", "", "≤ 2 s",
                            first is not None and first <= 2))
            # Less dependent on the rest of the machine than the times: the CPU spent, by
            # this database's PostgreSQL backends (writing, and the loops' claims and
            # results) and by the worker processes (sending too), from Send to all written.
            results.append(("a4", "(a) CPU from Send to every row written",
                            f"{pg_cpu:.1f} s", f"PostgreSQL backends: {rows / pg_cpu:,.0f} rows "
                            f"per CPU-second; worker processes {workers_cpu:.1f} s (sending "
                            f"too); load average {load:.1f}", "", None))
            print(f"[{residents:,}] (a) {rows:,} rows in {len(parts)} parts: written "
                  f"{written:.2f} s after Send (Send {send_took:.2f} s), first message "
                  f"{first or 0:.2f} s, longest transaction {longest:.2f} s; PostgreSQL "
                  f"{pg_cpu:.1f} CPU-s ({rows / pg_cpu:,.0f} rows/CPU-s), workers "
                  f"{workers_cpu:.1f} CPU-s, sinks {sinks_cpu:.1f} CPU-s ({meanwhile:,} "
                  f"messages accepted meanwhile), this script {own_cpu:.1f} CPU-s; "
                  f"load {load:.1f}", flush=True)
            park_all(db)

            if args.only != "a":  # (b), (c), (d): sending
                # (b) push: ceiling and plain loops first (workers not running)
                import requests
                from pywebpush import WebPusher, webpush
                from webapp.delivery.models import PushSubscription
                from webapp.delivery.push import build_payload
                subs = [s.info for s in db.session.scalars(select(PushSubscription)
                                                           .limit(args.plain))]
                payload = build_payload("London-wide alert", "Keep your phone out of sight.",
                                        "/alerts/1", "alert-1")
                key = vapid()

                def reference_loops():
                    """(encode-only ceiling, plain webpush() loop, plain loop + Session)/s, and
                    the CPU seconds of one encode (what load on the machine does not change)."""
                    t, cpu = time.perf_counter(), time.process_time()
                    for sub in subs:
                        WebPusher(sub).encode(payload.encode())
                    ceiling = len(subs) / (time.perf_counter() - t)
                    encode_cpu = (time.process_time() - cpu) / len(subs)
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
                    return ceiling, plain, plain_session, encode_cpu

                # Measured before and after the workers' run and averaged: other load on the
                # machine drifts, and this keeps the comparison fair.
                ref_before = reference_loops()
                push = {}
                for sender in args.senders.split(","):  # a London-wide push alert each
                    workers = start_workers(args.workers, {**env, "PUSH_SENDER": sender},
                                            args.concurrency, log, args.loops)
                    try:
                        wait_ready(db, workers)
                        pids = [w.pid for w in workers] + [sinks["push_pid"]]
                        cpu_start = [cpu_seconds(pid) for pid in pids]
                        backends = backend_cpu(db)
                        t0 = time.perf_counter()
                        alert, nid = send_alert_now(db, admin, f"Push-only alert ({sender})",
                                                    ["push"], london)
                        took = wait_sent(db, nid) - t0
                        used = [(cpu_seconds(pid) - a) / took for pid, a in zip(pids, cpu_start,
                                                                                strict=False)]
                        pg_cpu = sum(backend_cpu(db, backends).values())  # workers still on
                        pushes = count_deliveries(db, nid)
                        rss = max(peak_rss_mb(w.pid) for w in workers)
                    finally:
                        stop_workers(workers)
                    # The workers' CPU per push (their fan-out parts, claims and records
                    # included), which load on the machine changes far less than the rate.
                    cpu_push = sum(used[:-1]) * took / pushes
                    # Everything a push cost the machine: the workers, this database's
                    # PostgreSQL backends and the sink (what an idle 2-core machine would
                    # have to spend on it; the bench's own polling is in PostgreSQL's).
                    whole = cpu_push + (pg_cpu + used[-1] * took) / pushes
                    push[sender] = (pushes, took, pushes / took, used, rss, cpu_push, whole)
                    print(f"[{residents:,}] (b) {sender}: {pushes:,} pushes in {took:.2f} s from "
                          f"Send = {pushes / took:,.0f}/s; workers at "
                          + ", ".join(f"{u:.0%}" for u in used[:-1]) +
                          f" of a core ({cpu_push * 1e6:.0f} µs of CPU per push), sink "
                          f"{used[-1]:.0%}, PostgreSQL {pg_cpu / pushes * 1e6:.0f} µs a push "
                          f"({whole * 1e6:.0f} µs in all); peak RSS {rss:.0f} MB", flush=True)
                    park_all(db)
                ref_after = reference_loops()
                ceiling, plain, plain_session, encode_cpu = (
                    (x + y) / 2 for x, y in zip(ref_before, ref_after, strict=False))
                results.append(("b_plain", "(b) push: plain webpush() loop, no session",
                                f"{plain:,.0f}/s", "how most apps send", "", None))
                results.append(("b_session", "(b) push: plain webpush() loop + requests.Session",
                                f"{plain_session:,.0f}/s", "", "", None))
                results.append(("b_ceiling", "(b) push: encryption only (WebPusher.encode)",
                                f"{ceiling:,.0f}/s", "one core, no HTTP: the ceiling", "", None))
                results.append(("b_encode_cpu", "(b) push: CPU of one WebPusher.encode",
                                f"{encode_cpu * 1e6:.0f} µs", "process time, the same loop", "",
                                None))
                # The target is the kept sender's, the faster (the issue: measure the
                # asyncio sender beside the threaded one, keep whichever is faster).
                best = max(push, key=lambda k: push[k][2])
                for sender, (pushes, took, rate, used, _rss, cpu_push, whole) in push.items():
                    results.append((f"b_{sender}", f"(b) push, {sender} sender: Send to last push "
                                    f"({args.workers} workers × 2 loops × {args.concurrency})",
                                    f"{rate:,.0f}/s", f"{pushes:,} pushes in {took:.1f} s; "
                                    f"{rate / plain:.1f}× plain, {rate / (2 * ceiling):.0%} of the "
                                    "2-core ceiling, workers at "
                                    + "/".join(f"{u:.0%}" for u in used[:-1])
                                    + f"; {cpu_push * 1e6:.0f} µs of worker CPU per push: "
                                    f"{encode_cpu / cpu_push:.0%} of the ceiling by CPU; "
                                    f"{whole * 1e6:.0f} µs with PostgreSQL's and the sink's: "
                                    f"{encode_cpu / whole:.0%} of the ceiling by the "
                                    "machine's CPU",
                                    "≥ 40 % of ceiling" if sender == best else "",
                                    rate >= 0.4 * 2 * ceiling if sender == best else None))
                results.append(("b", f"(b) push: the faster sender ({best})",
                                f"{push[best][2]:,.0f}/s", f"{push[best][2] / (2 * ceiling):.0%} of "
                                "the 2-core ceiling", "≥ 2.5× plain", push[best][2] >= 2.5 * plain))
                rss = max(p[4] for p in push.values())
                results.append(("b_rss", "(b) worker peak memory (VmHWM)", f"{rss:.0f} MB",
                                "largest of the worker processes", "≤ 200 MB", rss <= 200))
                park_all(db)
                if args.push_only:  # (a) and (b) only
                    log.close()
                    db.session.remove()
                    db.engine.dispose()
                    return results

                # (c) email, interleaved: raw smtplib, workers, raw smtplib, workers
                results += measure_email(args, residents, db, admin, london, env, log, rng,
                                         smtp_port, sinks["smtp_pid"])

                if args.texts:
                    results += measure_texts(args, db, admin, london, env, log, rng, notify_url,
                                             notify_key, notify_template)
            log.close()
            db.session.remove()
            db.engine.dispose()
    finally:
        if not args.keep_database:
            drop_database(args.database_url, url)
    return results


def measure_email(args, residents, db, admin, london, env, log, rng, smtp_port, smtp_pid) -> list[tuple]:
    """(c) email, interleaved: raw ``smtplib`` over one connection with pre-built messages,
    then the workers on a new alert of about ``--emails`` residents, ``--rounds`` times."""
    from datetime import timedelta
    from sqlalchemy import func, select
    from webapp.accounts.models import User
    from webapp.alerts.services import audience_counts
    from webapp.delivery.models import Delivery
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
    results, raw_rates, worker_rates, messages, raw_cpu, worker_cpu = [], [], [], [], [], []
    for round_ in range(args.rounds):
        alert, nid = send_alert_now(db, admin, f"Email alert {round_ + 1}", ["email"],
                                    wards[:lo])
        write_all_parts(db)
        mine = Delivery.notification_id == nid
        # Hold the deliveries back until the workers are up; digest rows aside.
        db.session.execute(Delivery.__table__.update().where(mine).values(
            next_attempt_at=utcnow() + timedelta(days=1)))
        db.session.execute(Delivery.__table__.update().where(
            mine, Delivery.channel == "digest").values(state="sent"))
        db.session.commit()
        emails = db.session.scalar(select(func.count()).select_from(Delivery)
                                   .where(mine, Delivery.channel == "email"))
        if not messages:
            rows = db.session.execute(
                select(Delivery, Notification, User)
                .join(Notification, Notification.id == Delivery.notification_id)
                .join(User, User.id == Delivery.user_id)
                .where(mine, Delivery.channel == "email")).all()
            messages = [message_for(d, n, u) for d, n, u in rows]
        db.session.rollback()
        sink = cpu_seconds(smtp_pid)
        t, own = time.perf_counter(), time.process_time()  # A: raw smtplib, one connection
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
            for msg in messages:  # pre-built
                smtp.send_message(msg)
        raw_rates.append(len(messages) / (time.perf_counter() - t))
        raw_cpu.append(((time.process_time() - own) / len(messages),
                        (cpu_seconds(smtp_pid) - sink) / len(messages)))
        sink, used = cpu_seconds(smtp_pid), []
        worker_rates.append(emails / workers_send(db, args, env, mine, nid, log, used))  # B
        worker_cpu.append((used[0] / emails, (cpu_seconds(smtp_pid) - sink) / emails))
    raw_rate = sum(raw_rates) / len(raw_rates)
    worker_rate = sum(worker_rates) / len(worker_rates)
    print(f"[{residents:,}] (c) raw smtplib " + ", ".join(f"{r:,.0f}" for r in raw_rates)
          + "/s; workers " + ", ".join(f"{r:,.0f}" for r in worker_rates) + "/s; CPU µs per "
          "email (sender/sink): raw " + ", ".join(f"{a * 1e6:.0f}/{b * 1e6:.0f}" for a, b in raw_cpu)
          + "; workers " + ", ".join(f"{a * 1e6:.0f}/{b * 1e6:.0f}" for a, b in worker_cpu),
          flush=True)
    results.append(("c_raw", "(c) email: raw smtplib, one connection",
                    f"{raw_rate:,.0f}/s", f"{len(messages):,} pre-built messages, "
                    f"{args.rounds} runs interleaved with the workers'", "", None))
    results.append(("c", f"(c) email: Wardline workers ({args.workers} processes)",
                    f"{worker_rate:,.0f}/s", f"{worker_rate / raw_rate:.0%} of raw "
                    "(rendering, tokens and outbox included)", "≥ 100 %",
                    worker_rate >= raw_rate))
    return results


def measure_texts(args, db, admin, london, env, log, rng, notify_url, notify_key,
                  notify_template):
    """(d) text messages through GOV.UK Notify's client, to the fake Notify."""
    from datetime import timedelta
    from notifications_python_client.notifications import NotificationsAPIClient
    from sqlalchemy import func, select
    from webapp.accounts.phone import SmsNumber
    from webapp.alerts.services import audience_counts
    from webapp.delivery.models import Delivery
    from webapp.platform.timeutil import utcnow
    mobiles = add_mobiles(db, args.texts, rng)
    sms_preview = audience_counts(london.ward_ids, "prevention", ["sms"], True)
    alert, nid = send_alert_now(db, admin, "Urgent text alert", ["sms"], london, urgent=True)
    write_all_parts(db)
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

    plain_before = plain_client_loop()
    sms_env = {**env, "NOTIFY_API_KEY": notify_key, "NOTIFY_BASE_URL": notify_url,
               "NOTIFY_SMS_TEMPLATE_ID": notify_template}
    sms_rate = texts / workers_send(db, args, sms_env, mine, nid, log)
    failed = db.session.scalar(select(func.count()).select_from(Delivery).where(
        mine, Delivery.state != "sent"))
    assert failed == 0, f"{failed} texts not sent (see the workers' log)"
    plain_sms = (plain_before + plain_client_loop()) / 2
    return [("d_plain", "(d) sms: plain send_sms_notification() loop", f"{plain_sms:,.0f}/s",
             f"{len(numbers):,} texts, one at a time, to the fake Notify", "", None),
            ("d", f"(d) sms: Wardline workers ({args.workers} processes)", f"{sms_rate:,.0f}/s",
             f"{texts:,} texts ({mobiles:,} residents with a mobile); "
             f"{sms_rate / plain_sms:.1f}× the plain loop", "", None)]


def _number(value: str) -> float | None:
    try:
        return float(value.split()[0].rstrip("/s%").replace(",", ""))
    except ValueError:
        return None


# --------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="100000",
                        help="residents, comma-separated: each scale is measured on a "
                             "database of its own and printed side by side "
                             "(e.g. 100000,1000000: about ten minutes)")
    parser.add_argument("--residents", type=int, help="one scale (same as --scales N)")
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL,
                        help="PostgreSQL server to create the bench databases on")
    parser.add_argument("--plain", type=int, default=2000, help="messages in the plain loops")
    parser.add_argument("--emails", type=int, default=3000, help="emails for (c)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="(c): raw smtplib and workers interleaved, this many times each")
    parser.add_argument("--texts", type=int, default=2000,
                        help="residents with a mobile number for (d) (0: no (d))")
    parser.add_argument("--senders", default="threads,asyncio",
                        help="(b): push senders to measure, each on its own alert")
    parser.add_argument("--email-only", action="store_true",
                        help="(c) alone (with --emails and --rounds: a steadier ratio)")
    parser.add_argument("--push-only", action="store_true",
                        help="stop after (b) (push): no email (c) nor texts (d)")
    parser.add_argument("--only", choices=["a"],
                        help="a: only (a), the fan-out (about 2 minutes at 1,000,000, "
                             "most of it loading the residents)")
    parser.add_argument("--keep-database", metavar="NAME",
                        help="load each scale once into database NAME_<residents>, keep it "
                             "and reuse it in later runs (skips the minute or two of loading)")
    parser.add_argument("--empty-outbox", action="store_true",
                        help="with --keep-database: empty the outbox (deliveries, fan-outs) "
                        "first, as on a database just loaded (each run otherwise adds its "
                        "rows to the kept outbox)")
    parser.add_argument("--part-size", type=int,
                        help="FANOUT_PART_SIZE (user ids a part; default the app's)")
    parser.add_argument("--writers", type=int,
                        help="FANOUT_WRITERS (part writers per worker; default the app's)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--loops", type=int, default=2,
                        help="batch loops per worker (flask deliver --loops)")
    args = parser.parse_args()
    scales = [args.residents] if args.residents else [int(x) for x in args.scales.split(",")]
    # Read by the app's config, here and in the workers (they inherit the environment).
    if args.part_size:
        os.environ["FANOUT_PART_SIZE"] = str(args.part_size)
    if args.writers is not None:
        os.environ["FANOUT_WRITERS"] = str(args.writers)

    push_count = multiprocessing.Value("l", 0, lock=False)
    push_proc, push_port = start_process(_push_sink, push_count)
    email_count = multiprocessing.Value("l", 0)
    smtp_proc, smtp_port = start_process(_smtp_sink, email_count)
    notify_proc, notify = start_process(_notify_sink)
    sinks = {"push_port": push_port, "push_pid": push_proc.pid, "pushes": push_count,
             "smtp_port": smtp_port, "smtp_pid": smtp_proc.pid, "emails": email_count, "notify": notify}
    by_scale = {}
    started = time.perf_counter()

    def _stop(*_):  # SIGTERM (SIGINT is ignored in background jobs) cleans up as Ctrl+C
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _stop)
    try:
        for residents in scales:
            by_scale[residents] = measure(args, residents, sinks)
    finally:
        push_proc.terminate()
        os.kill(smtp_proc.pid, signal.SIGTERM)
        smtp_proc.join(5)
        os.kill(notify_proc.pid, signal.SIGTERM)
        notify_proc.join(5)

    print()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Machine: {os.cpu_count()} cores (load average at the end {load}); PostgreSQL; "
          f"{time.perf_counter() - started:.0f} s in all")
    ok_all = True
    first = by_scale[scales[0]]
    head = " | ".join(f"{n:,} residents" for n in scales)
    print(f"| measure | {head} | target | ok |")
    print("|" + "---|" * (len(scales) + 3))
    for i, (key, name, *_rest) in enumerate(first):
        cells, oks = [], []
        for n in scales:
            row = next((r for r in by_scale[n] if r[0] == key), None)
            if row is None:
                cells.append("")
                continue
            cells.append(f"{row[2]} ({row[3]})" if row[3] else row[2])
            if row[5] is not None:
                oks.append(row[5])
        target = first[i][4]
        ok = None if not oks else all(oks)
        print(f"| {name} | " + " | ".join(cells) + f" | {target} | "
              f"{'' if ok is None else ('yes' if ok else 'NO')} |")
        ok_all = ok_all and ok is not False
    if len(scales) > 1 and args.only != "a":  # sending cost independent of the outbox's size
        for key, name in (("b", "push"), ("c", "email")):
            small = _number(next(r for r in by_scale[scales[0]] if r[0] == key)[2])
            big = _number(next(r for r in by_scale[scales[-1]] if r[0] == key)[2])
            ok = big >= 0.9 * small
            ok_all = ok_all and ok
            print(f"| {name} at {scales[-1]:,} vs {scales[0]:,} residents | {big / small:.0%} | "
                  + " | " * (len(scales) - 2) + f" | ≥ 90 % | {'yes' if ok else 'NO'} |")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
