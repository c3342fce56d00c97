"""Views of the accounts domain: residents' sign-up and sign-in by emailed link, the
survey, settings, export and deletion. Thin: parse, check access, call a service, render.
"""
from __future__ import annotations

import json
import logging
import smtplib

from flask import (current_app, flash, g, make_response, redirect, render_template, request,
                   session, url_for)
from flask_login import current_user, login_required, logout_user

from webapp.platform.forms import EmptyForm
from webapp.accounts import bp, services, sessions
from webapp.accounts.forms import (ConcernsForm, LoginForm, NameForm, NewEmailForm, SignupForm,
                                   UpdatesForm, WardPickForm, WardsForm)
from webapp.platform.taxonomy import CATEGORIES
from webapp.extensions import db, limiter
from webapp.platform.htmx import hx_redirect, is_htmx, render
from webapp.platform.params import int_arg
from webapp.platform.security import resident_required, safe_next
from webapp.platform.tokens import TokenError
from webapp.wards.services import finder_results, list_boroughs

log = logging.getLogger("wardline.accounts")


# --------------------------------------------------------------------------- rate limits
def _email_key() -> str:
    """Rate-limit key for sign-in requests: the address asked for, normalised loosely
    (even an invalid one), so one inbox cannot be flooded whichever form is used."""
    return "email:" + (request.form.get("email") or "").strip().lower()[:254]


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
        limiter.storage.incr(_ip_key(), current_app.config.get("SIGNIN_BUSY_IP_SECONDS", 3600))
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
        return current_app.config.get("SIGNIN_LIMIT_PER_BUSY_IP", "100/hour")
    return current_app.config.get("SIGNIN_LIMIT_PER_IP", "20/hour")


