"""Benchmark: how fast the pages are, from outside, beside a bare Flask app (a script, not a test).

    .venv/bin/python bench/pages.py [--residents 100000] [--duration 5] [--rounds 1]

Creates its own PostgreSQL database (dropped at the end; ``BENCH_DATABASE_URL``, else
``TEST_DATABASE_URL``, else the local server), loads London's wards and ``--residents``
residents with ``bench/fanout.py``'s seeding, gives each a survey answer (so ward charts and
counts run at a city's scale), runs ``flask seed-demo``'s seeders, and adds a 1,000-message
conversation for the demo resident and 10,000 conversations for the demo sergeant's inbox.

It then starts two gunicorns with the same settings (``gunicorn.conf.py``, 2 sync workers):
the app (``RATELIMIT_ENABLED=0``) and a bare Flask app answering "hello", and runs Debian's
``wrk`` (``make bench-tools``) with 50 connections, interleaved: bare, page, bare, page...
so each page is compared with the bare app measured just before it, under the same load
from the rest of the machine. Signed-in pages are asked for with a session cookie, the same
one throughout a run (a phone going back to a page: after its first view, answered from
the response stored for that session, see ``webapp/platform/pagestore.py``). The
officer's is made just before each run, since a staff session notes its activity in the
cookie once a minute. One more row, for reference and without a target, is the crowd an
alert brings: ``bench/crowd.lua`` gives each request the cookie of another of 5,000 bench
residents, so every request is a session's first view of the alert page.

For each page it prints requests/s, the 99th percentile latency, the ratio to the bare
app, the CPU milliseconds the app's workers spent per request beside the bare app's (from
/proc: a figure the rest of the machine's load disturbs much less than requests/s;
PostgreSQL's own time is not in it) and the number of SQL statements the page runs
(counted in-process on the same database, when the page is rendered: a visitor's stored
response costs one statement, on a connection of its own), whether a shared cache may keep
it, then which targets are met:

- resident pages and the officer inbox: >= 20 % of bare Flask and p99 <= 100 ms;
- pages a visitor sees: >= 50 % of bare Flask, and kept by a shared cache (asked of the
  running app: public, no Set-Cookie, Vary: Cookie and an ETag); signed-in pages never;
- every page: at most 6 SQL statements.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fanout import (DEFAULT_ADMIN_URL, cpu_seconds, drop_database,  # noqa: E402
                          make_database, populate)

MAX_QUERIES = 6
RESIDENT_RATIO, RESIDENT_P99_MS, VISITOR_RATIO = 0.20, 100.0, 0.50

# The bare app gunicorn serves beside ours: ``gunicorn bench.pages:bare``.
bare = Flask("bare")


@bare.get("/")
def hello():
    return "hello"


@dataclass
class Target:
    name: str
    path: str
    who: str  # visitor | resident | officer | crowd, none (no target: for reference)


def pages(v: dict) -> list[Target]:
    return [
        Target("/healthz", "/healthz", "none"),
        Target("ward home, visitor", f"/wards/{v['ward']}", "visitor"),
        Target("ward home, resident", f"/wards/{v['ward']}", "resident"),
        Target("alert page, visitor", f"/alerts/{v['alert']}", "visitor"),
        Target("alert page, resident", f"/alerts/{v['alert']}", "resident"),
        Target("meeting page, visitor", f"/meetings/{v['meeting']}", "visitor"),
        Target("ward meetings feed (.ics)", f"/wards/{v['ward']}/meetings.ics", "visitor"),
        Target("ward news feed (Atom)", f"/wards/{v['ward']}/feed.atom", "visitor"),
        Target("1,000-message conversation", f"/messages/{v['conversation']}", "resident"),
        Target("/messages, resident", "/messages", "resident"),
        Target("/meetings, resident", "/meetings", "resident"),
        Target("settings, resident", "/settings", "resident"),
        Target("officer inbox (10,000)", "/officer/inbox", "officer"),
        # For reference, no target: the crowd an alert brings, each request a different
        # resident's first view (nothing stored for their session yet).
        Target("alert page, a crowd (each request another resident)", f"/alerts/{v['alert']}",
               "crowd"),
    ]


# --------------------------------------------------------------------------- data
def add_concerns(db, rng: random.Random) -> int:
    """One to three "what matters most" answers per bench resident, in their home ward."""
    from sqlalchemy import select

    from webapp.accounts.models import Concern, User, UserWard
    from webapp.platform.taxonomy import CONCERN_TOPICS
    topics = [t for t in CONCERN_TOPICS if t != "other"]
    rows = db.session.execute(select(User.id, User.respondent_key, UserWard.ward_id)
                              .join(UserWard, UserWard.user_id == User.id)
                              .where(UserWard.is_home, User.email.like("%@bench.example"))).all()
    batch = []
    for uid, key, ward_id in rows:
        for topic in rng.sample(topics, rng.randint(1, 3)):
            batch.append({"user_id": uid, "respondent_key": key, "ward_id": ward_id,
                          "topic": topic, "source": "survey", "source_id": 0})
    for start in range(0, len(batch), 20_000):
        db.session.execute(Concern.__table__.insert(), batch[start:start + 20_000])
    db.session.commit()
    return len(batch)


def add_conversations(db, rng: random.Random) -> dict:
    """A 1,000-message conversation for the demo resident, and 10,000 conversations in the
    demo sergeant's wards (Herne Hill, Vauxhall) from the bench residents living there."""
    from datetime import timedelta

    from sqlalchemy import func, select, text

    from webapp.accounts.demo import DEMO_RESIDENT, DEMO_SERGEANT, HERNE_HILL, VAUXHALL
    from webapp.accounts.models import User, UserWard
    from webapp.platform.timeutil import utcnow
    from webapp.threads import services as threads
    from webapp.threads.models import Conversation, Message
    from webapp.wards.models import Ward
    resident = db.session.scalar(select(User).where(User.email == DEMO_RESIDENT))
    sergeant = db.session.scalar(select(User).where(User.email == DEMO_SERGEANT))
    herne_hill = db.session.scalar(select(Ward).where(Ward.code == HERNE_HILL))
    vauxhall = db.session.scalar(select(Ward).where(Ward.code == VAUXHALL))
    start = utcnow() - timedelta(days=30)
    long = threads.start_conversation(resident, herne_hill, "Noise from the late-night shop",
                                      "The shop on the corner plays music until 3 am.",
                                      now=start)
    db.session.flush()
    db.session.execute(Message.__table__.insert(), [
        {"conversation_id": long.id, "author_id": sergeant.id if i % 2 else resident.id,
         "from_officer": bool(i % 2), "body": f"Message {i + 2} of 1,000. " * rng.randint(1, 6),
         "created_at": start + timedelta(minutes=40 * (i + 1))} for i in range(999)])
    last = db.session.scalar(select(func.max(Message.id)).where(Message.conversation_id == long.id))
    long.last_message_id, long.last_message_at = last, start + timedelta(minutes=40 * 999)
    long.status, long.awaiting_since = "answered", None
    db.session.commit()

    people = db.session.execute(select(UserWard.user_id, UserWard.ward_id).where(
        UserWard.ward_id.in_((herne_hill.id, vauxhall.id)))).all()
    now = utcnow()
    conversations = []
    for i in range(10_000):
        uid, ward_id = people[i % len(people)]
        when = now - timedelta(minutes=rng.randint(1, 60 * 24 * 365))
        awaiting = rng.random() < 0.3
        conversations.append({
            "resident_id": uid, "ward_id": ward_id, "subject": f"Question {i} about my street",
            "status": "awaiting" if awaiting else rng.choice(["answered", "closed"]),
            "created_at": when, "last_message_at": when, "last_message_id": 0,
            "awaiting_since": when if awaiting else None})
    ids = [row[0] for row in db.session.execute(
        Conversation.__table__.insert().returning(Conversation.__table__.c.id), conversations)]
    db.session.execute(Message.__table__.insert(), [
        {"conversation_id": cid, "author_id": row["resident_id"], "from_officer": False,
         "body": "Cars park on the pavement every evening.", "created_at": row["created_at"]}
        for cid, row in zip(ids, conversations, strict=True)])
    db.session.execute(text(
        "UPDATE conversations c SET last_message_id = m.id FROM messages m "
        "WHERE m.conversation_id = c.id AND c.last_message_id = 0"))
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    return {"conversation": long.id, "resident": resident, "sergeant": sergeant,
            "ward": HERNE_HILL}


