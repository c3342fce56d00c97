"""Prometheus metrics at /metrics: only for allowed scrapers; requests by route, method and
status with latency; the outbox's depth and oldest due delivery read at scrape time; sends
and failures by reason from the worker; scheduler tick durations; several processes
added up in multiprocess mode. Scraped with prometheus_client's own text parser."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.delivery.test_digest_unsubscribe import alert
from tests.support.servers import gunicorn
from webapp.delivery import notify
from webapp.delivery.scheduler import run_tick
from webapp.delivery.worker import deliver_due
from webapp.extensions import db
from webapp.platform.timeutil import utcnow

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "scrape-secret-for-tests"


@pytest.fixture
def scrape(app, client, monkeypatch):
    """``scrape()`` → {(sample name, frozenset(labels)): value} from GET /metrics."""
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)

    def do():
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200, response.status_code
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        assert "no-store" in response.headers["Cache-Control"]
        return {(s.name, frozenset(s.labels.items())): s.value
                for family in text_string_to_metric_families(response.get_data(as_text=True))
                for s in family.samples}
    return do


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_are_refused_unless_allowed(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_ALLOW", "")
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "")
    assert client.get("/metrics").status_code == 404  # the default: nobody
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "")
    monkeypatch.setitem(app.config, "METRICS_ALLOW", "10.0.0.0/8, 192.0.2.7")
    assert client.get("/metrics").status_code == 404  # the test client is 127.0.0.1
    monkeypatch.setitem(app.config, "METRICS_ALLOW", "10.0.0.0/8, 127.0.0.0/8")
    assert client.get("/metrics").status_code == 200


def test_requests_are_counted_by_route_not_path(client, scrape):
    route = "/wards/<code>"
    before = scrape()
    for _ in range(2):
        assert client.get("/wards/E05013806").status_code == 200
    assert client.get("/wards/NOPE").status_code == 404
    assert client.get("/no/such/page").status_code == 404
    after = scrape()
    assert value(after, "wardline_http_requests_total", route=route, method="GET", status="200") \
        - value(before, "wardline_http_requests_total", route=route, method="GET", status="200") == 2
    assert value(after, "wardline_http_requests_total", route=route, method="GET", status="404") \
        - value(before, "wardline_http_requests_total", route=route, method="GET", status="404") == 1
    assert value(after, "wardline_http_requests_total", route="unmatched", method="GET",
                 status="404") > value(before, "wardline_http_requests_total",
                                       route="unmatched", method="GET", status="404")
    count = "wardline_http_request_duration_seconds_count"
    assert value(after, count, route=route, method="GET") - value(before, count, route=route,
                                                                  method="GET") == 3
    assert value(after, "wardline_http_request_duration_seconds_sum", route=route, method="GET") > 0
    routes = {dict(labels).get("route") for _name, labels in after}
    assert not any(r and ("E05013806" in r or "NOPE" in r or "/no/such" in r) for r in routes)


def test_outbox_depth_oldest_due_sends_and_failures(app, client, scrape, make_resident, mail):
    people = [make_resident() for _ in range(3)]
    for person in people:
        notify(person, alert(7))
    db.session.commit()
    first = scrape()
    assert value(first, "wardline_outbox_depth", channel="email", state="queued") == 3
    assert value(first, "wardline_outbox_oldest_due_seconds") >= 0
    sent_before = value(first, "wardline_deliveries_sent_total", channel="email")
    failed_before = value(first, "wardline_delivery_failures_total", channel="email",
                          outcome="retry", reason="smtp_refused")

    mail.refuse = True  # 451 for every recipient: all three wait for a retry
    assert deliver_due()["retry"] == 3
    failing = scrape()
    assert value(failing, "wardline_delivery_failures_total", channel="email", outcome="retry",
                 reason="smtp_refused") - failed_before == 3
    assert value(failing, "wardline_outbox_retrying", reason="smtp_refused") == 3
    assert value(failing, "wardline_outbox_depth", channel="email", state="queued") == 3

    mail.refuse = False
    assert deliver_due(now=utcnow() + timedelta(days=1))["sent"] == 3
    done = scrape()
    assert value(done, "wardline_deliveries_sent_total", channel="email") - sent_before == 3
    assert value(done, "wardline_outbox_depth", channel="email", state="queued") == 0
    assert value(done, "wardline_outbox_oldest_due_seconds") == 0


def test_scheduler_ticks_are_timed(app, scrape):
    tick = "webapp.delivery.digest:send_digests"
    name = "wardline_scheduler_tick_duration_seconds_count"
    before = value(scrape(), name, tick=tick)
    run_tick(app, tick)
    run_tick(app, tick)
    assert value(scrape(), name, tick=tick) - before == 2


MULTIPROCESS = textwrap.dedent("""
    import sys
    from webapp import create_app
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "METRICS_TOKEN": "t",
                      "SQLALCHEMY_DATABASE_URI": sys.argv[1], "INSTANCE_PATH": sys.argv[2]})
    client = app.test_client()
    if sys.argv[3] == "visit":
        for _ in range(3):
            client.get("/privacy")
    else:
        print(client.get("/metrics", headers={"Authorization": "Bearer t"}).get_data(as_text=True))
""")


def test_multiprocess_mode_adds_up_every_process(app, tmp_path):
    """Two processes (as two gunicorn workers) with PROMETHEUS_MULTIPROC_DIR: the one
    scraped reports the other's requests too."""
    folder = tmp_path / "prom"
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder), "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", MULTIPROCESS, app.config["SQLALCHEMY_DATABASE_URI"],
            str(tmp_path / "instance")]
    subprocess.run([*args, "visit"], env=env, check=True, cwd=ROOT, timeout=120)
    out = subprocess.run([*args, "scrape"], env=env, check=True, cwd=ROOT, timeout=120,
                         capture_output=True, text=True).stdout
    samples = {(s.name, frozenset(s.labels.items())): s.value
               for family in text_string_to_metric_families(out) for s in family.samples}
    assert value(samples, "wardline_http_requests_total", route="/privacy", method="GET",
                 status="200") == 3


def test_gunicorn_workers_add_up_through_the_multiprocess_folder(app, tmp_path):
    """The production server (gunicorn, three workers, deploy/gunicorn.conf.py): whichever
    worker answers the scrape reports every worker's requests."""
    folder = tmp_path / "prom-gunicorn"
    folder.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(folder), "METRICS_TOKEN": "t"}
    def workers_counted():  # each worker process writes counter_<pid>.db
        return len({p.name.split("_")[-1] for p in folder.glob("counter_*.db")})

    def visit(_):
        urllib.request.urlopen(base + "/privacy", timeout=10).read()

    sent = 0
    with gunicorn(app, env=env, args=("-w", "3")) as (base, _server):
        # Requests ten at a time, until more than one worker has answered some (which one
        # accepts a connection is the kernel's choice).
        with ThreadPoolExecutor(10) as pool:
            while sent < 30 or (workers_counted() < 2 and sent < 400):
                list(pool.map(visit, range(10)))
                sent += 10
        assert workers_counted() >= 2
        for _ in range(4):  # the scrapes land on different workers
            request = urllib.request.Request(base + "/metrics",
                                             headers={"Authorization": "Bearer t"})
            text = urllib.request.urlopen(request, timeout=10).read().decode()
            samples = {(s.name, frozenset(s.labels.items())): s.value
                       for family in text_string_to_metric_families(text) for s in family.samples}
            assert value(samples, "wardline_http_requests_total", route="/privacy",
                         method="GET", status="200") == sent
