"""Views of a resident's survey and settings (wards, updates, concerns, name), export and
deletion. Thin: parse, check access, call a service, render."""
from __future__ import annotations

import json

from flask import (flash, make_response, redirect, render_template, request,
                   session, url_for)
from flask_login import current_user, logout_user

from webapp.platform.forms import EmptyForm
from webapp.accounts import bp, services
from webapp.accounts.forms import (ConcernsForm, NameForm, NewEmailForm, UpdatesForm, WardPickForm,
                                   WardsForm)
from webapp.platform.taxonomy import CATEGORIES
from webapp.extensions import db
from webapp.platform.pagestore import for_each_session
from webapp.platform.htmx import hx_redirect, is_htmx, render
from webapp.platform.params import int_arg
from webapp.platform.security import resident_required
from webapp.wards.services import finder_results, list_boroughs




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
            db.session.commit()
        except services.AnswerError as exc:
            db.session.rollback()
            error = exc.message
    return _wards_changed(mode, error)


@bp.post("/survey/ward/remove")
@resident_required
def remove_ward():
    """Stop following one of the extra wards."""
    return _change_ward(lambda code: services.remove_extra_ward(current_user, code))


@bp.post("/survey/ward/unmute")
@resident_required
def unmute_ward():
    """Turn updates about a ward back on (stopped from an email's unsubscribe page)."""
    return _change_ward(lambda code: services.mute_ward(current_user, code, muted=False))


def _change_ward(change):
    """Apply ``change(ward code)`` from a ward's button (Remove, Turn them on) and answer."""
    mode = _pick_mode(request.args.get("next"))
    form = WardPickForm()
    if not form.validate():
        return _wards_changed(mode, "The form expired. Please send it again.")
    change(form.ward.data)
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
@for_each_session("alerts", "concerns", "incident_follows", "phone_codes", "sms_categories",
                  "sms_numbers", "user_categories")
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
        db.session.commit()
        session.clear()
        logout_user()
        flash("Your account and personal data have been deleted.", "success")
        return redirect(url_for("core.index"), 303)
    return render_template("accounts/delete_confirm.html", form=form)
