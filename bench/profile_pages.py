"""Profile the pages in-process (a script, not a test): CPU milliseconds per request and the
functions that cost most, through the real WSGI app with a session cookie, the
request log written at INFO (to /dev/null) and no Accept-Encoding (as wrk).

    .venv/bin/python bench/profile_pages.py [--residents 100000] [--requests 200]
        [--keep | --keep-database NAME] [--database-url URL-of-a-kept-database]
        [--only NAME] [--top 25] [--calls]

Builds the same database as ``bench/pages.py`` (its seeding; dropped at the end unless
``--keep``, which prints the URL to pass as ``--database-url`` next time to skip the build;
``--keep-database NAME`` builds it under that name once and reuses it on later runs),
then for each page runs ``--requests`` requests through ``app.wsgi_app`` (the WSGI
middleware included) with the process's CPU clock (``time.process_time``: the rest of the
machine disturbs it much less than wall time; PostgreSQL's own time is not in it), then once
more under cProfile if ``--top`` > 0, printing the functions with the most cumulative time.
The bare Flask "hello" of ``bench/pages.py`` is measured the same way, as the baseline.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import random
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fanout import DEFAULT_ADMIN_URL, drop_database, make_database, populate  # noqa: E402
from bench.pages import (add_concerns, add_conversations, bare, count_queries, pages,  # noqa: E402
                         session_cookie)


def build(app, residents: int) -> None:
    from importlib import import_module

    from webapp.core.cli import SEEDERS
    from webapp.extensions import db
    from webapp.wards.services import load_wards
    rng = random.Random(42)
    with app.app_context():
        db.create_all()
        load_wards()
        populate(db, residents, "http://127.0.0.1:9", rng)
        add_concerns(db, rng)
        for path in SEEDERS:
            module_name, func_name = path.split(":")
            getattr(import_module(module_name), func_name)()
        add_conversations(db, rng)


def values(app) -> tuple[dict, dict]:
    from sqlalchemy import select

    from webapp.accounts.demo import DEMO_RESIDENT, DEMO_SERGEANT, HERNE_HILL
    from webapp.accounts.models import User
    from webapp.alerts.models import Alert
    from webapp.extensions import db
    from webapp.meetings.models import Meeting
    from webapp.threads.models import Conversation
    with app.app_context():
        resident = db.session.scalar(select(User).where(User.email == DEMO_RESIDENT))
        sergeant = db.session.scalar(select(User).where(User.email == DEMO_SERGEANT))
        alert = db.session.scalar(select(Alert.id).where(Alert.state == "sent")
                                  .order_by(Alert.id.desc()).limit(1))
        meeting = db.session.scalar(select(Meeting.id).order_by(Meeting.id).limit(1))
        conversation = db.session.scalar(
            select(Conversation.id).where(Conversation.resident_id == resident.id,
                                          Conversation.subject == "Noise from the late-night shop"))
        cookies = {"visitor": None, "none": None, "resident": session_cookie(app, resident),
                   "officer": session_cookie(app, sergeant)}
        cookies["crowd"] = cookies["resident"]  # in-process: one resident, see --first-view
    return ({"ward": HERNE_HILL, "alert": alert, "meeting": meeting,
             "conversation": conversation}, cookies)


FIRST_VIEW = [False]  # --first-view: forget stored responses before each request


def run(wsgi, path: str, cookie: str | None, n: int, batches: int = 1) -> float:
    """CPU ms per request of ``path``: the least over ``batches`` batches of ``n``."""
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "",
               "SERVER_NAME": "wardline.bench", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
               "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr,
               "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
               "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "wardline.bench"}
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    status = []

    def start_response(s, headers, exc_info=None):
        status.append(s)

    def one():
        if FIRST_VIEW[0]:
            from webapp.platform import pagestore
            pagestore.clear(keep_paths=True)
        body = wsgi(dict(environ, **{"wsgi.input": io.BytesIO()}), start_response)
        for _ in body:
            pass
        if hasattr(body, "close"):
            body.close()
    one()
    if not status[-1].startswith("200"):
        raise RuntimeError(f"{path}: {status[-1]}")
    best = float("inf")
    for _ in range(batches):  # the quickest batch: the one the rest of the machine hurt least
        start = time.process_time()
        for _ in range(n):
            one()
        best = min(best, (time.process_time() - start) * 1000 / n)
    return best


SPLIT: dict[str, float] = {}


def _timed(owner, name: str, label: str) -> None:
    """Wrap ``owner.name`` to add the CPU time of its outermost calls to ``SPLIT[label]``."""
    original = getattr(owner, name)
    depth = [0]

    def wrapper(*args, **kwargs):
        depth[0] += 1
        start = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            depth[0] -= 1
            if not depth[0]:
                SPLIT[label] = SPLIT.get(label, 0.0) + time.process_time() - start
    setattr(owner, name, wrapper)


def split_timers() -> None:
    """``--split``: CPU time in rendering templates, in ORM/Core statements (the Session's
    execute/scalar/get, Python and waiting for PostgreSQL both; nested inside rendering
    when a template loads something) and in loading the user."""
    import flask.templating
    from flask_login import LoginManager
    from sqlalchemy.orm import Session
    _timed(flask.templating, "_render", "render")
    for name in ("execute", "scalar", "scalars", "get"):
        _timed(Session, name, "sql")
    _timed(LoginManager, "_load_user", "load_user")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--database-url", help="a database kept by --keep: skip the build")
    parser.add_argument("--keep", action="store_true", help="keep the database built")
    parser.add_argument("--keep-database", metavar="NAME",
                        help="build the database under this name once and reuse it (never "
                             "dropped)")
    parser.add_argument("--requests", type=int, default=200, help="requests per batch")
    parser.add_argument("--batches", type=int, default=1,
                        help="batches per page; the quickest counts (a loaded machine)")
    parser.add_argument("--only", help="only pages whose name contains this")
    parser.add_argument("--top", type=int, default=0, help="cProfile: the top N functions")
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--calls", action="store_true",
                        help="also count Python function calls per request (cProfile): a "
                             "figure the machine's load does not change")
    parser.add_argument("--split", action="store_true",
                        help="also print the CPU ms in rendering, SQL and loading the user")
    parser.add_argument("--filter", help="cProfile: only functions whose file:name matches")
    parser.add_argument("--first-view", action="store_true",
                        help="forget stored responses before each request: every request is "
                             "rendered, as a session's first view of a page is")
    args = parser.parse_args()
    FIRST_VIEW[0] = args.first_view

    instance = tempfile.mkdtemp(prefix="wardline-profile-pages-")
    reused = False
    if args.database_url:
        url = args.database_url
    else:
        url, reused = make_database(args.admin_url, args.keep_database)
    try:
        from webapp import create_app
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": instance,
                          "SECRET_KEY": "profile-pages-" + (
                              "kept" if args.database_url or args.keep or args.keep_database
                              else secrets.token_hex(8)),
                          "MAIL_WRITE_FILES": False, "BASE_URL": "http://wardline.bench",
                          "RATELIMIT_ENABLED": False})
        logging.getLogger().setLevel(logging.WARNING)
        if not args.database_url and not reused:
            t = time.perf_counter()
            build(app, args.residents)
            print(f"built in {time.perf_counter() - t:.0f} s", flush=True)
        # As under gunicorn: the request log at INFO, written (here to /dev/null).
        from webapp.platform.requestlog import configure_logging
        configure_logging(app.config["LOG_FORMAT"], open(os.devnull, "w"))
        logging.getLogger().setLevel(logging.INFO)
        v, cookies = values(app)
        targets = [p for p in pages(v) if not args.only or args.only in p.name]
        if args.split:
            split_timers()
        base = run(bare.wsgi_app, "/", None, args.requests * 5)
        print(f"bare Flask: {base:.3f} CPU ms/request\n")
        print("| page | CPU ms/request | vs bare | queries |")
        print("| --- | --- | --- | --- |")
        for p in targets:
            SPLIT.clear()
            ms = run(app.wsgi_app, p.path, cookies[p.who], args.requests, args.batches)
            split = " ".join(f"{k} {v * 1000 / (args.requests * args.batches + 1):.2f}"
                             for k, v in sorted(SPLIT.items()))
            q = count_queries(app, p.path, cookies[p.who])
            if args.calls:
                counter = cProfile.Profile()
                counter.enable()
                run(app.wsgi_app, p.path, cookies[p.who], 10)
                counter.disable()
                calls = sum(v[1] for v in pstats.Stats(counter).stats.values()) / 11
                split = f"{calls:,.0f} calls" + (f" {split}" if split else "")
            print(f"| {p.name} | {ms:.2f} | {base / ms:.0%} | {q} |{' ' + split if split else ''}",
                  flush=True)
            if args.top:
                profiler = cProfile.Profile(time.process_time)  # CPU, not wall, time
                profiler.enable()
                run(app.wsgi_app, p.path, cookies[p.who], max(args.requests // 4, 10))
                profiler.disable()
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(
                    *([args.filter] if args.filter else []), args.top)
                print(out.getvalue())
        return 0
    finally:
        shutil.rmtree(instance, ignore_errors=True)
        if args.keep_database or args.database_url:
            pass
        elif args.keep:
            print(f"kept: --database-url {url}")
        else:
            drop_database(args.admin_url, url)


if __name__ == "__main__":
    sys.exit(main())
