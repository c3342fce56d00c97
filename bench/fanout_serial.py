"""Benchmark: PostgreSQL's CPU per row of a London-wide fan-out's parts, written one after
another in this process with nothing sending (a script, not a test).

On a database kept by ``bench/fanout.py --keep-database NAME`` (residents loaded), presses
Send on a London-wide alert, writes every waiting part with ``write_next_part`` (as a part
writer does, committing each), and prints the backend's CPU (from /proc: the server must
be on this machine) by statement, then marks the alert's rows sent. ``--empty-outbox``
empties ``deliveries`` first (TRUNCATE: a bench database only), so runs of old and new
code interleaved start alike (the outbox's size changes the cost of its indexes).
Unlike ``bench/fanout_part.py`` (parts rolled back, the same pages every time, schema
variants), this is the real flow: new pages every part, committed.

    .venv/bin/python bench/fanout_serial.py \\
        postgresql://postgres@127.0.0.1/bench_fanout_1000000 --empty-outbox
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--empty-outbox", action="store_true")
    args = parser.parse_args()
    from sqlalchemy import event, text
    from fanout import cpu_seconds, send_alert_now
    from webapp import create_app
    from webapp.extensions import db
    url = args.url.replace("postgresql://", "postgresql+psycopg://", 1)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": tempfile.mkdtemp(),
                      "SECRET_KEY": "bench", "MAIL_WRITE_FILES": False})
    with app.app_context():
        from webapp.accounts.models import User
        from webapp.alerts.services import resolve_target
        from webapp.delivery.fanout import write_next_part
        if args.empty_outbox:
            db.session.execute(text("TRUNCATE deliveries"))
            db.session.commit()
        spent = collections.defaultdict(lambda: [0, 0.0])
        now = {}

        @event.listens_for(db.engine, "before_cursor_execute")
        def before(conn, cursor, statement, parameters, context, executemany):
            pid = cursor.connection.info.backend_pid
            now.update(key=" ".join(statement.split())[:60], pid=pid, cpu=cpu_seconds(pid))

        @event.listens_for(db.engine, "after_cursor_execute")
        def after(conn, cursor, statement, parameters, context, executemany):
            entry = spent[now["key"]]
            entry[0] += 1
            entry[1] += cpu_seconds(now["pid"]) - now["cpu"]

        admin = db.session.get(User, db.session.scalar(
            text("SELECT id FROM users WHERE role = 'admin'")))
        alert, nid = send_alert_now(db, admin, "Serial alert", ["email", "push"],
                                    resolve_target(admin, "london"))
        spent.clear()
        t, cpu, rows = time.perf_counter(), time.process_time(), 0
        while (n := write_next_part(look_first=False)) is not None:
            rows += n
        took, cpu = time.perf_counter() - t, time.process_time() - cpu
        event.remove(db.engine, "before_cursor_execute", before)
        event.remove(db.engine, "after_cursor_execute", after)
        total = sum(c for _, c in spent.values())
        print(f"{rows:,} rows in {took:.1f} s; PostgreSQL {total:.2f} CPU-s "
              f"({total * 1e6 / max(rows, 1):.1f} µs a row); this process (the part writer's "
              f"Python) {cpu:.2f} CPU-s; load {os.getloadavg()[0]:.1f}")
        for key, (count, cpu) in sorted(spent.items(), key=lambda kv: -kv[1][1])[:5]:
            print(f"  {count:4} × {cpu:6.2f} CPU-s  {key}")
        db.session.execute(text("UPDATE deliveries SET state = 'sent' "
                                "WHERE notification_id = :n AND state = 'queued'"), {"n": nid})
        db.session.commit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
