"""Officer and admin sign-in: email and password, then a second factor (TOTP or a backup
code). The first sign-in enrols the authenticator app.

Only after the second factor does ``session["mfa_user_id"]`` hold the user's id, which is
what :func:`webapp.security.role_required` asks of staff. A staff member signed in any other
way (a resident email link) never gets that flag, and it is never remembered: staff
sessions end with the browser session.
"""
from __future__ import annotations

from datetime import timedelta

from flask import redirect, render_template, request, session, url_for
from flask_login import login_user, user_logged_in, user_logged_out

from webapp.accounts import bp, mfa
from webapp.accounts.officer_forms import OfficerLoginForm, TotpForm
from webapp.admin.audit import record
from webapp.extensions import db, limiter
from webapp.timeutil import format_london, utcnow

PENDING_KEY = "staff_pending"
PENDING_MAX_AGE = timedelta(minutes=10)  # password step to second factor
LOGIN_POST_LIMIT = "10 per minute;60 per hour"  # per address, on every sign-in POST


@user_logged_in.connect
def _forget_second_factor_on_login(sender, user, **extra):
    """Any fresh sign-in starts without the second-factor flag; only the TOTP step sets it
    (so an officer using a resident email link gets no officer pages)."""
    session.pop("mfa_user_id", None)


@user_logged_out.connect
def _forget_second_factor_on_logout(sender, user, **extra):
    session.pop("mfa_user_id", None)
    session.pop(PENDING_KEY, None)


def _safe_next(target: str | None) -> str | None:
    """Accept only a local path as a place to go after sign-in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def _pending_user():
    """The staff member who passed the password step in this browser, or None."""
    from webapp.accounts.models import User
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


def _locked_message(until) -> str:
    return ("Too many failed attempts. This account is locked until "
            f"{format_london(until, '%H:%M')}. Try again then, or ask an administrator.")


def _complete_sign_in(user):
    """Sign ``user`` in for this browser session only, with the second factor done."""
    target = _safe_next(session.get(PENDING_KEY, {}).get("next"))
    session.pop(PENDING_KEY, None)
    login_user(user, remember=False, fresh=True)  # never remembered without TOTP
    session["mfa_user_id"] = user.id
    user.last_login_at = utcnow()
    mfa.reset_failures(user)
    record(user, "staff.sign_in", user)
    db.session.commit()
    return target or url_for("core.staff_home")


@bp.route("/officer/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_POST_LIMIT, methods=["POST"])
def officer_login():
    """Step 1: work email and password."""
    form = OfficerLoginForm()
    error = None
    if form.validate_on_submit():
        check = mfa.check_password(form.email.data, form.password.data)
        db.session.commit()  # keep the failure count even when we refuse
        if check.locked_until is not None:
            error = _locked_message(check.locked_until)
        elif not check.ok:
            error = "That email and password do not match a staff account."
        else:
            user = check.user
            next_url = _safe_next(request.args.get("next"))
            session.clear()  # a fresh session: nothing from before the sign-in carries over
            session[PENDING_KEY] = {"uid": user.id, "sv": user.session_version,
                                    "at": utcnow().timestamp(), "next": next_url}
            if user.totp_confirmed_at is None:
                return redirect(url_for("accounts.officer_enrol"), 303)
            return redirect(url_for("accounts.officer_verify"), 303)
    status = 422 if (form.errors or error) else 200
    return render_template("accounts/officer_login.html", form=form, error=error), status


@bp.route("/officer/login/enrol", methods=["GET", "POST"])
@limiter.limit(LOGIN_POST_LIMIT, methods=["POST"])
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
        lock = mfa.locked_until(user)
        if lock is not None:
            error = _locked_message(lock)
        else:
            codes = mfa.confirm_enrolment(user, user.totp_secret, form.code.data)
            if codes is not None:
                record(user, "staff.totp_enrolled", user)
                next_url = _complete_sign_in(user)
                return render_template("accounts/officer_backup_codes.html", codes=codes,
                                       next_url=next_url)
            if mfa.record_failure(user):
                session.pop(PENDING_KEY, None)
                error = _locked_message(mfa.locked_until(user))
            else:
                error = "That code did not match. Check the time on your phone and try the newest code."
            db.session.commit()
    uri = mfa.provisioning_uri(user, user.totp_secret)
    status = 422 if (form.errors or error) else 200
    return render_template("accounts/officer_enrol.html", form=form, error=error,
                           qr_svg=mfa.qr_svg(uri), secret=user.totp_secret), status


@bp.route("/officer/login/verify", methods=["GET", "POST"])
@limiter.limit(LOGIN_POST_LIMIT, methods=["POST"])
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
        lock = mfa.locked_until(user)
        if lock is not None:
            session.pop(PENDING_KEY, None)
            error = _locked_message(lock)
        else:
            code = form.code.data.strip()
            used_backup = False
            ok = mfa.verify_totp(user, code)
            if not ok and mfa.use_backup_code(user, code):
                ok = used_backup = True
            if ok:
                if used_backup:
                    record(user, "staff.backup_code_used", user,
                           f"{mfa.backup_codes_left(user)} left")
                return redirect(_complete_sign_in(user), 303)
            if mfa.record_failure(user):
                session.pop(PENDING_KEY, None)
                error = _locked_message(mfa.locked_until(user))
            else:
                error = "That code did not match. Try the newest code, or a backup code."
            db.session.commit()
    status = 422 if (form.errors or error) else 200
    return render_template("accounts/officer_verify.html", form=form, error=error), status


@bp.post("/officer/logout")
def officer_logout():
    """Sign out completely: end the session (and its second factor) in this browser."""
    from flask_login import logout_user
    session.clear()
    logout_user()  # after clear(): it marks a remember cookie, if any, for removal
    return redirect(url_for("accounts.officer_login"), 303)
