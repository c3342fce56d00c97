"""Benchmark: PostgreSQL's CPU per row for one part of a London-wide fan-out (a script).

On a database kept by ``bench/fanout.py --keep-database NAME`` (its last London-wide alert
gives the audience), writes parts of that alert under a fresh notification, each in a
transaction that is rolled back, and prints the CPU the backend spent per row (from
/proc: the server must be on this machine). ``--variant`` runs DDL first in the same
transaction (rolled back with it), so schema variants are compared on the same data,
interleaved: e.g. ``--variant nofk="ALTER TABLE deliveries DROP CONSTRAINT
deliveries_user_id_fkey"``. ``--explain`` prints EXPLAIN (ANALYZE, BUFFERS, WAL) of one
part's INSERT for each variant. Rolled-back parts touch the same pages every time, so
they flatter what reads less (a plan with fewer page reads looked 2 µs a row cheaper here
and cost 20 % more in the real flow): confirm with ``bench/fanout_serial.py``.

    .venv/bin/python bench/fanout_part.py postgresql://postgres@127.0.0.1/bench_x_1000000 \
        --rounds 5 --variant "nofk=ALTER TABLE deliveries DROP CONSTRAINT deliveries_user_id_fkey"
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parts", default="1,10,25,40", help="part numbers (0 = first)")
    parser.add_argument("--part-size", type=int, default=20000)
    parser.add_argument("--variant", action="append", default=[],
                        help="name=SQL; run before the part in its transaction (';'-separated); "
                        "name=rewrite:OLD=>NEW[;;SQL] rewrites the part's statement (and runs SQL)")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    variants = [("base", "")] + [tuple(v.split("=", 1)) for v in args.variant]

    from sqlalchemy import event as sa_event, func, select
    from webapp import create_app
    from webapp.extensions import db
    url = args.url.replace("postgresql://", "postgresql+psycopg://", 1)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": tempfile.mkdtemp(),
                      "SECRET_KEY": "bench", "MAIL_WRITE_FILES": False})
    with app.app_context():
        import webapp.alerts.services  # noqa: F401  (registers the "alert" audience)
        from webapp.accounts.models import User
        from webapp.alerts.models import Alert
        from webapp.delivery.fanout import AUDIENCES
        from webapp.delivery.models import Notification
        from webapp.delivery.services import Event, fan_out
        alert = db.session.scalar(select(Alert).order_by(Alert.id.desc()).limit(1))
        lo = db.session.scalar(select(func.min(User.id)))
        source = db.session.scalar(select(Notification).where(
            Notification.source_type == "alert", Notification.source_id == alert.id))
        event = Event(kind=source.kind, source_type=source.source_type, source_id=alert.id,
                      title=source.title, category=source.category, urgent=source.urgent)
        captured = []

        rewrite = []  # (old, new): the variant's rewrite of the part's statement

        @sa_event.listens_for(db.engine, "before_cursor_execute", retval=True)
        def capture(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith(("WITH", "INSERT INTO DELIVERIES")):
                for old, new in rewrite:
                    statement = statement.replace(old, new)
                captured.append((statement, parameters))
            return statement, parameters

        results = {name: [] for name, _ in variants}
        for round_ in range(args.rounds):
            for name, ddl in variants:
                for p in (int(x) for x in args.parts.split(",")):
                    users = (lo + p * args.part_size, lo + (p + 1) * args.part_size - 1)
                    conn = db.session.connection()
                    pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                    sql = ddl
                    rewrite[:] = []
                    if ddl.startswith("rewrite:"):  # rewrite:OLD=>NEW[;;SQL]
                        change, _, sql = ddl[8:].partition(";;")
                        rewrite.append(tuple(change.split("=>", 1)))
                    for stmt in filter(None, (s.strip() for s in sql.split(";"))):
                        conn.exec_driver_sql(stmt)
                    note = Notification(content_key=os.urandom(32).hex(), source_type="alert",
                                        source_id=alert.id, kind=source.kind,
                                        title=source.title, category=source.category,
                                        urgent=source.urgent)
                    db.session.add(note)
                    db.session.flush()
                    captured.clear()
                    c0, t0 = cpu_seconds(pid), time.perf_counter()
                    rows = fan_out(event, AUDIENCES["alert"](alert.id, users=users),
                                   channels=tuple(alert.channels.split(",")),
                                   returning=False, notification_id=note.id, users=users)
                    took, cpu = time.perf_counter() - t0, cpu_seconds(pid) - c0
                    results[name].append((rows, cpu, took))
                    if args.explain and round_ == 0 and p == int(args.parts.split(",")[0]):
                        statement, params = captured[-1]
                        db.session.rollback()
                        conn = db.session.connection()
                        for stmt in filter(None, (s.strip() for s in sql.split(";"))):
                            conn.exec_driver_sql(stmt)
                        db.session.add(Notification(
                            id=note.id, content_key=note.content_key, source_type="alert",
                            source_id=alert.id, kind=source.kind, title=source.title,
                            category=source.category, urgent=source.urgent))
                        db.session.flush()
                        plan = conn.exec_driver_sql(
                            "EXPLAIN (ANALYZE, BUFFERS, WAL, VERBOSE off) " + statement,
                            params).scalars().all()
                        print(f"--- {name}: EXPLAIN of part {p}\n" + "\n".join(plan), flush=True)
                    db.session.rollback()
                print(f"round {round_} {name}: " + ", ".join(
                    f"{r:,} rows {c * 1e6 / max(r, 1):.1f} µs/row {t:.2f} s"
                    for r, c, t in results[name][-len(args.parts.split(",")):]), flush=True)
        print(f"load average {os.getloadavg()[0]:.1f}")
        for name, _ in variants:
            per_row = [c * 1e6 / r for r, c, _ in results[name] if r]
            rows = sum(r for r, _, _ in results[name])
            cpu = sum(c for _, c, _ in results[name])
            print(f"{name:12} {rows:,} rows, {cpu:.2f} CPU-s: {cpu * 1e6 / rows:.2f} µs/row "
                  f"(median of parts {statistics.median(per_row):.2f}), "
                  f"{rows / cpu:,.0f} rows per CPU-second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
