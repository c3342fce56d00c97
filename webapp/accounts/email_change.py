"""Changing a resident's email address: confirmed by a single-use link sent to the new
address, with a notice to the old one once it is done.

The link names the account, its address when the change was asked for, the new address
and the session version: it stops working once used, after 24 hours, when the address
changed in between, or after "Sign out of all devices". The page shown after asking is the
same whether or not the new address already has an account (its owner is told by email
instead), so the form cannot be used to find out who has an account.
"""
from __future__ import annotations

import logging
import smtplib

from flask import current_app, make_response, render_template, request
from flask_login import current_user
from sqlalchemy import func, select

from webapp.accounts import bp, services
from webapp.accounts import settings_routes as account_routes
from webapp.accounts.forms import NewEmailForm
from webapp.accounts.models import User
from webapp.platform.mail import send_email
from webapp.extensions import db, limiter
from webapp.platform.forms import EmptyForm
from webapp.platform.htmx import is_htmx, render
from webapp.platform.security import resident_required
from webapp.platform.tokens import TokenError, consume, is_used, make_token, read_token

log = logging.getLogger("wardline.accounts")
PURPOSE = "email-change"
MAX_AGE = 24 * 60 * 60


def change_token(user: User, new_email: str) -> str:
    return make_token(PURPOSE, {"uid": user.id, "old": user.email, "new": new_email,
                                "sv": user.session_version}, single_use=True)


def check_change_token(token: str) -> tuple[User, dict]:
    """``(user, payload)`` for a usable link; raises :class:`TokenError`."""
    payload = read_token(PURPOSE, token, max_age=MAX_AGE)
    user = db.session.get(User, payload.get("uid")) if isinstance(payload.get("uid"), int) else None
    if user is None or user.role != "resident" or user.session_version != payload.get("sv") \
            or user.email != payload.get("old") or not isinstance(payload.get("new"), str):
        raise TokenError("invalid")
    if is_used(PURPOSE, payload.get("jti", "")):
        raise TokenError("used")
    return user, payload


def _taken(address: str, user: User) -> bool:
    return db.session.scalar(select(func.count()).select_from(User).where(
        User.email == address, User.id != user.id)) > 0


def _mask(address: str) -> str:
    """"sam@example.org" → "s**@example.org" (for the notice to the old address)."""
    local, _, domain = address.partition("@")
    return (local[:1] + "*" * max(len(local) - 1, 2)) + "@" + domain


@bp.post("/settings/email")
@limiter.limit(lambda: current_app.config["SIGNIN_LIMIT_PER_EMAIL"],
               key_func=lambda: f"email-change:{current_user.get_id()}",
               deduct_when=lambda response: response.status_code == 200)
@resident_required
def settings_email():
    """Ask to change the address: a link goes to the new one."""
    user = current_user
    form = NewEmailForm()
    error = None
    if form.validate() and form.email.data == user.email:
        error = "That is already your email address."
    if not form.validate() or error:
        if error:
            form.email.errors = [error]
        return _section(form, status=422)
    new = form.email.data
    absolute = services.absolute_url
    try:
        if _taken(new, user):
            send_email(new, "Changing an email address on Wardline", "accounts/email_taken")
        else:
            link = absolute("accounts.confirm_email", token=change_token(user, new))
            send_email(new, "Confirm your new email address", "accounts/email_confirm",
                       user=user, link=link)
    except (smtplib.SMTPException, OSError):
        log.exception("Could not send the email change link")
        form.email.errors = ["We couldn't send the email just now. Please try again in a few minutes."]
        return _section(form, status=503)
    return _section(NewEmailForm(formdata=None), status=200, sent_to=new)


def _section(form, *, status: int, sent_to: str | None = None):
    if is_htmx():
        return render("accounts/_settings_email.html", user=current_user, email_form=form,
                      sent_to=sent_to, status=status)
    return account_routes._settings_page(status=status, email_form=form, email_sent_to=sent_to)


@bp.route("/settings/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str):
    """The link in the email to the new address. GET asks (link scanners fetch links), the
    POST changes the address, uses the link up and tells the old address."""
    form = EmptyForm()
    try:
        user, payload = check_change_token(token)
    except TokenError as exc:
        return _confirm_page(form, reason=exc.reason, status=400)
    if request.method == "GET":
        return _confirm_page(form, user=user, new=payload["new"])
    if not form.validate():
        return _confirm_page(form, reason="invalid", status=400)
    old, new = user.email, payload["new"]
    if _taken(new, user):
        return _confirm_page(form, reason="taken", status=409)
    try:
        consume(PURPOSE, payload["jti"])
    except TokenError:
        db.session.rollback()
        return _confirm_page(form, reason="used", status=400)
    user.email = new
    db.session.commit()
    try:
        send_email(old, "Your Wardline email address was changed", "accounts/email_changed",
                   user=user, new_masked=_mask(new))
    except (smtplib.SMTPException, OSError):
        log.exception("Could not send the email change notice to the old address")
    return _confirm_page(form, user=user, new=new, done=True)


def _confirm_page(form, *, user=None, new=None, reason=None, done=False, status=200):
    response = make_response(render_template(
        "accounts/email_confirm.html", form=form, user=user, new=new, reason=reason,
        done=done), status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