def session_cookie(app, user) -> str:
    """The session cookie a browser of ``user`` carries after signing in (staff: past the
    second factor) and seeing a first page, signed with the app's key: a session id in the
    user id (signing in makes one, and each request checks it was not signed out), Flask-
    Login's ``_id`` of this client (wrk, and profile_pages.py, from 127.0.0.1 with no
    User-Agent) and the CSRF token the first page stored. Without the last two (as before
    2026-11-26 22:00) every response changed the session (``_fresh`` set to False, a new
    CSRF token) and set a new cookie, which a browser would have kept after its first page."""
    from hashlib import sha512

    from webapp.accounts.sessions import new_session_id
    user.session_id = new_session_id()
    data = {"_user_id": user.get_id(), "_fresh": True,
            "_id": sha512(b"b'127.0.0.1'|None").hexdigest(),  # Flask-Login's identifier
            "csrf_token": secrets.token_hex(20)}
    user.session_id = None
    if user.role in ("officer", "admin"):
        data["mfa_user_id"] = user.id
        data["staff_since"] = data["staff_seen"] = int(time.time())
    value = app.session_interface.get_signing_serializer(app).dumps(data)
    return f"{app.config['SESSION_COOKIE_NAME']}={value}"


def count_queries(app, path: str, cookie: str | None) -> int:
    """SQL statements one request for ``path`` runs (in-process, the same database) when it
    is rendered (a visitor's stored response is not: it costs the one statement reading the
    generations, on a connection of its own)."""
    from sqlalchemy import event

    from webapp.extensions import db
    from webapp.platform import pagestore
    count = 0

    def count_one(*args):
        nonlocal count
        count += 1
    with app.app_context():
        engine = db.engine
    client = app.test_client()
    if cookie:
        name, value = cookie.split("=", 1)
        client.set_cookie(name, value)
    client.get(path)  # warm: per-process caches are not what is counted
    pagestore.clear()
    event.listen(engine, "before_cursor_execute", count_one)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", count_one)
    if response.status_code != 200:
        raise RuntimeError(f"{path}: {response.status_code}")
    return count


