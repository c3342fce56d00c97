"""Access checks in one place, and the security headers every response carries.

Views use the decorators here; queries use the ``*_visible_to(user)`` helpers of each
domain, so no view filters by hand.
"""
from __future__ import annotations

from functools import wraps

from flask import abort, current_app, redirect, request, url_for
from flask_login import current_user

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
    return response  # Cache-Control, Vary and ETag: webapp.caching


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
            return view(*args, **kwargs)
        return wrapped
    return decorator


resident_required = role_required("resident")
officer_required = role_required("officer", "admin")
admin_required = role_required("admin")
