"""Officer and admin sign-in: email and password, then a second factor (TOTP or a backup
code). The first sign-in enrols the authenticator app; a one-time password (from an
admin) must then be replaced.

Only after the second factor does ``session["mfa_user_id"]`` hold the user's id, which is
what :func:`webapp.platform.security.role_required` asks of staff. A staff member signed in any other
way (a resident email link) never gets that flag, and it is never remembered: staff
sessions end with the browser session, after ``STAFF_IDLE_TIMEOUT`` idle and after
``STAFF_SESSION_MAX_AGE`` in all (:mod:`webapp.accounts.sessions`).

Failed attempts are throttled per account and source (:mod:`webapp.accounts.throttle`),
with the same answers for every address.
"""
from __future__ import annotations

import math
from datetime import timedelta

from flask import (current_app, flash, make_response, redirect, render_template, request,
                   session, url_for)
from flask_login import current_user, user_logged_in, user_logged_out

from webapp.accounts import bp, mfa, sessions, staff_auth, throttle
from webapp.accounts.officer_forms import OfficerLoginForm, PasswordChangeForm, TotpForm
from webapp.platform.audit import record
from webapp.extensions import db, limiter
from webapp.platform.qr import qr_svg
from webapp.platform.security import no_store, officer_required, safe_next
from webapp.platform.timeutil import utcnow
from webapp.accounts.models import User

PENDING_KEY = "staff_pending"
PENDING_MAX_AGE = timedelta(minutes=10)  # password step to second factor
LOGIN_POST_LIMIT = "10 per minute;60 per hour"  # per IP address, on every sign-in POST
WRONG_PASSWORD = "That email and password do not match a staff account."


@user_logged_in.connect
def _forget_second_factor_on_login(sender, user, **extra):
    """Any fresh sign-in starts without the second-factor flag; only the TOTP step sets it
    (so an officer using a resident email link gets no officer pages)."""
    session.pop("mfa_user_id", None)


@user_logged_out.connect
def _forget_second_factor_on_logout(sender, user, **extra):
    session.pop("mfa_user_id", None)
    session.pop(PENDING_KEY, None)


def _pending_user():
    """The staff member who passed the password step in this browser, or None."""
    pending = session.get(PENDING_KEY)
    if not pending:
        return None
    try:
        started = float(pending["at"])
        user = db.session.get(User, int(pending["uid"]))
    except (KeyError, TypeError, ValueError):
        return None
    if user is None or not user.is_staff or user.session_version != pending.get("sv") or \
            utcnow().timestamp() - started > PENDING_MAX_AGE.total_seconds():
        return None
    return user


def _from_known_device() -> bool:
    """True when the request comes from a device where the staff member it is about (the
    address typed, or the one past the password step) signed in before: Flask-Limiter's
    per-IP cap on sign-in POSTs does not apply to it, so an office sharing one address with
    someone guessing passwords still signs in (its attempts are counted per account and
    device)."""
    uid = throttle.device_user_id(request.cookies.get(throttle.DEVICE_COOKIE))
    if uid is None:
        return False
    if request.endpoint == "accounts.officer_login":
        user = staff_auth.find_staff(request.form.get("email"))
    else:
        user = _pending_user()
    return user is not None and user.id == uid


def _source(user) -> str:
    return throttle.source_key(user, request.cookies.get(throttle.DEVICE_COOKIE),
                               request.remote_addr)


def _slow_down(until) -> str:
    """The same answer for every address while a source must wait."""
    minutes = max(1, math.ceil((until - utcnow()).total_seconds() / 60))
    return (f"Too many failed attempts from this device. Wait {minutes} minute"
            f"{'s' if minutes != 1 else ''} and try again.")


def _failed(user, account: str, source: str, message: str) -> str:
    """Count a failed password or code; alert the officer when their account is being
    guessed. Commits. Returns the message to show."""
    until = throttle.record_failure(account, source)
    if user is not None:
        throttle.alert_if_guessed(user)
    db.session.commit()
    return _slow_down(until) if until is not None else message


def _complete_sign_in(user) -> str:
    """Sign ``user`` in for this browser session only, with the second factor done.
    Returns where to go next (the password page while a one-time password is in use)."""
    target = safe_next(session.get(PENDING_KEY, {}).get("next"))
    session.pop(PENDING_KEY, None)
    sessions.sign_in(user, remember=False)  # never remembered without TOTP
    session["mfa_user_id"] = user.id
    sessions.start_staff_session()
    user.last_login_at = utcnow()
    throttle.forget_source(throttle.account_key(user.email), _source(user))
    record(user, "staff.sign_in", user)
    db.session.commit()
    if user.password_must_change:
        return url_for("accounts.officer_password")
    return target or staff_landing()


def staff_landing() -> str:
    """Where staff land after signing in: the inbox, what waits for them."""
    return url_for("threads.inbox")


def _known_device(response, user):
    """Mark this browser as a device ``user`` signed in from: its attempts on their
    account are then counted apart from anyone else's."""
    config = current_app.config
    response.set_cookie(throttle.DEVICE_COOKIE, throttle.device_cookie_value(user),
                        max_age=throttle.DEVICE_MAX_AGE, path="/officer",
                        secure=config["SESSION_COOKIE_SECURE"], httponly=True, samesite="Lax")
    return response


