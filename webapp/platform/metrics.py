"""Prometheus metrics (``prometheus-client``), served at ``/metrics`` to allowed scrapers.

What is measured:

* every request: ``wardline_http_requests_total{route, method, status}`` and
  ``wardline_http_request_duration_seconds{route, method}`` (a histogram). ``route`` is the
  URL rule (``/wards/<code>``), never the path: one series per route, and no token or id in
  a label (``unmatched`` for a 404 that matched no rule);
* the delivery worker: ``wardline_deliveries_sent_total{channel}`` and
  ``wardline_delivery_failures_total{channel, outcome, reason}`` (outcome: retry, dead or
  gone; reason: a short code, never the error text, which may hold an address);
* the scheduler: ``wardline_scheduler_tick_duration_seconds{tick}``;
* figures read at scrape time by collectors other layers register
  (:func:`register_scrape_collector`; the delivery domain adds the outbox's depth by state
  and channel and the age of the oldest due delivery), one query per scrape.

Who may scrape: a client whose address is in ``METRICS_ALLOW`` (comma-separated addresses
or networks), or one sending ``Authorization: Bearer <METRICS_TOKEN>``. Anyone else gets
the site's 404 page: the path is not advertised. Both unset (the default): nobody.

Several processes: gunicorn's workers (and ``flask deliver``/``flask scheduler`` on the
same machine) share their figures when ``PROMETHEUS_MULTIPROC_DIR`` names an empty
folder writable by all of them, set in the environment before they start
(prometheus-client's multiprocess mode): ``/metrics`` in any worker then adds up every
process's files. gunicorn's ``child_exit`` hook must call :func:`mark_process_dead`.
"""
from __future__ import annotations

import hmac
import ipaddress
import os
import time

from flask import Response, abort, current_app, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram,
                               generate_latest, multiprocess, start_http_server)

REGISTRY = CollectorRegistry()

REQUESTS = Counter("wardline_http_requests", "Requests answered, by route, method and status.",
                   ["route", "method", "status"], registry=REGISTRY)
REQUEST_SECONDS = Histogram(
    "wardline_http_request_duration_seconds", "Time to answer a request, by route and method.",
    ["route", "method"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
SENT = Counter("wardline_deliveries_sent", "Deliveries sent by the workers, by channel.",
               ["channel"], registry=REGISTRY)
FAILURES = Counter("wardline_delivery_failures",
                   "Deliveries not sent, by channel, outcome (retry, dead, gone) and reason.",
                   ["channel", "outcome", "reason"], registry=REGISTRY)
TICK_SECONDS = Histogram("wardline_scheduler_tick_duration_seconds",
                         "Time one scheduler tick took, by tick.", ["tick"], registry=REGISTRY,
                         buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300))

#: Collectors run at each scrape, inside the request's app context.
SCRAPE_COLLECTORS: list = []


def register_scrape_collector(collector) -> None:
    """Add a collector (an object with ``collect()`` yielding metric families) whose
    figures are read from the database at each scrape. Registering one twice is harmless."""
    if collector not in SCRAPE_COLLECTORS:
        SCRAPE_COLLECTORS.append(collector)


def route_label() -> str:
    """The request's URL rule, or ``unmatched``."""
    return request.url_rule.rule if request.url_rule is not None else "unmatched"


def start_timer() -> None:
    """``before_request``: note when the request started."""
    g.request_started = time.perf_counter()


def elapsed() -> float:
    """Seconds since :func:`start_timer` (0 when it did not run)."""
    started = g.get("request_started")
    return time.perf_counter() - started if started is not None else 0.0


def observe_request(response):
    """``after_request``: count the request and its duration."""
    route, method = route_label(), request.method
    REQUESTS.labels(route, method, str(response.status_code)).inc()
    REQUEST_SECONDS.labels(route, method).observe(elapsed())
    return response


def _allowed() -> bool:
    config = current_app.config
    token = config["METRICS_TOKEN"]
    sent = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    for network in filter(None, (n.strip() for n in config["METRICS_ALLOW"].split(","))):
        if address in ipaddress.ip_network(network, strict=False):
            return True
    return False


def _registry() -> CollectorRegistry:
    """This process's metrics, or every process's in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def serve(port: int, address: str) -> None:
    """Serve this process's metrics at ``http://address:port/metrics`` from a thread of
    its own (``flask deliver --metrics-port``, ``flask scheduler --metrics-port``: workers
    on a machine without a web process). No access check: bind to a private address."""
    start_http_server(port, addr=address, registry=_registry())


def metrics_view():
    """``GET /metrics``: the Prometheus text format, for allowed scrapers only (else 404)."""
    if not _allowed():
        abort(404)
    registry = _registry()
    scraped = CollectorRegistry()
    for collector in SCRAPE_COLLECTORS:
        scraped.register(collector)
    body = generate_latest(registry) + generate_latest(scraped)
    response = Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0])
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.cache_control.no_store = True
    return response


def install(app) -> None:
    """Time and count every request, and serve ``/metrics``."""
    app.before_request(start_timer)
    app.after_request(observe_request)
    app.add_url_rule("/metrics", "metrics", metrics_view)


def mark_process_dead(pid: int) -> None:
    """For gunicorn's ``child_exit(server, worker)`` hook: forget a dead worker's live
    figures in multiprocess mode (its counters stay summed). Nothing to do otherwise."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)
