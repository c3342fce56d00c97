"""Views of the pwa domain: manifest, service worker, offline page, push subscription endpoints.

The push endpoints are thin: they check who is asking and call ``webapp.delivery``'s
subscription services, which own the data and the push sender.
"""
from __future__ import annotations

import json

from flask import (abort, current_app, flash, jsonify, make_response, redirect,
                   render_template, request, url_for)
from flask_login import current_user, login_required

from webapp.extensions import db, limiter
from webapp.platform.htmx import render
from webapp.pwa import bp
from webapp.pwa import services
from webapp.platform.static_assets import asset_url, static_version

from webapp.delivery.endpoints import MAX_LENGTH as ENDPOINT_MAX
from webapp.delivery import subscriptions


@bp.app_context_processor
def _pwa_scripts():
    """``pwa_scripts()`` in every template: base.html loads the app's scripts with it."""
    return {"pwa_scripts": services.pwa_scripts}


@bp.get("/manifest.webmanifest")
def manifest():
    """The Web App Manifest, with its registered media type."""
    response = make_response(json.dumps(services.manifest(), indent=1))
    response.mimetype = "application/manifest+json"
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/sw.js")
def service_worker():
    """The service worker, at the root so its scope is the whole app.

    The static asset hash is written into it, so any change to CSS or JS makes a new worker
    that installs beside the old one and waits until the page asks it to take over.
    """
    body = render_template("pwa/sw.js", version=static_version(),
                           precache=services.precache_urls(),
                           reply_queue_js=asset_url("js/reply-queue.js"),
                           keep_pattern=services.OFFLINE_PAGE_PATTERN.pattern,
                           never_pattern=services.NEVER_CACHED_PATTERN.pattern,
                           test_hooks=current_app.config["PWA_TEST_HOOKS"],
                           idb_js=asset_url("vendor/idb-keyval-6.2.2.umd.js"),
                           offline_header=services.OFFLINE_HEADER,
                           icon=url_for("static", filename="img/icon-192.png"),
                           badge=url_for("static", filename="img/badge-96.png"))
    response = make_response(body)
    response.mimetype = "text/javascript"
    response.headers["Service-Worker-Allowed"] = "/"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/offline")
def offline():
    """Shown by the service worker for a page never opened while online."""
    if request.args.get("fragment"):
        return render_template("pwa/_offline.html")
    return render("pwa/offline.html", "pwa/_offline.html")


@bp.after_app_request
def mark_offline_pages(response):
    """Tell the service worker which responses it may keep, and clear caches on sign-out.

    ``X-Wardline-Offline: keep; owner=<tag>`` goes only on a resident's own reading pages
    (see :func:`services.may_keep_offline`); the worker drops every kept page when the owner
    changes (someone else signed in without signing out first). The sign-out response carries
    ``Clear-Site-Data: "cache"`` as a server-side backstop to the page's own clean-up.
    """
    if request.method == "POST" and request.path.endswith("/logout"):
        response.headers["Clear-Site-Data"] = '"cache"'
        return response
    if request.method == "GET" and response.status_code == 200 and \
            response.mimetype == "text/html" and services.offline_path(request.path) and \
            current_user.is_authenticated and services.may_keep_offline(request.path, current_user.role):
        response.headers[services.OFFLINE_HEADER] = \
            f"keep; owner={services.owner_tag(current_user.id)}"
    return response


# --------------------------------------------------------------------------- push
def _signed_in_fully():
    """Staff must have passed their second factor to manage devices (403 otherwise)."""
    if not getattr(current_user, "is_fully_authenticated", False):
        abort(403)


def _endpoint_ok(endpoint) -> bool:
    """A string that can be looked up: not too long, and no NUL (PostgreSQL refuses NUL in
    text parameters, a 500)."""
    return isinstance(endpoint, str) and len(endpoint) <= ENDPOINT_MAX and "\x00" not in endpoint