per_email_limit = limiter.shared_limit(
    lambda: current_app.config.get("SIGNIN_LIMIT_PER_EMAIL", "5/hour"), scope="signin-email",
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


# --------------------------------------------------------------------------- shared bits
def _finder_context(mode: str, args) -> dict:
    """What the ward finder needs: the boroughs, and results of a plain (no-JS) search."""
    query = (args.get("q") or "")[:80]
    borough = (args.get("borough") or "")[:9]
    results, borough_wards, answer = finder_results(query, borough)
    return {"pick": mode, "q": query, "borough_code": borough.upper(), "boroughs": list_boroughs(),
            "results": results, "borough_wards": borough_wards, "answer": answer,
            "pick_form": WardPickForm(formdata=None)}


def _updates_form(user, formdata=None) -> UpdatesForm:
    # Until the resident has chosen, every update is ticked (a choice of nothing is made
    # on purpose, and warned about).
    categories = sorted(user.category_codes) if services.updates_chosen(user) else list(CATEGORIES)
    data = {"categories": categories, "email_frequency": user.email_frequency}
    return UpdatesForm(formdata=formdata, data=data) if formdata is not None else \
        UpdatesForm(formdata=None, data=data)


def _concerns_form(user, formdata=None) -> ConcernsForm:
    concerns = services.survey_concerns(user)
    data = {"concerns": [c.topic for c in concerns],
            "other_text": next((c.text for c in concerns if c.topic == "other"), "") or ""}
    return ConcernsForm(formdata=formdata, data=data) if formdata is not None else \
        ConcernsForm(formdata=None, data=data)


def _pick_mode(value: str | None) -> str:
    """Where a ward choice came from ("survey" or "settings"); not a URL."""
    return value if value in ("survey", "settings") else "survey"


def _next_url(mode: str) -> str:
    if mode == "settings":
        return url_for("accounts.settings") + "#wards"
    return url_for("accounts.survey", step=1)


# --------------------------------------------------------------------------- survey
def _survey_response(step: int, *, status: int = 200, **extra):
    user = current_user
    ctx = {"step": step, "steps": services.SURVEY_STEPS, "user": user, "mode": "survey"}
    if step == 1:
        ctx.update(_finder_context("survey", request.args))
        ctx["wards_form"] = extra.pop("wards_form", None) or WardsForm(formdata=None)
    elif step == 2:
        ctx["form"] = extra.pop("form", None) or _updates_form(user)
    else:
        ctx["form"] = extra.pop("form", None) or _concerns_form(user)
    ctx.update(extra)
    response = render("accounts/survey.html", "accounts/_survey.html", status=status, **ctx)
    if is_htmx() and request.method == "POST" and status == 200:
        response.headers["HX-Push-Url"] = url_for("accounts.survey", step=step)
    return response


@bp.route("/survey", methods=["GET", "POST"])
@resident_required
def survey():
    """The three-step survey. Every step saves as it goes; ``survey_step`` remembers where
    to resume, so leaving halfway keeps the answers."""
    user = current_user
    if request.method == "GET":
        requested = int_arg("step")
        if user.survey_completed_at is not None and requested is None:
            return redirect(url_for("accounts.settings"))
        return _survey_response(services.survey_position(user, requested))

    step = services.survey_position(user, int_arg("step", source=request.form))
    if step == 1:
        form = WardsForm()
        form.validate()  # only CSRF can fail here; ward rules are the service's
        if form.csrf_token.errors:
            return _survey_response(1, status=422, wards_form=form,
                                    ward_error="The form expired. Please send it again.")
        try:
            if form.home_ward.data:
                services.set_wards(user, form.home_ward.data, form.extra_wards.data or [])
            if user.home_ward is None:
                raise services.AnswerError("home_ward", "Choose the ward where you live.")
        except services.AnswerError as exc:
            db.session.rollback()
            return _survey_response(1, status=422, wards_form=form, ward_error=exc.message)
    elif step == 2:
        form = UpdatesForm()
        if not form.validate():
            return _survey_response(2, status=422, form=form)
        nothing = services.nothing_reaches(user, form.categories.data or [],
                                           form.email_frequency.data)
        if nothing and request.form.get("confirm_nothing") != nothing:
            # Say plainly that this choice means hearing nothing; continue only if confirmed.
            return _survey_response(2, form=form, nothing=nothing)
        services.set_updates(user, form.categories.data or [], form.email_frequency.data)
    else:
        form = ConcernsForm()
        if not form.validate():
            return _survey_response(3, status=422, form=form)
        services.set_concerns(user, form.concerns.data or [], form.other_text.data)
    services.advance_survey(user, step)
    db.session.commit()
    if step >= services.SURVEY_STEPS:
        flash("Thank you. Here is your ward.", "success")
        return hx_redirect(url_for("wards.ward_home", code=user.home_ward.code))
    if not is_htmx():
        return redirect(url_for("accounts.survey", step=step + 1), 303)
    return _survey_response(step + 1)


@bp.post("/survey/ward")
@resident_required
def choose_ward():
    """Save one ward chosen in the finder (home, or one more to follow)."""
    mode = _pick_mode(request.args.get("next"))
    form = WardPickForm()
    error = None
    if not form.validate():
        error = "The form expired. Please send it again."
    else:
        try:
            services.choose_ward(current_user, form.ward.data, form.role.data)
        except services.AnswerError as exc:
            db.session.rollback()
            error = exc.message
    return _wards_changed(mode, error)


@bp.post("/survey/ward/remove")
@resident_required
def remove_ward():
    """Stop following one of the extra wards."""
    mode = _pick_mode(request.args.get("next"))
    form = WardPickForm()
    if not form.validate():
        return _wards_changed(mode, "The form expired. Please send it again.")
    services.remove_extra_ward(current_user, form.ward.data)
    db.session.commit()
    return _wards_changed(mode, None)


def _wards_changed(mode: str, error: str | None):
    """Answer a ward choice: the chosen-wards fragment for htmx, else back to the page."""
    status = 422 if error else 200
    if is_htmx():
        return render("accounts/_chosen_wards.html", user=current_user, mode=mode,
                      ward_error=error, status=status)
    if error:
        if mode == "settings":
            return _settings_page(status=422, ward_error=error)
        return _survey_response(1, status=422, ward_error=error)
    return redirect(_next_url(mode), 303)


# --------------------------------------------------------------------------- settings
def _settings_page(*, status: int = 200, **forms):
    user = current_user
    ctx = {"user": user, "mode": "settings",
           "nothing": services.nothing_reaches(user, user.category_codes, user.email_frequency)
           if services.updates_chosen(user) else None,
           "name_form": forms.pop("name_form", None) or NameForm(
               formdata=None, data={"display_name": user.display_name}),
           "updates_form": forms.pop("updates_form", None) or _updates_form(user),
           "concerns_form": forms.pop("concerns_form", None) or _concerns_form(user),
           "email_form": forms.pop("email_form", None) or _new_email_form()}
    ctx.update(_finder_context("settings", request.args))
    ctx.update(forms)
    return make_response(render_template("accounts/settings.html", **ctx), status)


def _new_email_form():
    return NewEmailForm(formdata=None)


@bp.get("/settings")
@resident_required
def settings():
    """Change every survey answer; download or delete my data."""
    return _settings_page()


def _section(fragment: str, form_key: str, form, *, status: int, saved: bool = False,
             nothing: str | None = None):
    """Answer a settings form: its section fragment for htmx, else the page."""
    if is_htmx():
        return render(fragment, user=current_user, mode="settings", form=form, saved=saved,
                      status=status, nothing=nothing)
    if saved:
        flash("Saved.", "success")
        return redirect(url_for("accounts.settings"), 303)
    return _settings_page(status=status, **{form_key: form})


@bp.post("/settings/name")
@resident_required
def settings_name():
    form = NameForm()
    if not form.validate():
        return _section("accounts/_settings_name.html", "name_form", form, status=422)
    services.set_display_name(current_user, form.display_name.data)
    db.session.commit()
    return _section("accounts/_settings_name.html", "name_form", form, status=200, saved=True)


@bp.post("/settings/updates")
@resident_required
def settings_updates():
    form = UpdatesForm()
    if not form.validate():
        return _section("accounts/_settings_updates.html", "updates_form", form, status=422)
    services.set_updates(current_user, form.categories.data or [], form.email_frequency.data)
    db.session.commit()
    return _section("accounts/_settings_updates.html", "updates_form", form, status=200,
                    saved=True, nothing=services.nothing_reaches(
                        current_user, form.categories.data or [], form.email_frequency.data))


@bp.post("/settings/concerns")
@resident_required
def settings_concerns():
    form = ConcernsForm()
    if not form.validate():
        return _section("accounts/_settings_concerns.html", "concerns_form", form, status=422)
    services.set_concerns(current_user, form.concerns.data or [], form.other_text.data)
    db.session.commit()
    return _section("accounts/_settings_concerns.html", "concerns_form", form, status=200,
                    saved=True)


@bp.get("/settings/export")
@resident_required
def export():
    """Download my data: everything we hold about me, as a JSON file."""
    data = services.export_user_data(current_user)
    response = make_response(json.dumps(data, indent=2, ensure_ascii=False))
    response.mimetype = "application/json"
    response.headers["Content-Disposition"] = 'attachment; filename="wardline-my-data.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/settings/delete", methods=["GET", "POST"])
@resident_required
def delete_account():
    """Delete my account, after a confirmation step."""
    form = EmptyForm()
    if request.method == "POST" and form.validate():
        user = current_user._get_current_object()
        services.delete_account(user)
        session.clear()
        logout_user()
        flash("Your account and personal data have been deleted.", "success")
        return redirect(url_for("core.index"), 303)
    return render_template("accounts/delete_confirm.html", form=form)
