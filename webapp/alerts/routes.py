"""Views of the alerts domain: officers compose, preview, schedule and follow alerts;
everyone reads sent alerts (public announcements); residents say whether one was useful."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.alerts import answers, bp, services
from webapp.alerts.forms import DT_FORMAT, AlertForm
from webapp.alerts.review import review_page
from webapp.extensions import db
from webapp.platform.htmx import is_htmx, render
from webapp.platform.pagestore import for_each_session, for_visitors
from webapp.platform.security import officer_required
from webapp.platform.taxonomy import CATEGORIES
from webapp.platform.timeutil import london_to_utc, to_london
from webapp.wards.services import covered_wards
from webapp.wards.services import list_boroughs


@bp.app_template_global()
def ward_recent_alerts(ward, limit: int = 5):
    """For the ward home feed (templates/alerts/_ward_alerts.html)."""
    return services.recent_alerts_for_ward(ward, limit)


def _form(alert=None, formdata=None) -> AlertForm:
    wards = covered_wards(current_user)
    boroughs = {}
    for ward in wards:
        boroughs.setdefault(ward.borough.id, ward.borough.name)
    is_admin = current_user.role == "admin"
    if is_admin:
        boroughs = {b.id: b.name for b in list_boroughs()}
    kwargs = dict(ward_choices=[(w.id, f"{w.name} ({w.borough.name})") for w in wards],
                  borough_choices=sorted(boroughs.items(), key=lambda kv: kv[1]),
                  is_admin=is_admin)
    if formdata is not None:
        return AlertForm(formdata=formdata, **kwargs)
    form = AlertForm(formdata=None, **kwargs)
    if alert is not None:
        form.title.data, form.body.data, form.category.data = alert.title, alert.body, alert.category
        form.scope.data = alert.scope
        form.wards.data = [w.id for w in alert.wards]
        if alert.scope == "borough" and alert.wards:
            form.borough.data = alert.wards[0].borough_id
        form.channels.data = alert.channel_list
        form.when.data = "later"
        form.send_at.data = to_london(alert.send_at).replace(tzinfo=None)
        form.urgent.data = form.urgent_confirm.data = alert.urgent
    return form


def _target(form: AlertForm):
    return services.resolve_target(current_user, form.scope.data or "wards",
                                   ward_ids=form.wards.data or (),
                                   borough_id=form.borough.data or None)


def _preview(form: AlertForm) -> dict:
    """Counts for the preview, or a reason there are none yet."""
    try:
        target = _target(form)
    except services.NotAllowed:
        abort(403)
    except services.AlertError as exc:
        return {"counts": None, "reason": str(exc)}
    if form.category.data not in CATEGORIES:
        return {"counts": None, "reason": "Choose a category to see who it reaches."}
    counts = services.audience_counts(target.ward_ids, form.category.data,
                                      form.channels.data or [], bool(form.urgent.data))
    return {"counts": counts, "reason": None, "target": target,
            "channels": form.channels.data or []}


def _input(form: AlertForm, target) -> services.AlertInput:
    send_at = None
    if form.when.data == "later" and form.send_at.data:
        send_at = london_to_utc(form.send_at.data)
    return services.AlertInput(title=form.title.data or "", body=form.body.data or "",
                               category=form.category.data, channels=form.channels.data or [],
                               target=target, urgent=bool(form.urgent.data), send_at=send_at)


def _save(form: AlertForm, alert=None):
    """Validate and save; returns a response (redirect, or the form again with 422)."""
    page = "alerts/compose.html"
    ctx = dict(form=form, alert=alert, dt_format=DT_FORMAT)
    action = request.form.get("action")
    if action in ("preview", "edit"):  # "edit": back from the review, the form as it was
        return render(page, None, preview=_preview(form), **ctx)
    if not form.validate():
        return render(page, None, status=422, preview=_preview(form), **ctx)
    if action == "review":  # the form's main button: look before it goes (alerts/review.py)
        return review_page(form, alert, _preview(form), _target)
    try:
        target = _target(form)
        data = _input(form, target)
        if alert is None:
            alert = services.create_alert(current_user, data)
        else:
            alert = services.update_alert(current_user, alert, data)
        db.session.commit()
    except services.NotAllowed:
        db.session.rollback()
        abort(403)
    except services.AlertError as exc:
        db.session.rollback()
        return render(page, None, status=422, preview=_preview(form), error=str(exc), **ctx)
    flash("Alert sent." if alert.state == "sent" else "Alert scheduled.", "success")
    return redirect(url_for("alerts.officer_alert", alert_id=alert.id), 303)


@bp.route("/officer/alerts/new", methods=["GET", "POST"])
@officer_required
def new_alert():
    if request.method == "POST":
        return _save(_form(formdata=request.form))
    form = _form()
    return render_template("alerts/compose.html", form=form, alert=None,
                           preview=_preview(form), dt_format=DT_FORMAT)


@bp.post("/officer/alerts/preview")
@officer_required
def preview():
    """The live audience preview (htmx, on every change of the compose form)."""
    form = _form(formdata=request.form)
    return render_template("alerts/_preview.html", preview=_preview(form))


@bp.get("/officer/alerts")
@officer_required
def officer_alerts():
    return render_template("alerts/officer_list.html",
                           alerts=services.officer_alerts(current_user))


def _managed_alert_or_abort(alert_id: int):
    """The alert for someone who may change it: 404 when they cannot see it, 403 when they
    see it (a ward of theirs is in its audience) but do not cover every ward of it. Used by
    the GET and the POST of every changing route alike."""
    alert, may_manage = services.get_alert_managed_by(current_user, alert_id)
    if alert is None:
        abort(404)
    if not may_manage:
        abort(403)
    return alert


@bp.get("/officer/alerts/<int:alert_id>")
@officer_required
def officer_alert(alert_id: int):
    alert, can_manage = services.get_alert_managed_by(current_user, alert_id)
    if alert is None:
        abort(404)
    return render("alerts/officer_alert.html", "alerts/_stats.html", alert=alert,
                  stats=services.alert_stats(alert), columns=services.STAT_COLUMNS,
                  can_manage=can_manage)


@bp.route("/officer/alerts/<int:alert_id>/edit", methods=["GET", "POST"])
@officer_required
def edit_alert(alert_id: int):
    alert = _managed_alert_or_abort(alert_id)
    if alert.state != "scheduled":
        flash("This alert has already gone or was cancelled, so it can't be changed.", "warning")
        return redirect(url_for("alerts.officer_alert", alert_id=alert.id), 303)
    if request.method == "POST":
        return _save(_form(formdata=request.form), alert)
    form = _form(alert)
    return render_template("alerts/compose.html", form=form, alert=alert,
                           preview=_preview(form), dt_format=DT_FORMAT)


@bp.post("/officer/alerts/<int:alert_id>/cancel")
@officer_required
def cancel_alert(alert_id: int):
    alert = _managed_alert_or_abort(alert_id)
    try:
        services.cancel_alert(current_user, alert)
        db.session.commit()
        flash("Alert cancelled: it will not be sent.", "success")
    except services.NotAllowed:
        abort(403)
    except services.AlertError as exc:
        db.session.rollback()
        flash(str(exc), "warning")
    return redirect(url_for("alerts.officer_alert", alert_id=alert.id), 303)


# --------------------------------------------------------------------------- public
ALERT_PAGE_TABLES = ("alerts", "alert_wards", "incidents", "incident_updates", "users", "wards")


@bp.get("/alerts/<int:alert_id>")
@for_visitors(*ALERT_PAGE_TABLES)
# A resident's page also says whether they may rate it (the outbox reached them, or the
# alert's wards and category do now) and their answer; an officer's, the answers.
@for_each_session(*ALERT_PAGE_TABLES, "alert_answers", "incident_follows", "user_categories",
                  "deliveries", "notifications")
def alert_page(alert_id: int):
    """A sent alert: public, like a notice on the ward's board."""
    alert = services.public_alert(alert_id)
    if alert is None:
        abort(404)
    answer, may_rate = answers.answer_and_audience(alert, current_user)
    return render_template("alerts/alert.html", alert=alert, answer=answer, may_rate=may_rate)


@bp.post("/alerts/<int:alert_id>/useful")
def answer(alert_id: int):
    """ "Was this useful?" in one tap: htmx swaps the answer in; without JS, 303 back."""
    alert = services.public_alert(alert_id)
    if alert is None:
        abort(404)
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login", next=url_for("alerts.alert_page",
                                                               alert_id=alert.id)), 303)
    if not answers.in_audience(alert, current_user):
        abort(403)  # only the alert's audience rates it
    choice = request.form.get("useful")
    if choice not in ("yes", "no"):
        return render("alerts/alert.html", "alerts/_useful.html", status=422, alert=alert,
                      answer=answers.answer_for(alert, current_user),
                      error="Choose Yes or No.", may_rate=True)
    answer = answers.answer_useful(alert, current_user, choice == "yes")
    db.session.commit()
    if is_htmx():
        return render_template("alerts/_useful.html", alert=alert, answer=answer, may_rate=True)
    flash("Thanks for telling us.", "success")
    return redirect(url_for("alerts.alert_page", alert_id=alert.id), 303)
