"""Views of residents' sign-up and sign-in by emailed link, and signing out. Thin: parse,
check access, call a service, render."""
from __future__ import annotations

import logging
import smtplib

from flask import (current_app, flash, g, make_response, redirect, render_template, request,
                   session, url_for)
from flask_login import current_user, login_required, logout_user

from webapp.platform.forms import EmptyForm
from webapp.accounts import bp, services, sessions
from webapp.accounts.models import normalise_email
from webapp.accounts.forms import (LoginForm, SignupForm)
from webapp.extensions import db, limiter
from webapp.platform.htmx import hx_redirect, is_htmx, render
from webapp.platform.security import safe_next
from webapp.platform.tokens import TokenError


log = logging.getLogger("wardline.accounts")


# --------------------------------------------------------------------------- rate limits
def _email_key() -> str:
    """Rate-limit key for sign-in requests: the address asked for, normalised loosely
    (even an invalid one), so one inbox cannot be flooded whichever form is used."""
    return "email:" + normalise_email(request.form.get("email"))


def _too_many(_limit):
    """A friendly answer when sign-in links were asked for too often (429)."""
    if is_htmx():
        # htmx does not swap 4xx responses, but follows HX-Redirect whatever the status.
        response = make_response("", 429)
        response.headers["HX-Redirect"] = url_for("accounts.too_many")
        return response
    return make_response(render_template("accounts/too_many.html"), 429)


def _link_sent(response) -> bool:
    """Only a sent link counts against the limits: a blank or invalid address (422), a
    mail server that failed (503) or a refused request (429) costs nothing."""
    return bool(g.get("signin_link_sent"))


def _ip_key() -> str:
    return "signin-ok/" + (request.remote_addr or "")


def note_signin_from_ip() -> None:
    """Remember (in the rate-limit storage, shared by every process) that someone completed
    a sign-in from this address: a ward meeting's Wi-Fi then gets the higher limit."""
    try:
        limiter.storage.incr(_ip_key(), current_app.config["SIGNIN_BUSY_IP_SECONDS"])
    except Exception:  # the limiter's storage is down: sign-in must still work
        log.warning("Could not record a sign-in for the rate limit", exc_info=True)


def _per_ip_limit_value() -> str:
    """20 links an hour per address, or SIGNIN_LIMIT_PER_BUSY_IP (100) while people there
    completed sign-ins recently (a room signing up together on one Wi-Fi)."""
    try:
        busy = limiter.storage.get(_ip_key()) > 0
    except Exception:
        busy = False
    if busy:
        return current_app.config["SIGNIN_LIMIT_PER_BUSY_IP"]
    return current_app.config["SIGNIN_LIMIT_PER_IP"]


per_email_limit = limiter.shared_limit(
    lambda: current_app.config["SIGNIN_LIMIT_PER_EMAIL"], scope="signin-email",
    key_func=_email_key, methods=["POST"], on_breach=_too_many, deduct_when=_link_sent)
per_ip_limit = limiter.shared_limit(
    _per_ip_limit_value, scope="signin-ip",
    methods=["POST"], on_breach=_too_many, deduct_when=_link_sent)


@bp.errorhandler(429)
def _rate_limited(error):
    """Serve the answer :func:`_too_many` built (Flask-Limiter attaches it to the error)."""
    response = getattr(error, "response", None)
    return response if response is not None else _too_many(None)


@bp.get("/signin/slow-down")
def too_many():
    """Where htmx lands after a rate-limited request (see :func:`_too_many`)."""
    return render_template("accounts/too_many.html")


# --------------------------------------------------------------------------- sign-up, sign-in
def _send_link_or_fail(user, form, page: str, fragment: str, next_path: str | None = None):
    """Send the sign-in email (after the commit) and show "check your email".

    Everyone sees the same answer whether or not the address has an account, and whether it
    is a resident's or an officer's. When the mail server fails we say so (503), which also
    reveals nothing about the address.
    """
    try:
        if user is None:
            services.send_no_account_email(form.email.data)
        else:
            services.send_signin_email(user, next_path)
    except (smtplib.SMTPException, OSError):
        log.exception("Could not send the sign-in email")
        return render(page, fragment, form=form, status=503,
                      send_error="We couldn't send the email just now. Please try again "
                                 "in a few minutes.")
    g.signin_link_sent = True  # counts against the rate limits (see _link_sent)
    if is_htmx():
        return render("accounts/check_email.html", "accounts/_check_email.html",
                      email=form.email.data)
    # Post/redirect/get: reloading the answer must not send another email.
    session["signin_sent_to"] = form.email.data
    return redirect(url_for("accounts.check_email"), 303)


