"""Keep capability tokens out of production logs.

Sign-in and unsubscribe links carry their token in the URL path (``/signin/<token>``,
``/unsubscribe/<token>``): whoever reads a log line with one could use it. Two places would
write them in production, and both go through :func:`redact`:

* the access log: ``gunicorn.conf.py`` (read by ``gunicorn`` from the project folder) sets
  :class:`GunicornLogger`, which redacts the request line, path, query, referrer and raw
  URI before formatting;
* Flask's own "Exception on /signin/… [POST]" lines: :func:`install` adds
  :class:`RedactTokens` to the app's logger.

Development is different on purpose: with no ``SMTP_HOST`` the links are logged so a
newcomer can sign in (see :mod:`webapp.platform.mail`).
"""
from __future__ import annotations

import logging
import re

from gunicorn.glogging import Logger as _GunicornBaseLogger

# A path segment after one of these prefixes is a secret.
TOKEN_PATH = re.compile(r"(/(?:signin|unsubscribe|meetings/cancel|settings/email/confirm)/)(?!sent\b|slow-down\b)[^/\s?#\"'<>]+")
REDACTED = r"\1[redacted]"


def redact(text: str) -> str:
    """``text`` with every token of a sign-in or unsubscribe path replaced."""
    return TOKEN_PATH.sub(REDACTED, text) if isinstance(text, str) else text


class RedactTokens(logging.Filter):
    """A logging filter that redacts tokens from a record's formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install(app) -> None:
    """Redact tokens from what the app's own logger writes (exception lines name the path)."""
    if not any(isinstance(f, RedactTokens) for f in app.logger.filters):
        app.logger.addFilter(RedactTokens())


class GunicornLogger(_GunicornBaseLogger):
    """gunicorn's logger, with tokens redacted from every access-log field that can hold a
    URL (``%(r)s``, ``%(U)s``, ``%(q)s``, ``%(f)s`` and the ``{…}i``/``{…}e`` atoms)."""

    def atoms(self, resp, req, environ, request_time):
        return {key: redact(value) for key, value in
                super().atoms(resp, req, environ, request_time).items()}
