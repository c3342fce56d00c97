"""Logs: one line per request, JSON when ``LOG_FORMAT=json``, with a request id.

Every request gets an id: the ``X-Request-ID`` a trusted reverse proxy set (only when
``TRUSTED_PROXIES`` > 0, and only if it looks like an id), else a new random one. It is
returned in the response's ``X-Request-ID`` header and written into the page
(``<body hx-headers>``), so every htmx request the page makes sends it back as
``X-Parent-Request-ID``: its own line carries it as ``parent_id``, tying the fragments
to the page that asked for them.

A request's line says method, route (the URL rule, never the path or the query string:
those may hold a sign-in or unsubscribe token), status, duration, request id, parent id
and the user's id; never an address, a token or a message's text. The delivery worker
writes one line per batch (:mod:`webapp.delivery.metrics`).
"""
from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from datetime import datetime, timezone

from flask import current_app, g, request
from sqlalchemy import inspect

from webapp.platform.metrics import elapsed, route_label

log = logging.getLogger("wardline.request")

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes every LogRecord has: anything else was passed as ``extra``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the
    ``extra`` fields and, for an exception, its traceback."""

    def format(self, record: logging.LogRecord) -> str:
        data = {"time": datetime.fromtimestamp(record.created, timezone.utc)
                .isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name,
                "message": record.getMessage()}
        data.update({k: v for k, v in vars(record).items()
                     if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def configure_logging(log_format: str, stream=None) -> logging.Handler:
    """Send the app's log lines (level INFO) to ``stream`` (default stderr) through one
    handler on the root logger, as JSON (``json``) or text (anything else). Calling it
    again (another app in the same process, a test) replaces that handler's stream and
    format instead of adding a second one."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "wardline", False)), None)
    if handler is None:
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.wardline = True
        root.addHandler(handler)
    elif stream is not None:
        handler.setStream(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else
                         logging.Formatter(TEXT_FORMAT))
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return handler


def request_ids(incoming: str, parent: str, trust_incoming: bool) -> tuple[str, str | None]:
    """(this request's id: a proxy's ``X-Request-ID`` when trusted and well formed, else a
    new one; the id of the page it came from, if well formed)."""
    incoming = incoming if trust_incoming else ""
    return (incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex,
            parent if REQUEST_ID.fullmatch(parent) else None)


def write_line(method: str, route: str, status: int, seconds: float, request_id: str | None,
               parent_id: str | None, user_id: int | None, **extra) -> None:
    """The request's one log line (its fields as the JSON formatter's keys)."""
    fields = {"event": "request", "method": method, "route": route, "status": status,
              "duration_ms": round(seconds * 1000, 1), "request_id": request_id,
              "parent_id": parent_id, "user_id": user_id, **extra}
    log.info("%s %s %s %.1fms", method, route, status, fields["duration_ms"], extra=fields)


def assign_request_id() -> None:
    """``before_request``: the request's id and the id of the page it came from."""
    g.request_id, g.parent_request_id = request_ids(
        request.headers.get("X-Request-ID", ""), request.headers.get("X-Parent-Request-ID", ""),
        int(current_app.config["TRUSTED_PROXIES"]) > 0)


def log_request(response):
    """``after_request``: return the id and write the request's line."""
    request_id = g.get("request_id")
    if request_id:
        response.headers["X-Request-ID"] = request_id
    user = g.get("_login_user")  # only if the request loaded it: no query for the log
    write_line(request.method, route_label(), response.status_code, elapsed(), request_id,
               g.get("parent_request_id"), _user_id(user))
    return response


def _user_id(user) -> int | None:
    """The signed-in user's id, from the session's identity map key: after a commit their
    columns are expired, and reading ``user.id`` would load the row again for the log."""
    if not getattr(user, "is_authenticated", False):
        return None
    state = inspect(user, raiseerr=False)
    return state.identity[0] if state is not None and state.identity else getattr(user, "id", None)


def install(app) -> None:
    """Give every request an id and a log line (after :func:`metrics.install`, whose
    timer it reads)."""
    app.before_request(assign_request_id)
    app.after_request(log_request)
