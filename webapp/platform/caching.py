"""HTTP caching in one place (an ``after_request`` hook).

- A static file asked for with its current content hash (``?v=<hash>``, see
  :func:`webapp.platform.static_assets.asset_url`) is ``public, max-age=31536000, immutable``: a new
  version has a new URL. Without the version, or with a stale one, it stays ``no-cache``.
- Anything answered to a signed-in person is never public: ``private`` (``no-cache`` unless
  the view chose ``no-store``), with ``Vary: Cookie``.
- What visitors get (ward home, alerts, meetings, ``.ics`` feeds, the manifest...) carries
  a weak ETag and answers ``If-None-Match`` with 304 (Werkzeug's ``make_conditional``).
  A page's CSRF token is signed afresh on every request, yet stays valid for its session
  (``WTF_CSRF_TIME_LIMIT = None``): the ETag hashes the page without the token's signature
  but with the session's CSRF secret, so the same browser gets 304s and a browser with
  another session (its cached token would be refused) gets the page again. A calendar's
  ``DTSTAMP`` says when the file was made, so it changes every second: the ETag leaves it
  out, and an unchanged feed still answers 304.
"""
from __future__ import annotations

import hashlib
import re

from flask import current_app, request, session
from flask_login import current_user

from webapp.platform.static_assets import asset_version

IMMUTABLE_MAX_AGE = 31536000  # one year, the longest HTTP/1.1 caches are asked to keep
CONDITIONAL_MIMETYPES = {"text/html", "text/calendar", "application/manifest+json",
                         "application/atom+xml", "application/json"}
CSRF_VALUE = re.compile(rb'("X-CSRFToken": "|name="csrf_token"[^>]*?value=")[^"]*')
DTSTAMP_LINE = re.compile(rb"^DTSTAMP[:;][^\r\n]*\r?\n", re.M)


def set_cache_headers(response):
    """Set Cache-Control, Vary and ETag as described in the module docstring."""
    cache = response.cache_control
    if request.endpoint == "static":
        filename = (request.view_args or {}).get("filename", "")
        version = request.args.get("v")
        if response.status_code in (200, 304) and version and version == asset_version(filename):
            cache.no_cache = None
            cache.public = True
            cache.max_age = IMMUTABLE_MAX_AGE
            cache.immutable = True
        return response
    if current_user.is_authenticated:
        cache.public = None
        if not cache.no_store:
            cache.private = True
            if cache.max_age is None:
                cache.no_cache = True
        response.vary.add("Cookie")
        return response
    if response.mimetype == "text/html":
        response.vary.add("Cookie")  # the same URL shows a signed-in person something else
    if request.method in ("GET", "HEAD") and response.status_code == 200 and \
            response.mimetype in CONDITIONAL_MIMETYPES and not response.is_streamed and \
            not cache.no_store:
        if "Cache-Control" not in response.headers:
            cache.no_cache = True  # keep it, but ask again each time (304 when unchanged)
        response.set_etag(_etag(response.get_data()), weak=True)
        response.make_conditional(request)
    return response


def _etag(body: bytes) -> str:
    """The validator of a response body (see the module docstring for CSRF tokens)."""
    body, tokens = CSRF_VALUE.subn(rb"\1", DTSTAMP_LINE.sub(b"", body))
    digest = hashlib.sha256(body)
    if tokens:
        secret = session.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), "")
        digest.update(b"\0" + str(secret).encode())
    return digest.hexdigest()[:32]
