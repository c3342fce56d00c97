"""In-process: deliver_due(200) in one batch loop against the loopback sink, on the bench DB;
CPU per push of the process, of the push loop thread; optional cProfile of the batch loop.

Usage: .venv/bin/python bench/profile_push_worker.py ROOT PUSHES [prof], on a database
loaded by `bench/fanout.py --push-only --keep-database bench_push` (PROFILE_DATABASE_URL,
default .../bench_push_100000): it requeues PUSHES push rows of the last alert and points
the devices at its own sink.
"""
import multiprocessing as mp, os, sys, time, cProfile, pstats, tempfile
root = sys.argv[1]; n = int(sys.argv[2]); prof = len(sys.argv) > 3
sys.path.insert(0, root); os.chdir(root)
sys.path.insert(0, root + "/bench")
import fanout as bench
sink, port = bench.start_process(bench._push_sink, mp.Value("l", 0, lock=False))
os.environ.update(DATABASE_URL=os.environ.get("PROFILE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_push_100000"),
                  WARDLINE_INSTANCE_PATH=tempfile.mkdtemp(), SECRET_KEY="x" * 40,
                  PUSH_ALLOW_LOOPBACK_FOR_TESTS="1", BASE_URL="http://wardline.bench")
from sqlalchemy import text
from webapp import create_app
from webapp.extensions import db
from webapp.delivery import worker
app = create_app()
with app.app_context():
    db.session.execute(text("UPDATE push_subscriptions SET endpoint = :url || substring(endpoint from position('/push/' in endpoint))"), {"url": f"http://127.0.0.1:{port}"})
    nid = db.session.execute(text("SELECT max(notification_id) FROM deliveries WHERE channel='push'")).scalar()
    db.session.execute(text("UPDATE deliveries SET state='queued', next_attempt_at=now() at time zone 'utc' - interval '1 minute', attempts=0 WHERE id IN (SELECT id FROM deliveries WHERE channel='push' AND notification_id=:n ORDER BY id LIMIT :k)"), {"n": nid, "k": n + 200})
    db.session.commit()
    worker.deliver_due(200)  # warm: client, loop, connections
    tid = worker._push_client._thread.native_id
    tcpu = lambda t: sum(map(int, open(f"/proc/self/task/{t}/stat").read().split()[13:15])) / os.sysconf("SC_CLK_TCK")
    p = cProfile.Profile(time.thread_time) if prof else None  # CPU of the batch thread, not wall time
    l0, c0, t0, sent = tcpu(tid), time.process_time(), time.perf_counter(), 0
    if p: p.enable()
    while sent < n:
        r = worker.deliver_due(200); sent += r["sent"]
        if not r["claimed"]: break
    if p: p.disable()
    cpu, took, lc = time.process_time() - c0, time.perf_counter() - t0, tcpu(tid) - l0
    print(f"{root}: {sent} pushes, {cpu/sent*1e6:.0f} µs CPU/push (push loop thread {lc/sent*1e6:.0f}), {sent/took:,.0f}/s, load {os.getloadavg()[0]:.1f}")
    if p: pstats.Stats(p).sort_stats(os.environ.get("PROFILE_SORT", "tottime")).print_stats(30)
    worker._push_client.close()
sink.terminate()
