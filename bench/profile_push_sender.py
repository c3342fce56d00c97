"""Sender-only CPU per push: AsyncPushClient.send_many in batches of 200 against the bench's
loopback sink, for the checkout ROOT (run two checkouts, e.g. an old commit exported with
`git archive` and this one, in alternating processes to compare them).

Usage: .venv/bin/python bench/profile_push_sender.py ROOT PUSHES [prof] (ROOT: a checkout of
the code to measure, e.g. an old commit exported with git archive; prof: cProfile the batch
thread).
"""
import base64, multiprocessing as mp, os, sys, time, cProfile, pstats
root = sys.argv[1]; n = int(sys.argv[2]); prof = len(sys.argv) > 3
sys.path.insert(0, root); os.chdir(root)
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid
sys.path.insert(0, root + "/bench")
import fanout as bench
from webapp.delivery.push_async import AsyncPushClient
from webapp.delivery.push import build_payload
sink, port = bench.start_process(bench._push_sink, mp.Value("l", 0, lock=False))
def b64u(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
subs = []
for i in range(200):
    k = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    subs.append({"endpoint": f"http://127.0.0.1:{port}/push/{i}", "keys": {"p256dh": b64u(k), "auth": b64u(os.urandom(16))}})
key = Vapid(); key.generate_keys()
client = AsyncPushClient(key, "mailto:x@example.org", concurrency=8)
payload = build_payload("London-wide alert", "Keep your phone out of sight.", "/alerts/1", "alert-1")
items = [(s, payload, "normal") for s in subs]
client.send_many(items, 30)
sinkcpu = lambda: sum(map(int, open(f"/proc/{sink.pid}/stat").read().split()[13:15])) / os.sysconf("SC_CLK_TCK")
p = cProfile.Profile() if prof else None
tid = client._thread.native_id
loopcpu = lambda: sum(map(int, open(f"/proc/self/task/{tid}/stat").read().split()[13:15])) / os.sysconf("SC_CLK_TCK")
l0 = loopcpu()
c0, t0, s0 = time.process_time(), time.perf_counter(), sinkcpu()
if p: p.enable()
for _ in range(n // 200):
    r = client.send_many(items, 30)
    assert all(x.status == "sent" for x in r), r[:3]
if p: p.disable()
cpu, took, sc = time.process_time() - c0, time.perf_counter() - t0, sinkcpu() - s0
lc = loopcpu() - l0
print(f"{root}: {n} pushes, {cpu/n*1e6:.0f} µs sender CPU/push (loop thread {lc/n*1e6:.0f}), sink {sc/n*1e6:.0f} µs, {n/took:,.0f}/s, load {os.getloadavg()[0]:.1f}")
if p:
    pstats.Stats(p).sort_stats("tottime").print_stats(25)
print(f"connections opened: {getattr(getattr(client, '_pool', None), 'opened', '?')}")
client.close(); sink.terminate()