@bp.get("/push/key")
def push_key():
    """The VAPID public key (base64url) the browser subscribes with."""
    return jsonify(publicKey=subscriptions.vapid_public_key())


@bp.post("/push/subscriptions")
@login_required
@limiter.limit("30 per hour")
def push_subscribe():
    """Save this device's subscription (JSON body, CSRF in ``X-CSRFToken``): 201.

    An ``oldEndpoint`` member (sent after ``pushsubscriptionchange``) removes the
    subscription the browser replaced. Only push services' endpoints are accepted
    (``webapp.delivery.endpoints``); one held by another account is a 409.
    """
    _signed_in_fully()
    data = request.get_json(silent=True)
    try:
        saved = subscriptions.save_subscription(current_user, data,
                                                (request.user_agent.string or "")[:300])
    except subscriptions.SubscriptionError as exc:
        db.session.rollback()
        # 409 for an endpoint another account holds (whose is never said), 400 otherwise.
        return jsonify(error=str(exc)), 409 if isinstance(exc, subscriptions.EndpointTaken) else 400
    services.forget_removal(current_user.id, saved.endpoint)
    old = data.get("oldEndpoint")
    if _endpoint_ok(old) and old != saved.endpoint:
        subscriptions.remove_subscription(current_user, old)
    db.session.commit()
    return jsonify(saved=True, id=saved.id), 201


@bp.post("/push/subscriptions/check")
@login_required
def push_check():
    """Does the server still have this device's subscription? ``{"known": bool}``, plus
    ``"removed": true`` when the resident removed this device in Settings.

    The page asks on every app open: it re-sends a subscription the server lost, and turns
    notifications off on a device the resident removed.
    """
    _signed_in_fully()
    data = request.get_json(silent=True) or {}
    endpoint = data.get("endpoint") if isinstance(data, dict) else None
    if not isinstance(endpoint, str):
        return jsonify(error="Missing endpoint."), 400
    known = any(s.endpoint == endpoint for s in subscriptions.subscriptions_for(current_user))
    if not known and services.was_removed(current_user.id, endpoint):
        return jsonify(known=False, removed=True)
    return jsonify(known=known)


@bp.route("/push/subscriptions", methods=["DELETE"])
@login_required
def push_unsubscribe():
    """Forget this device's subscription (JSON ``{"endpoint": ...}``): 204 either way."""
    _signed_in_fully()
    data = request.get_json(silent=True) or {}
    endpoint = data.get("endpoint") if isinstance(data, dict) else None
    if not _endpoint_ok(endpoint):
        return jsonify(error="Missing endpoint."), 400
    subscriptions.remove_subscription(current_user, endpoint)
    db.session.commit()
    return "", 204


@bp.post("/push/devices/<int:subscription_id>/remove")
@login_required
def remove_device(subscription_id: int):
    """Remove one of the account's devices from Settings (a plain form; works without JS).

    Only the account's own devices are found: another account's id is a 404.
    """
    _signed_in_fully()
    mine = {s.id: s for s in subscriptions.subscriptions_for(current_user)}
    subscription = mine.get(subscription_id)
    if subscription is None:
        abort(404)
    subscriptions.remove_subscription(current_user, subscription.endpoint)
    services.record_removal(current_user.id, subscription.endpoint)
    db.session.commit()
    flash("That device will no longer get notifications.", "success")
    return redirect(url_for("accounts.settings") + "#devices", code=303)


@bp.app_context_processor
def _push_helpers():
    """Template helpers for the push partials (settings, survey): called only when used."""
    def push_public_key() -> str:
        return subscriptions.vapid_public_key()

    def push_devices() -> list[dict]:
        if not current_user.is_authenticated:
            return []
        return [{"id": s.id, "created_at": s.created_at, "endpoint": s.endpoint,
                 "label": services.describe_user_agent(s.user_agent)}
                for s in subscriptions.subscriptions_for(current_user)]

    return {"push_public_key": push_public_key, "push_devices": push_devices}
