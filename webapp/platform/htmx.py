"""The Flask side of htmx, in a few functions (instead of the unmaintained htmx-flask).

One URL serves the full page, or on ``HX-Request`` just the underscore partial the page
includes. Responses that differ by that header say so with ``Vary: HX-Request``.
"""
from __future__ import annotations

from flask import make_response, render_template, request


def is_htmx() -> bool:
    """Return True when the request was made by htmx (and is not a history restore)."""
    return request.headers.get("HX-Request") == "true" and \
        request.headers.get("HX-History-Restore-Request") != "true"


def render(page: str, fragment: str | None = None, *, status: int = 200, **context):
    """Render ``page``, or ``fragment`` for htmx requests, with ``Vary: HX-Request``.

    ``fragment`` is the underscore partial that ``page`` itself includes, so both paths
    show identical markup.
    """
    template = fragment if (fragment and is_htmx()) else page
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


def hx_redirect(url: str, *, status: int = 303):
    """Redirect a plain request with 303, or tell htmx to navigate with ``HX-Location``."""
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Location"] = url
        return response
    response = make_response("", status)
    response.headers["Location"] = url
    return response


def trigger(response, event: str):
    """Add a client-side event to ``HX-Trigger`` on ``response`` and return it."""
    existing = response.headers.get("HX-Trigger")
    response.headers["HX-Trigger"] = f"{existing}, {event}" if existing else event
    return response
