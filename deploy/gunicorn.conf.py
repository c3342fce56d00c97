"""gunicorn settings for production: ``gunicorn -c deploy/gunicorn.conf.py wsgi:app`` (what
``deploy/systemd/wardline-web.service`` runs). ``gunicorn.conf.py`` in the project folder
loads this file, so a plain ``gunicorn wsgi:app`` started there gets the same settings.

Every value can be changed from the environment (the systemd unit's ``EnvironmentFile``):

* ``WEB_BIND``: where to listen (default ``127.0.0.1:8000``: nginx on the same machine);
* ``WEB_CONCURRENCY``: worker processes (default 2 × CPUs + 1);
* ``WEB_TIMEOUT``: seconds a request may take before its worker is restarted (default 30);
* ``PROMETHEUS_MULTIPROC_DIR``: an empty folder for the workers' shared metrics (README,
  "Operations: metrics and logs"); ``child_exit`` below tidies it;
* ``FORWARDED_ALLOW_IPS``: addresses whose ``X-Forwarded-Proto`` gunicorn believes (default
  ``127.0.0.1``; the app itself reads ``X-Forwarded-For``/``-Proto`` through ProxyFix,
  ``TRUSTED_PROXIES``).

The access log never holds a sign-in, unsubscribe or cancellation token
(``webapp/platform/logsafe.py`` redacts them from every field), nor a query string: the
format logs the path alone.
"""
import gc
import multiprocessing
import os

from webapp.platform.metrics import mark_process_dead

bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
worker_class = "sync"
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 30  # SIGTERM: finish requests in flight for up to this long
keepalive = 5  # seconds an idle keep-alive connection from nginx stays open
max_requests = 2000  # recycle workers now and then (a slow leak never grows for ever)
max_requests_jitter = 200
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

logger_class = "webapp.platform.logsafe.GunicornLogger"
accesslog = "-"  # stderr: the journal under systemd
errorlog = "-"
# The client (gunicorn takes it from X-Forwarded-For when the request comes from
# FORWARDED_ALLOW_IPS), time, method and path without the query string (%(U)s), status,
# bytes, duration in microseconds, referrer, user agent, and the X-Forwarded-For chain
# nginx passed (quoted: a client may have written part of it).
access_log_format = ('%(h)s %(t)s "%(m)s %(U)s" %(s)s %(B)s %(D)s "%(f)s" "%(a)s" '
                     '"%({x-forwarded-for}i)s"')


def child_exit(server, worker):
    """Prometheus multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set): forget a dead
    worker's live figures; its counters stay in the sums (see webapp/platform/metrics.py)."""
    mark_process_dead(worker.pid)


def post_worker_init(worker):
    """Once the worker has loaded the app: move everything alive now (the app, its models,
    compiled templates and SQL: about 200,000 objects) out of the garbage collector's
    scans. Its full collections, which walked all of them every few requests, cost a
    quarter of a millisecond per request on average (issue 14); requests' own garbage is
    collected as before."""
    gc.freeze()
