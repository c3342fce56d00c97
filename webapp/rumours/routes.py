"""Views of the rumours domain."""
from __future__ import annotations

from flask import abort, flash, render_template, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from webapp.extensions import limiter
from webapp.platform.guard import intercept
from webapp.platform.htmx import hx_redirect, render
from webapp.platform.params import int_arg
from webapp.rumours import bp, services
from webapp.rumours.forms import AskForm, VerdictForm
from webapp.rumours.models import STATUSES, VERDICTS
from webapp.threads.services import resident_wards
from webapp.platform.security import officer_required, resident_required
from webapp.platform.db import write_transaction
from webapp.wards.services import get_ward



# Residents' sending limit, the same budget (scope) as conversations and replies
# (threads' RESIDENT_SEND_LIMIT): POSTs only, officers exempt.
resident_send_limit = limiter.shared_limit(
    "10 per minute;60 per day", scope="resident-messages",
    key_func=lambda: f"user:{current_user.get_id() or request.remote_addr}",
    exempt_when=lambda: request.method != "POST" or not (
        current_user.is_authenticated and current_user.is_resident))


@bp.app_template_global()
def ward_checked_rumours(ward, limit: int = 5):
    """For the ward home's "Checked by your team" (templates/rumours/_ward_section.html)."""
    return services.checked_for_ward(ward, limit)


@bp.app_template_global()
def inbox_rumour_checks(user):
    """For the officer inbox's "Heard something?" section."""
    return services.checks_for_officer(user)


def _ask_form():
    form = AskForm() if request.method == "POST" else AskForm(formdata=None)
    wards = resident_wards(current_user)
    form.ward.choices = [SelectChoice(w.id, w.name) for w in wards]
    if request.method == "GET" and wards:
        wanted = int_arg("ward")
        form.ward.data = wanted if wanted in {w.id for w in wards} else wards[0].id
    return form, wards


@bp.route("/rumours", methods=["GET", "POST"])
@resident_required
@resident_send_limit
def ask():
    """ "Heard something?": the short form and my checks. The guard checks the text."""
    form, wards = _ask_form()
    error, guard = None, None
    if request.method == "POST" and form.validate():
        guard = intercept(request.form, form.text.data)
        if guard is None:
            ward = next((w for w in wards if w.id == form.ward.data), None)
            try:
                with write_transaction():
                    services.ask(current_user, ward, form.text.data)
            except services.RumourError as exc:
                error = str(exc)
            else:
                flash("Thanks: your ward team will check it and tell you.", "success")
                return hx_redirect(url_for("rumours.ask"))
    status = 200 if request.method == "GET" else 422
    return render("rumours/ask.html", "rumours/_ask_form.html", status=status, form=form,
                  error=error, guard=guard, mine=services.mine(current_user), statuses=STATUSES)


@bp.get("/rumours/<int:rumour_id>")
def show(rumour_id: int):
    rumour = services.public(rumour_id)
    if rumour is None:
        abort(404)
    return render_template("rumours/show.html", rumour=rumour)


@bp.get("/wards/<code>/checked")
def ward_checked(code: str):
    ward = get_ward(code)
    if ward is None:
        abort(404)
    return render_template("rumours/ward_checked.html", ward=ward,
                           rumours=services.checked_for_ward(ward, 50))


@bp.route("/officer/rumours/<int:rumour_id>", methods=["GET", "POST"])
@officer_required
def officer_check(rumour_id: int):
    """Answer a rumour check with a public verdict (or change it)."""
    rumour = services.get_for_officer(current_user, rumour_id)
    if rumour is None:
        abort(404)
    if request.method == "POST":
        form = VerdictForm()
    else:
        form = VerdictForm(formdata=None)
        form.claim.data = rumour.claim or services.default_claim(rumour)
        form.verdict.data = rumour.verdict
    error = None
    if request.method == "POST" and form.validate():
        try:
            with write_transaction():
                services.publish_verdict(current_user, rumour, form.claim.data,
                                         form.verdict.data, form.explanation.data)
        except services.RumourError as exc:
            error = str(exc)
        except PermissionError:
            abort(404)
        else:
            flash("Published to the ward. The resident who asked has been told.", "success")
            return hx_redirect(url_for("rumours.officer_check", rumour_id=rumour_id))
    return render("rumours/officer_check.html", "rumours/_verdict_form.html",
                  status=422 if request.method == "POST" else 200, rumour=rumour, form=form,
                  error=error, verdicts=VERDICTS)
