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
- What a visitor gets that is the same for every visitor (no session cookie set, no CSRF
  token in it: a visitor's page shell has none, only pages with a form do) may be kept by
  shared caches (a CDN, a proxy). Feeds and the manifest for a minute, served stale while
  they revalidate: ``public, max-age=60, stale-while-revalidate=600``, with ``Vary: Cookie``
  (a signed-in person's request, which carries a cookie, is never answered from it). HTML
  pages (the ward home, an alert, a meeting): ``public, max-age=0, s-maxage=10,
  must-revalidate`` with ``Vary: Cookie, HX-Request``: a browser revalidates every time, a
  shared cache after 10 seconds, and both get a 304 while the page is unchanged (the
  process answers those from :mod:`webapp.platform.pagestore`). A page carrying a CSRF
  token, changing the session or setting a cookie is ``private, no-cache``: a shared cache
  must not hand one visitor's session to another.
"""
from __future__ import annotations

import hashlib
import re

from flask import current_app, request, session
from flask_login import current_user

from webapp.platform.static_assets import asset_version

IMMUTABLE_MAX_AGE = 31536000  # one year, the longest HTTP/1.1 caches are asked to keep
SHARED_MAX_AGE = 60  # seconds a shared cache may serve a public response without asking
SHARED_STALE = 600  # seconds more it may serve it while it revalidates
PAGE_SHARED_MAX_AGE = 10  # seconds a shared cache may serve a visitor's HTML page unasked
CONDITIONAL_MIMETYPES = {"text/html", "text/calendar", "application/manifest+json",
                         "application/atom+xml", "application/json"}
CSRF_VALUE = re.compile(rb'("X-CSRFToken": "|name="csrf_token"[^>]*?value=")[^"]*')
# The page's request id (for its htmx requests' log lines) changes on every request.
REQUEST_ID_VALUE = re.compile(rb'("X-Parent-Request-ID": ")[^"]*')
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
        body = response.get_data()
        if "Cache-Control" not in response.headers:
            if session.modified or CSRF_VALUE.search(body) or \
                    "Set-Cookie" in response.headers:
                cache.private = True  # this browser's session: never a shared cache's
                cache.no_cache = True  # keep it, but ask again each time (304 when unchanged)
            elif response.mimetype == "text/html":
                cache.public = True  # a browser asks again each time, a shared cache after
                cache.max_age = 0  # PAGE_SHARED_MAX_AGE; both get a 304 while it is unchanged
                cache.s_maxage = PAGE_SHARED_MAX_AGE
                cache.must_revalidate = True
                response.vary.update(("Cookie", "HX-Request"))
            else:
                cache.public = True
                cache.max_age = SHARED_MAX_AGE
                cache.stale_while_revalidate = SHARED_STALE
                response.vary.add("Cookie")
        response.set_etag(_etag(body), weak=True)
        response.make_conditional(request)
    return response


def _etag(body: bytes) -> str:
    """The validator of a response body (see the module docstring for CSRF tokens)."""
    body = REQUEST_ID_VALUE.sub(rb"\1", body)
    body, tokens = CSRF_VALUE.subn(rb"\1", DTSTAMP_LINE.sub(b"", body))
    digest = hashlib.sha256(body)
    if tokens:
        secret = session.get(current_app.config["WTF_CSRF_FIELD_NAME"], "")
        digest.update(b"\0" + str(secret).encode())
    return digest.hexdigest()[:32]
