"""Access checks in one place, and the security headers every response carries.

Views use the decorators here; queries use the ``*_visible_to(user)`` helpers of each
domain, so no view filters by hand.
"""
from __future__ import annotations

import unicodedata
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, current_app, redirect, request, url_for
from flask_login import current_user

NEXT_MAX_LENGTH = 500

# A strict policy: no inline script or style, nothing from other origins.
CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "worker-src 'self'",
    "frame-ancestors 'none'",
    "form-action 'self'",
    "base-uri 'none'",
    "object-src 'none'",
])


def safe_next(value) -> str | None:
    """``value`` if it is a path on this site (a place to go after signing in), else None.

    The one check for every ``next`` in the app. Refused: anything that is not a string
    starting with a single ``/``; ``//`` and ``/\\`` (browsers read both as another host);
    any backslash; control, format and whitespace characters anywhere (browsers drop a tab
    or newline, so ``/\t/evil.example`` becomes ``//evil.example``, and a newline in a
    ``Location`` header is an error); a scheme or host; more than 500 characters.
    """
    if not isinstance(value, str) or not value or len(value) > NEXT_MAX_LENGTH:
        return None
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs")
           for ch in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme or parts.netloc:
        return None
    return value


def no_store(response):
    """Mark ``response`` as never to be stored by any cache or kept in history (pages that
    show a secret: an authenticator key, a one-time password, backup codes)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def set_security_headers(response):
    """Add CSP and the usual hardening headers (an ``after_request`` hook)."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Permissions-Policy",
                                "camera=(self), geolocation=(self), microphone=()")
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response  # Cache-Control, Vary and ETag: webapp.platform.caching


def role_required(*roles: str):
    """Allow only signed-in users with one of ``roles``; others get 403 (visitors: sign-in).

    Officers and admins must also have completed their second factor this session
    (``user.is_fully_authenticated``); a resident magic-link session never qualifies.
    """
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                if set(roles) & {"officer", "admin"}:
                    return redirect(url_for("accounts.officer_login", next=request.full_path))
                return redirect(url_for("accounts.login", next=request.full_path))
            if current_user.role not in roles:
                abort(403)
            if current_user.role in ("officer", "admin") and \
                    not getattr(current_user, "is_fully_authenticated", False):
                abort(403)
            # A one-time password (from an admin) must be replaced before anything else.
            if current_user.role in ("officer", "admin") and current_user.password_must_change \
                    and request.endpoint != "accounts.officer_password":
                return redirect(url_for("accounts.officer_password"))
            return view(*args, **kwargs)
        return wrapped
    return decorator


resident_required = role_required("resident")
officer_required = role_required("officer", "admin")
admin_required = role_required("admin")
