"""Views of the delivery domain: unsubscribing from email without signing in."""
from __future__ import annotations

from flask import abort, render_template, request

from webapp.delivery import bp
from webapp.extensions import csrf, db
from webapp.platform.tokens import TokenError
from sqlalchemy.orm import joinedload

from webapp.accounts.models import User, UserWard
from webapp.delivery.emails import read_unsubscribe_token
from webapp.delivery.services import stop_email
from webapp.accounts.services import mute_ward, remove_extra_ward
from webapp.platform.forms import EmptyForm
from webapp.platform.taxonomy import CATEGORIES, EMAIL_FREQUENCIES


def _payload_for(token: str) -> dict:
    try:
        payload = read_unsubscribe_token(token)
    except TokenError:
        abort(404)
    return payload if isinstance(payload, dict) else {}


def _page(token: str, user, *, done: str | None = None, error: str | None = None,
          status: int = 200):
    """The unsubscribe page: stop this kind of update, a ward, or everything; or email
    less often."""
    category = _payload_for(token).get("c")
    category = category if category in CATEGORIES and category in user.category_codes else None
    links = sorted(user.wards, key=lambda link: (not link.is_home, link.position))
    return render_template(
        "delivery/unsubscribe.html", token=token, user=user, done=done, error=error,
        category=category, category_label=CATEGORIES.get(category or ""),
        ward_links=[link for link in links if not link.muted],
        muted_wards=[link.ward for link in links if link.muted],
        frequencies=EMAIL_FREQUENCIES), status


def _user_for(token: str):
    """The user named by a valid unsubscribe token, or 404 (tampered or unknown)."""
    if len(token) > 400:
        abort(404)
    try:
        payload = read_unsubscribe_token(token)
    except TokenError:
        abort(404)
    user = db.session.get(User, payload.get("u"), options=[  # with the wards the page lists
        joinedload(User.wards).joinedload(UserWard.ward)]) if isinstance(payload, dict) else None
    # The address is part of the token: a link to a changed address stops working.
    if user is None or user.email != payload.get("e"):
        abort(404)
    return user


@bp.get("/unsubscribe/<token>")
def unsubscribe(token: str):
    """Confirm page: a GET never changes anything (link scanners follow links)."""
    user = _user_for(token)
    return _page(token, user)


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
    return _page(token, user, done="everything")


@bp.post("/unsubscribe/<token>/choose")
def unsubscribe_choose(token: str):
    """The finer choices of the unsubscribe page (a form of ours, so CSRF-checked): stop
    one kind of update, stop following a ward, or change how often we email."""
    user = _user_for(token)
    if not EmptyForm().validate():
        return _page(token, user, error="The form expired. Please try again.", status=422)
    action = request.form.get("action")
    if action == "category":
        category = _payload_for(token).get("c")
        if category not in CATEGORIES:
            return _page(token, user, error="Choose what to stop.", status=422)
        user.categories = [c for c in user.categories if c.category != category]
        done = "category"
    elif action == "ward":
        code = (request.form.get("ward") or "")[:9].upper()
        link = next((link for link in user.wards if link.ward.code == code and not link.muted),
                    None)
        if link is None:
            return _page(token, user, error="Choose a ward to stop updates about.", status=422)
        if link.is_home:  # where they live stays chosen; its updates stop
            mute_ward(user, code)
            done = "home-ward"
        else:
            remove_extra_ward(user, code)
            done = "ward"
    elif action == "frequency":
        frequency = request.form.get("email_frequency")
        if frequency not in EMAIL_FREQUENCIES:
            return _page(token, user, error="Choose how often we should email you.", status=422)
        if frequency == "off":
            stop_email(user)
        user.email_frequency = frequency
        done = "frequency"
    else:
        return _page(token, user, error="Choose what to stop.", status=422)
    db.session.commit()
    return _page(token, user, done=done)