def shared_cacheable(url: str, cookie: str | None) -> tuple[bool, str]:
    """Would a shared cache keep this response (RFC 9111 section 3)? Asked of the running
    app: public (or a lifetime), no private/no-store, no Set-Cookie; and whenever it may,
    Vary: Cookie (a signed-in request is never answered from it) and a validator."""
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        headers = response.headers
    cache = headers.get("Cache-Control", "")
    stored = "Set-Cookie" not in headers and "private" not in cache and \
        "no-store" not in cache and ("public" in cache or "max-age" in cache)
    vary = {v.strip().lower() for v in headers.get("Vary", "").split(",")}
    if stored and ("cookie" not in vary or not headers.get("ETag")):
        raise RuntimeError(f"{url}: shared-cacheable without Vary: Cookie and an ETag: {headers}")
    return stored, cache


# --------------------------------------------------------------------------- servers, wrk
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(app_spec: str, env: dict, workers: int, log, probe: str = "/") -> tuple[subprocess.Popen, str]:
    port = free_port()
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    proc = subprocess.Popen([gunicorn, "-c", str(ROOT / "gunicorn.conf.py"), "-w", str(workers),
                             "-b", f"127.0.0.1:{port}", "--access-logfile", "/dev/null",
                             "--max-requests", "0",  # no recycling mid-run (CPU is per worker)
                             app_spec], cwd=ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    answered = 0
    while time.time() < deadline:  # until both workers have answered (a worker boots slowly)
        try:
            with urllib.request.urlopen(url + probe, timeout=5) as response:
                answered += response.status == 200
        except OSError:
            time.sleep(0.2)
        if answered >= 2 * workers:
            return proc, url
    proc.kill()
    raise RuntimeError(f"gunicorn {app_spec} did not start")


def workers_cpu(master: subprocess.Popen) -> float:
    """CPU seconds used so far by gunicorn's workers (the master's children)."""
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    return sum(cpu_seconds(int(pid)) for pid in children)


def drain(url: str, timeout: float = 60.0) -> None:
    """Wait until the app answers /healthz quickly: the requests a previous run left queued
    are done."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=10):
                pass
        except OSError:
            continue
        if time.perf_counter() - start < 0.2:
            return


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


LATENCY = re.compile(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", re.M)
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, duration: int, connections: int, cookie: str | None,
        server: subprocess.Popen | None = None) -> tuple[float, float, int, float]:
    """Run wrk; return (requests/s, p99 in ms, requests that timed out after 10 s, CPU
    milliseconds ``server``'s workers spent per request). Non-2xx answers make it an error."""
    cpu_before = workers_cpu(server) if server else 0.0
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
               "--latency", url]
    if cookie and cookie.startswith("@"):  # a file of cookies, one per request in turn
        command[1:1] = ["-s", str(CROWD_SCRIPT)]
        env = dict(os.environ, WRK_COOKIES=cookie[1:])
    elif cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True,
                         env=env if cookie and cookie.startswith("@") else None).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"{url}: non-2xx answers\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = LATENCY.search(out).groups()
    timeouts = re.search(r"timeout (\d+)", out)
    done = int(re.search(r"(\d+) requests in", out).group(1))
    cpu_ms = (workers_cpu(server) - cpu_before) * 1000 / max(done, 1) if server else 0.0
    return rps, float(value) * UNIT_MS[unit], int(timeouts.group(1)) if timeouts else 0, cpu_ms


