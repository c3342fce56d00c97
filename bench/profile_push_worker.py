"""In-process: deliver_due() in batch loops (threads, as ``flask deliver --loops``) against
the loopback sink, on the bench DB; CPU per push of the process and of the push loop
thread, and the rate; optional cProfile of a single batch loop.

Usage: .venv/bin/python bench/profile_push_worker.py ROOT PUSHES [prof], on a database
loaded by `bench/fanout.py --push-only --keep-database bench_push` (PROFILE_DATABASE_URL,
default .../bench_push_100000): it requeues PUSHES push rows of the last alert and points
the devices at its own sink. PROFILE_BATCH: rows a batch (500); PROFILE_LOOPS: batch loops,
comma-separated, one run each (default 1,2,1,2: interleaved, as the machine is noisy).
"""
import multiprocessing as mp, os, sys, time, cProfile, pstats, tempfile, threading, logging
root = sys.argv[1]; n = int(sys.argv[2]); prof = len(sys.argv) > 3
BATCH = int(os.environ.get("PROFILE_BATCH", "500"))
LOOPS = [int(x) for x in os.environ.get("PROFILE_LOOPS", "1" if prof else "1,2,1,2").split(",")]
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
logging.getLogger().setLevel(logging.WARNING)
with app.app_context():
    db.session.execute(text("UPDATE push_subscriptions SET endpoint = :url || substring(endpoint from position('/push/' in endpoint))"), {"url": f"http://127.0.0.1:{port}"})
    db.session.commit()
    nid = db.session.execute(text("SELECT max(notification_id) FROM deliveries WHERE channel='push'")).scalar()

    def requeue(k):
        db.session.execute(text("UPDATE deliveries SET state='queued', next_attempt_at=now() at time zone 'utc' - interval '1 minute', attempts=0, claimed_by=NULL, lease_until=NULL WHERE id IN (SELECT id FROM deliveries WHERE channel='push' AND notification_id=:n ORDER BY id LIMIT :k)"), {"n": nid, "k": k})
        db.session.commit()

    requeue(BATCH)
    worker.deliver_due(BATCH)  # warm: client, loop, connections
    tid = worker._push_client._thread.native_id
    tcpu = lambda t: sum(map(int, open(f"/proc/self/task/{t}/stat").read().split()[13:15])) / os.sysconf("SC_CLK_TCK")
    for loops in LOOPS:
        requeue(n)
        sent, lock = [0], threading.Lock()
        p = cProfile.Profile(time.thread_time) if prof else None  # CPU of the batch thread, not wall time

        def run(p=p, sent=sent, lock=lock):
            with app.app_context():
                if p: p.enable()
                while True:
                    r = worker.deliver_due(BATCH)
                    with lock: sent[0] += r["sent"]
                    if r["claimed"] < BATCH: break
                if p: p.disable()

        l0, c0, t0 = tcpu(tid), time.process_time(), time.perf_counter()
        threads = [threading.Thread(target=run) for _ in range(loops)]
        for t in threads: t.start()
        for t in threads: t.join()
        cpu, took, lc = time.process_time() - c0, time.perf_counter() - t0, tcpu(tid) - l0
        print(f"{root}: {loops} loop(s), {sent[0]} pushes, {cpu/sent[0]*1e6:.0f} µs CPU/push (push loop thread {lc/sent[0]*1e6:.0f}), {sent[0]/took:,.0f}/s, load {os.getloadavg()[0]:.1f}", flush=True)
        if p: pstats.Stats(p).sort_stats(os.environ.get("PROFILE_SORT", "tottime")).print_stats(30)
    worker._push_client.close()
sink.terminate()
