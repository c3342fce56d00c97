"""Views of the delivery domain: unsubscribing from email without signing in."""
from __future__ import annotations

from flask import abort, render_template, request

from webapp.delivery import bp
from webapp.extensions import csrf, db
from webapp.platform.tokens import TokenError
from webapp.accounts.models import User
from webapp.delivery.emails import read_unsubscribe_token
from webapp.delivery.services import stop_email


def _user_for(token: str):
    """The user named by a valid unsubscribe token, or 404 (tampered or unknown)."""
    if len(token) > 400:
        abort(404)
    try:
        payload = read_unsubscribe_token(token)
    except TokenError:
        abort(404)
    user = db.session.get(User, payload.get("u")) if isinstance(payload, dict) else None
    # The address is part of the token: a link to a changed address stops working.
    if user is None or user.email != payload.get("e"):
        abort(404)
    return user


@bp.get("/unsubscribe/<token>")
def unsubscribe(token: str):
    """Confirm page: a GET never changes anything (link scanners follow links)."""
    user = _user_for(token)
    return render_template("delivery/unsubscribe.html", token=token, user=user, done=False)


@bp.post("/unsubscribe/<token>")
@csrf.exempt
def unsubscribe_post(token: str):
    """Turn email off. CSRF-exempt on purpose: RFC 8058 one-click unsubscribe is a POST
    from the mail client that cannot carry our CSRF token; the signed per-resident token
    in the URL is the proof instead, and the only effect is "stop emailing me"."""
    user = _user_for(token)
    stop_email(user)
    db.session.commit()
    if request.form.get("List-Unsubscribe") == "One-Click":
        return "", 204
    return render_template("delivery/unsubscribe.html", token=token, user=user, done=True)
