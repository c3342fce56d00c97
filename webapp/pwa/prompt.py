"""The ward home's "Turn on notifications?" prompt (issue 13): offered to a resident until
they answer it: they turn notifications on (any device: a push subscription exists) or
say "No thanks", which is remembered on the server (``users.push_prompt_answered_at``), so
it stays answered on every device. Settings still has the control."""
from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from sqlalchemy import exists

from webapp.accounts import add_user_flag
from webapp.accounts.models import User
from webapp.delivery.models import PushSubscription
from webapp.extensions import db
from webapp.platform.htmx import is_htmx
from webapp.pwa import bp
from webapp.platform.security import resident_required, safe_next
from webapp.platform.timeutil import utcnow


def push_prompt_due() -> bool:
    """Should the ward home ask the signed-in resident about notifications?"""
    user = current_user
    if not (user.is_authenticated and user.role == "resident"):
        return False
    if user.push_prompt_answered_at is not None:
        return False
    subscribed = user.flags.get(SUBSCRIBED)  # loaded with the user: no statement of its own
    if subscribed is None:
        subscribed = db.session.scalar(_A_SUBSCRIPTION, {"user_id": user.id}) is not None
    return not subscribed


SUBSCRIBED = "has_push_subscription"
add_user_flag(SUBSCRIBED, exists().where(PushSubscription.user_id == User.id),
              PushSubscription.__tablename__)
_A_SUBSCRIPTION = db.select(PushSubscription.id).where(
    PushSubscription.user_id == db.bindparam("user_id")).limit(1)  # built once


@bp.app_context_processor
def _prompt_helpers():
    return {"push_prompt_due": push_prompt_due}


@bp.post("/push/prompt")
@resident_required
def answer_push_prompt():
    """ "No thanks" (or "Done"): stop asking, on every device."""
    current_user.push_prompt_answered_at = utcnow()
    db.session.commit()
    message = "We won't ask again. You can turn notifications on at any time in Settings."
    if is_htmx():
        return make_response(render_template("pwa/_push_prompt_answered.html", message=message))
    flash(message, "success")
    return redirect(safe_next(request.form.get("next")) or url_for("core.index"), 303)