@bp.route("/officer/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_POST_LIMIT, methods=["POST"], exempt_when=_from_known_device)
def officer_login():
    """Step 1: work email and password. Staff already signed in go where they work."""
    if request.method == "GET" and getattr(current_user, "is_fully_authenticated", False):
        return redirect(safe_next(request.args.get("next")) or staff_landing(), 303)
    form = OfficerLoginForm()
    error = None
    if form.validate_on_submit():
        staff = staff_auth.find_staff(form.email.data)
        account, source = throttle.account_key(form.email.data), _source(staff)
        wait = throttle.blocked_until(account, source)
        if wait is not None:
            error = _slow_down(wait)
        else:
            check = staff_auth.check_password(form.email.data, form.password.data)
            if check.expired:
                error = ("This one-time password has expired. Ask an administrator to "
                         "reset your password.")
            elif not check.ok:
                error = _failed(check.user, account, source, WRONG_PASSWORD)
            else:
                user = check.user
                next_url = safe_next(request.args.get("next"))
                session.clear()  # a fresh session: nothing from before the sign-in carries over
                session[PENDING_KEY] = {"uid": user.id, "sv": user.session_version,
                                        "at": utcnow().timestamp(), "next": next_url}
                if user.totp_confirmed_at is None:
                    return redirect(url_for("accounts.officer_enrol"), 303)
                return redirect(url_for("accounts.officer_verify"), 303)
    status = 422 if (form.errors or error) else 200
    return render_template("accounts/officer_login.html", form=form, error=error), status


def _throttled(user):
    """The throttle's keys for ``user`` from this source, and the "slow down" message while
    that pair must wait (None when a code may be tried now)."""
    account, source = throttle.account_key(user.email), _source(user)
    wait = throttle.blocked_until(account, source)
    return account, source, (_slow_down(wait) if wait is not None else None)


@bp.route("/officer/login/enrol", methods=["GET", "POST"])
@limiter.limit(LOGIN_POST_LIMIT, methods=["POST"], exempt_when=_from_known_device)
def officer_enrol():
    """First sign-in: scan a QR code, confirm one code, receive backup codes."""
    user = _pending_user()
    if user is None:
        return redirect(url_for("accounts.officer_login"), 303)
    if user.totp_confirmed_at is not None:
        return redirect(url_for("accounts.officer_verify"), 303)
    if not user.totp_secret:
        user.totp_secret = mfa.new_totp_secret()  # not trusted until confirmed
        db.session.commit()
    form = TotpForm()
    error = None
    if form.validate_on_submit():
        account, source, error = _throttled(user)
        if error is None:
            codes = mfa.confirm_enrolment(user, user.totp_secret, form.code.data)
            if codes is not None:
                record(user, "staff.totp_enrolled", user)
                next_url = _complete_sign_in(user)
                response = make_response(render_template(
                    "accounts/officer_backup_codes.html", codes=codes, next_url=next_url))
                return no_store(_known_device(response, user))
            error = _failed(user, account, source, "That code did not match. Check the time "
                                                  "on your phone and try the newest code.")
    uri = mfa.provisioning_uri(user, user.totp_secret)
    status = 422 if (form.errors or error) else 200
    response = make_response(render_template(
        "accounts/officer_enrol.html", form=form, error=error, qr_svg=qr_svg(uri, "QR code for your authenticator app"),
        secret=user.totp_secret, otpauth_uri=uri), status)
    return no_store(response)


@bp.route("/officer/login/verify", methods=["GET", "POST"])
@limiter.limit(LOGIN_POST_LIMIT, methods=["POST"], exempt_when=_from_known_device)
def officer_verify():
    """Step 2: a code from the authenticator app, or one backup code."""
    user = _pending_user()
    if user is None:
        return redirect(url_for("accounts.officer_login"), 303)
    if user.totp_confirmed_at is None:
        return redirect(url_for("accounts.officer_enrol"), 303)
    form = TotpForm()
    error = None
    if form.validate_on_submit():
        account, source, error = _throttled(user)
        if error is None:
            code = form.code.data.strip()
            used_backup = False
            ok = mfa.verify_totp(user, code)
            if not ok and mfa.use_backup_code(user, code):
                ok = used_backup = True
            if ok:
                if used_backup:
                    record(user, "staff.backup_code_used", user,
                           f"{mfa.backup_codes_left(user)} left")
                return _known_device(redirect(_complete_sign_in(user), 303), user)
            error = _failed(user, account, source,
                            "That code did not match. Try the newest code, or a backup code.")
    status = 422 if (form.errors or error) else 200
    return render_template("accounts/officer_verify.html", form=form, error=error), status


@bp.route("/officer/password", methods=["GET", "POST"])
@officer_required
def officer_password():
    """Change my password (staff). Required after signing in with a one-time password."""
    user = current_user._get_current_object()
    form = PasswordChangeForm()
    if form.validate_on_submit():
        errors = staff_auth.change_password(user, form.current_password.data, form.new_password.data)
        for name, message in errors.items():
            getattr(form, name).errors = [*getattr(form, name).errors, message]
        if not errors:
            # Other sessions ended with the new session version; keep this one.
            since, seen = session.get(sessions.STAFF_SINCE), session.get(sessions.STAFF_SEEN)
            sessions.revoke(sessions.current_session_id())
            sessions.sign_in(user, remember=False)
            session["mfa_user_id"] = user.id
            session[sessions.STAFF_SINCE], session[sessions.STAFF_SEEN] = since, seen
            db.session.commit()
            flash("Your password has been changed. You were signed out on other devices.",
                  "success")
            return redirect(staff_landing(), 303)
        db.session.rollback()
    status = 422 if form.errors else 200
    response = make_response(render_template("accounts/officer_password.html", form=form,
                                             forced=user.password_must_change), status)
    return no_store(response)


@bp.post("/officer/logout")
def officer_logout():
    """Sign out completely: this session ends on the server too, so a saved copy of its
    cookie no longer works."""
    sessions.sign_out()
    return redirect(url_for("accounts.officer_login"), 303)