CROWD_SCRIPT = Path(__file__).with_name("crowd.lua")
CROWD = 5_000  # residents in the crowd: more than a 5 s run at render speed asks for


def crowd_cookies(app, db, folder: str) -> str:
    """``@path`` of a file of ``CROWD`` bench residents' session cookies, one per line."""
    from sqlalchemy import select

    from webapp.accounts.models import User
    users = db.session.scalars(select(User).where(User.email.like("%@bench.example"))
                               .order_by(User.id).limit(CROWD)).all()
    path = Path(folder) / "crowd-cookies.txt"
    path.write_text("".join(session_cookie(app, user) + "\n" for user in users))
    return f"@{path}"


# The cache directives of deploy/nginx/wardline.conf's "location /", over plain HTTP.
NGINX_CONFIG = """{user}
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{temps}
    proxy_cache_path {folder}/cache levels=1:2 keys_zone=wardline:10m max_size=512m
                     inactive=10m use_temp_path=off;
    upstream wardline {{ server {upstream}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://wardline;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_cache wardline;
            proxy_cache_key $scheme$proxy_host$request_uri$http_hx_request;
            proxy_cache_bypass $cookie_session $cookie_remember_token;
            proxy_no_cache $cookie_session $cookie_remember_token;
            proxy_cache_revalidate on;
            proxy_cache_lock on;
            add_header X-Cache-Status $upstream_cache_status always;
        }}
    }}
}}
"""