@bp.get("/signin/sent")
def check_email():
    """ "Check your email", after a sign-up or sign-in request (the same for every address)."""
    email = session.get("signin_sent_to")
    if not email:
        return redirect(url_for("accounts.login"))
    return render_template("accounts/check_email.html", email=email)


@bp.route("/signup", methods=["GET", "POST"])
@per_ip_limit
@per_email_limit
def signup():
    """Sign up with an email address and a display name (double opt-in by emailed link).

    An address that already has an account gets a sign-in link instead; the page shown is
    the same, so it never tells whether an address is registered.
    """
    if current_user.is_authenticated and current_user.is_resident:
        return redirect(url_for("core.index"))
    form = SignupForm()
    if request.method == "POST":
        if not form.validate():
            return render("accounts/signup.html", "accounts/_signup_form.html",
                          form=form, status=422)
        user = services.register_resident(form.email.data, form.display_name.data)
        db.session.commit()  # before the email: a rolled-back sign-up never mails a link
        return _send_link_or_fail(user, form, "accounts/signup.html",
                                  "accounts/_signup_form.html")
    return render("accounts/signup.html", "accounts/_signup_form.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
@per_ip_limit
@per_email_limit
def login():
    """Ask for a sign-in link. Unknown addresses are told, by email, how to sign up; the
    page shown is the same either way. ``next`` (a page that asked for sign-in) travels
    inside the link."""
    if current_user.is_authenticated and current_user.is_resident:
        return redirect(url_for("core.index"))
    form = LoginForm()
    if request.method == "POST":
        if not form.validate():
            return render("accounts/login.html", "accounts/_login_form.html",
                          form=form, status=422)
        user = services.find_user_by_email(form.email.data)
        return _send_link_or_fail(user, form, "accounts/login.html", "accounts/_login_form.html",
                                  safe_next(form.next.data))
    form.next.data = safe_next(request.args.get("next"))
    return render("accounts/login.html", "accounts/_login_form.html", form=form)


def _switching_from(user):
    """The account signed in on this browser when it is not ``user`` (else None)."""
    if current_user.is_authenticated and current_user.id != user.id:
        return current_user._get_current_object()
    return None


@bp.route("/signin/<token>", methods=["GET", "POST"])
def signin_link(token: str):
    """The link in the email. GET only shows a "Continue" button, so that link scanners
    (which fetch every link) cannot use it up; the POST signs in and uses the token.

    When someone else is signed in on this browser, the page asks first ("You are signed
    in as A. Continue as B?"), and the POST must carry that confirmation (``switch``)."""
    form = EmptyForm()
    if request.method == "GET":
        try:
            user, _payload = services.check_signin_token(token)
        except TokenError as exc:
            return _bad_link(exc.reason)
        return _continue_page(user, form)
    if not form.validate():
        return _bad_link("invalid")
    try:
        user, _payload = services.check_signin_token(token)
    except TokenError as exc:
        return _bad_link(exc.reason)
    if _switching_from(user) is not None and request.form.get("switch") != str(user.id):
        return _continue_page(user, form, status=409)
    try:
        user, next_path = services.complete_signin(token)
        db.session.commit()
    except TokenError as exc:
        db.session.rollback()
        return _bad_link(exc.reason)
    if current_user.is_authenticated:
        sessions.revoke(sessions.current_session_id())  # the previous account's session ends
        db.session.commit()
        session.clear()
        logout_user()
    sessions.sign_in(user, remember=True)
    note_signin_from_ip()
    return redirect(next_path or url_for("core.index"), 303)


def _continue_page(user, form, status: int = 200):
    response = make_response(render_template(
        "accounts/signin_continue.html", form=form, user=user,
        first_time=user.confirmed_at is None, signed_in_as=_switching_from(user)), status)
    # The token is in the URL: keep it out of caches and Referer headers.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _bad_link(reason: str):
    """A clear page for an expired, used or broken link, offering a new one."""
    response = make_response(render_template("accounts/signin_failed.html", reason=reason,
                                             form=LoginForm()), 400)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.post("/logout")
def logout():
    """Sign out (POST with CSRF, so no link or image can sign anyone out). The session
    ends on the server too: a saved copy of its cookies no longer works."""
    sessions.sign_out()
    flash("You have signed out.", "success")
    return redirect(url_for("core.index"), 303)


@bp.post("/settings/sign-out-everywhere")
@login_required
def sign_out_everywhere():
    """Sign out of all devices: every session and remember cookie of this account, and
    every unused sign-in link, stop working."""
    form = EmptyForm()
    if not form.validate():
        return redirect(url_for("accounts.settings"), 303)
    sessions.sign_out_everywhere(current_user._get_current_object())
    flash("You have signed out on all your devices.", "success")
    return hx_redirect(url_for("core.index"))