def shared_cache_runs(args, targets, app_url, bare_url, bare_proc, app_proc, instance, servers):
    """Visitors' pages through nginx's cache (bare Flask still direct, interleaved): what a
    deployment with the shared cache gives; the app's CPU is what reaches it (revalidations
    every 10 s)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    folder = Path(instance) / "nginx"
    folder.mkdir()
    port = free_port()
    temps = "\n".join(f"    {kind}_temp_path {folder / kind};"
                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    import grp
    import pwd
    user = ""  # as root, workers would drop to nobody, who may not write the cache
    if os.geteuid() == 0:
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"
    (folder / "nginx.conf").write_text(NGINX_CONFIG.format(
        user=user, folder=folder, temps=temps, upstream=app_url.removeprefix("http://"), port=port))
    proc = subprocess.Popen([nginx, "-p", str(folder), "-c", str(folder / "nginx.conf"),
                             "-e", str(folder / "error.log"), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    servers.append(proc)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/healthz", timeout=5).close()
            break
        except OSError:
            time.sleep(0.1)
    print(f"\nThrough nginx's shared cache (proxy_cache of deploy/nginx/wardline.conf, 1 "
          f"worker process), load before: {os.getloadavg()[0]:.2f}\n")
    print("| page | req/s | p99 | bare Flask req/s (direct) | vs bare Flask | app CPU ms/request |")
    print("| --- | --- | --- | --- | --- | --- |")
    for p in targets:
        wrk(url + p.path, 1, 2, None)  # nginx stores it
        base_rps, page_rps, p99s, page_cpu = [], [], [], []
        for _ in range(args.rounds):
            base_rps.append(wrk(bare_url + "/", args.duration, args.connections, None, bare_proc)[0])
            rps, p99, _late, cpu = wrk(url + p.path, args.duration, args.connections, None, app_proc)
            page_rps.append(rps)
            p99s.append(p99)
            page_cpu.append(cpu)
        base, rps = sum(base_rps) / len(base_rps), sum(page_rps) / len(page_rps)
        print(f"| {p.name} | {rps:,.0f} | {max(p99s):.0f} ms | {base:,.0f} | {rps / base:.0%} | "
              f"{sum(page_cpu) / len(page_cpu):.3f} |", flush=True)


# --------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=1, help="bare/page pairs per page")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", help="measure only pages whose name contains this (or one "
                        "of several separated by |)")
    parser.add_argument("--shared-cache", action="store_true",
                        help="then measure visitors' pages again through nginx with the "
                             "proxy_cache of deploy/nginx/wardline.conf")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is missing: run `make bench-tools` (Debian's wrk)", file=sys.stderr)
        return 2

    rng = random.Random(42)
    instance = tempfile.mkdtemp(prefix="wardline-bench-pages-")
    url, _ = make_database(args.database_url)
    secret = secrets.token_urlsafe(32)
    servers = []
    log = open(Path(instance) / "gunicorn.log", "w")
    try:
        import logging

        from webapp import create_app
        from webapp.extensions import db
        config = {"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": instance, "SECRET_KEY": secret,
                  "MAIL_WRITE_FILES": False, "BASE_URL": "http://wardline.bench",
                  "RATELIMIT_ENABLED": False}
        app = create_app(config)
        logging.getLogger().setLevel(logging.WARNING)
        with app.app_context():
            t = time.perf_counter()
            db.create_all()
            from webapp.wards.services import load_wards
            load_wards()
            info = populate(db, args.residents, "http://127.0.0.1:9", rng)
            concerns = add_concerns(db, rng)
            from webapp.core.cli import SEEDERS
            from importlib import import_module
            for path in SEEDERS:
                module_name, func_name = path.split(":")
                getattr(import_module(module_name), func_name)()
            made = add_conversations(db, rng)
            from sqlalchemy import select

            from webapp.alerts.models import Alert
            from webapp.meetings.models import Meeting
            from webapp.wards.models import Ward
            ward_id = db.session.scalar(select(Ward.id).where(Ward.code == made["ward"]))
            alert = db.session.scalar(select(Alert.id).where(Alert.state == "sent")
                                      .order_by(Alert.id.desc()).limit(1))
            meeting = db.session.scalar(select(Meeting.id).order_by(Meeting.id).limit(1))
            cookies = {"visitor": None, "none": None,
                       "resident": session_cookie(app, made["resident"]),
                       "officer": session_cookie(app, made["sergeant"]),
                       "crowd": crowd_cookies(app, db, instance)}
            sergeant = made["sergeant"].id
            print(f"{info['residents']:,} residents, {concerns:,} survey answers, demo data, "
                  f"a 1,000-message conversation and 10,000 inbox conversations in "
                  f"{time.perf_counter() - t:.0f} s (ward {made['ward']}, id {ward_id})", flush=True)
        values = {"ward": made["ward"], "alert": alert, "meeting": meeting,
                  "conversation": made["conversation"]}
        targets = [p for p in pages(values)
                   if not args.only or any(name in p.name for name in args.only.split("|"))]
        def cookie_for(who: str) -> str | None:
            """A staff session notes its activity (a new cookie) once a minute: a browser
            keeps the new one, wrk cannot, so each run gets a session started just now."""
            if who != "officer":
                return cookies[who]
            with app.app_context():
                from webapp.accounts.models import User
                return session_cookie(app, db.session.get(User, sergeant))

        queries = {p.name: count_queries(app, p.path, cookies["resident"] if p.who == "crowd"
                                         else cookie_for(p.who)) for p in targets}

        env = dict(os.environ, DATABASE_URL=url, SECRET_KEY=secret, RATELIMIT_ENABLED="0",
                   WARDLINE_INSTANCE_PATH=instance, BASE_URL="http://wardline.bench",
                   MAIL_WRITE_FILES="0", PYTHONDONTWRITEBYTECODE="1")
        bare_proc, bare_url = start_gunicorn("bench.pages:bare", env, args.workers, log)
        servers.append(bare_proc)
        app_proc, app_url = start_gunicorn("wsgi:app", env, args.workers, log, "/healthz")
        servers.append(app_proc)
        # Warm both with few connections: a sync worker answers every request it accepted,
        # even after wrk has gone, so 50 connections on a slow page leave a backlog that
        # would be counted against the next page.
        wrk(bare_url + "/", 2, 2, None)
        for p in targets:
            wrk(app_url + p.path, 1, 2, cookie_for(p.who) if p.who != "crowd" else None)

        print(f"\nwrk, {args.connections} connections, {args.duration} s runs, gunicorn "
              f"{args.workers} sync workers, PostgreSQL; load before: {os.getloadavg()[0]:.2f}\n")
        cacheable = {p.name: shared_cacheable(app_url + p.path, cookies["resident"]
                                              if p.who == "crowd" else cookie_for(p.who))
                     for p in targets}
        print("| page | req/s | p99 | bare Flask req/s | vs bare Flask | CPU ms/request (bare) "
              "| CPU vs bare | queries | shared cache | target | met |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        met_all = True
        for p in targets:
            base_rps, page_rps, p99s, base_cpu, page_cpu = [], [], [], [], []
            for _ in range(args.rounds):
                drain(app_url)
                found = wrk(bare_url + "/", args.duration, args.connections, None, bare_proc)
                base_rps.append(found[0])
                base_cpu.append(found[3])
                rps, p99, late, cpu = wrk(app_url + p.path, args.duration, args.connections,
                                          cookie_for(p.who), app_proc)
                page_cpu.append(cpu)
                page_rps.append(rps)
                p99s.append(p99 if not late else float("inf"))
            base, rps, p99 = sum(base_rps) / len(base_rps), sum(page_rps) / len(page_rps), max(p99s)
            ratio = rps / base
            cpu, cpu_base = sum(page_cpu) / len(page_cpu), sum(base_cpu) / len(base_cpu)
            p99_text = f"{p99:.0f} ms" if p99 != float("inf") else "> 10 s (timeouts)"
            q = queries[p.name]
            stored, cache_control = cacheable[p.name]
            if p.who == "visitor":
                goal, met = f">= {VISITOR_RATIO:.0%}, shared-cacheable", \
                    ratio >= VISITOR_RATIO and stored
            elif p.who in ("resident", "officer"):
                goal = f">= {RESIDENT_RATIO:.0%}, p99 <= {RESIDENT_P99_MS:.0f} ms, never shared"
                met = ratio >= RESIDENT_RATIO and p99 <= RESIDENT_P99_MS and not stored
            elif p.who == "crowd":
                goal, met = "for reference: every request a first view", not stored
            else:
                goal, met = "", True
            goal += f"{', ' if goal else ''}<= {MAX_QUERIES} queries"
            met = met and q <= MAX_QUERIES
            met_all &= met
            print(f"| {p.name} | {rps:,.0f} | {p99_text} | {base:,.0f} | {ratio:.0%} | "
                  f"{cpu:.2f} ({cpu_base:.2f}) | {cpu_base / cpu:.0%} | {q} | "
                  f"{'yes' if stored else 'no'} ({cache_control or '-'}) | "
                  f"{goal} | {'yes' if met else 'NO'} |", flush=True)
        if args.shared_cache:
            shared_cache_runs(args, [p for p in targets if p.who == "visitor"], app_url,
                              bare_url, bare_proc, app_proc, instance, servers)
        print(f"\nload after: {os.getloadavg()[0]:.2f}")
        print("every target met" if met_all else "NOT every target met")
        return 0 if met_all else 1
    finally:
        for proc in servers:
            stop(proc)
        log.close()
        if sys.exc_info()[0] is not None:
            print((Path(instance) / "gunicorn.log").read_text()[-3000:], file=sys.stderr)
        drop_database(args.database_url, url)
        shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
