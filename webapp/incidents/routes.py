"""Views of the incidents domain."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.alerts import services as alerts
from webapp.extensions import db, limiter
from webapp.platform.guard import intercept
from webapp.platform.pagecache import watch
from webapp.platform.htmx import hx_redirect, is_htmx, render
from webapp.incidents import bp, services
from webapp.threads import services as threads
from webapp.incidents.forms import AlertReplyForm, UpdateForm
from webapp.incidents.models import INCIDENT_STATES
from webapp.platform.security import officer_required, resident_required
from webapp.platform.db import write_transaction



# Residents' sending limit, the same budget (scope) as conversations and replies
# (threads' RESIDENT_SEND_LIMIT): POSTs only, officers exempt.
resident_send_limit = limiter.shared_limit(
    "10 per minute;60 per day", scope="resident-messages",
    key_func=lambda: f"user:{current_user.get_id() or request.remote_addr}",
    exempt_when=lambda: request.method != "POST" or not (
        current_user.is_authenticated and current_user.is_resident))


# What the incident's timeline shows: the same for everyone, rendered once per alert
# (cached_html in templates/incidents/_incident.html) until one of these tables changes.
INCIDENT_TABLES = watch("alerts", "incidents", "incident_updates")


@bp.app_template_global()
def incident_timeline(alert):
    """For the public alert page: the incident's state, what it closes or its outcome, and
    its updates (what everyone sees alike)."""
    incident, closes = services.incident_and_closed(alert)
    return {"state": incident.state if incident else "ongoing", "states": INCIDENT_STATES,
            "updates": services.updates_for(alert), "incident": incident, "closes": closes}


@bp.app_template_global()
def incident_standing(alert):
    """For the public alert page: whether the signed-in resident follows the incident, and
    the ward they may reply to its team from."""
    resident = current_user.is_authenticated and current_user.role == "resident"
    following, reply_ward = (services.resident_standing(current_user, alert) if resident
                             else (False, None))
    return {"following": following, "reply_ward": reply_ward, "tables": INCIDENT_TABLES}


def incident_view(alert):
    """The incident's timeline and the resident's standing (the follow and reply pages)."""
    return {**incident_timeline(alert), **incident_standing(alert)}


@bp.app_template_global()
def incident_unfollow_url(user_id, alert_id):
    """For the update emails: the signed "Stop following" link."""
    return services.unfollow_url(user_id, alert_id)


@bp.app_template_global()
def incident_follows(user):
    """For Settings: the incidents a resident follows."""
    return services.follows_of(user) if user.role == "resident" else []


@bp.app_template_global()
def conversation_tag_map(rows):
    """For the officer inbox: {conversation id: (tag labels)} of the listed rows (one query;
    tuples: a row's labels are part of the key its HTML is kept under)."""
    return {cid: tuple(labels) for cid, labels in
            services.tag_labels([row.conversation.id for row in rows]).items()}


def _public_alert_or_404(alert_id: int):
    alert = alerts.public_alert(alert_id)
    if alert is None:
        abort(404)
    return alert


# --------------------------------------------------------------------------- officers
def _managed_sent_alert(alert_id: int):
    alert = alerts.get_alert_for(current_user, alert_id)
    if alert is None:
        abort(404)
    if not alerts.may_manage(current_user, alert):
        abort(403)
    return alert


@bp.route("/officer/alerts/<int:alert_id>/updates", methods=["GET", "POST"])
@officer_required
def officer_updates(alert_id: int):
    """Add an update to a sent alert (and close it, with or without an outcome)."""
    alert = _managed_sent_alert(alert_id)
    form = UpdateForm() if request.method == "POST" else UpdateForm(formdata=None)
    error = None
    if alert.state != "sent":
        error = "Only a sent alert can have updates."
    elif request.method == "POST" and form.validate():
        try:
            services.add_update(current_user, alert, services.UpdateInput(
                body=form.body.data or "", urgent=bool(form.urgent.data),
                close=form.close.data or "", outcome_title=form.outcome_title.data or "",
                outcome_body=form.outcome_body.data or ""))
            db.session.commit()
        except alerts.NotAllowed:
            db.session.rollback()
            abort(403)
        except (services.IncidentError, alerts.AlertError) as exc:
            db.session.rollback()
            error = str(exc)
        else:
            flash("Update sent to everyone following this incident.", "success")
            return hx_redirect(url_for("incidents.officer_updates", alert_id=alert.id))
    status = 422 if request.method == "POST" else 200
    return render("incidents/officer_updates.html", "incidents/_update_form.html", status=status,
                  alert=alert, form=form, error=error, view=incident_view(alert))


@bp.post("/officer/messages/<int:conversation_id>/needs-reporting")
@officer_required
def needs_reporting(conversation_id: int):
    """One tap: reply with the right reporting route and tag the conversation."""
    conversation = threads.get_conversation(current_user, conversation_id)
    if conversation is None:
        abort(404)
    route = request.form.get("route", "")[:16]
    if route not in services.REPORTING_ROUTES:
        flash("Choose which route to give.", "warning")
        return redirect(url_for("threads.officer_conversation", conversation_id=conversation.id), 303)
    try:
        with write_transaction():
            message = services.answer_needs_reporting(current_user, conversation, route)
    except threads.ThreadError as exc:
        flash(str(exc), "warning")
        return redirect(url_for("threads.officer_conversation", conversation_id=conversation.id), 303)
    flash("Sent the reporting route and tagged the conversation \"needs reporting\".", "success")
    return redirect(url_for("threads.officer_conversation", conversation_id=conversation.id)
                    + f"#m{message.id}", 303)


# --------------------------------------------------------------------------- residents
@bp.post("/alerts/<int:alert_id>/<any(follow, unfollow):action>")
@resident_required
def follow(alert_id: int, action: str):
    alert = _public_alert_or_404(alert_id)
    services.set_following(current_user, alert, action == "follow")
    db.session.commit()
    if is_htmx():
        return render_template("incidents/_follow.html", alert=alert,
                               view=incident_view(alert))
    flash("You will be told of its updates." if action == "follow"
          else "You will not be told of its updates.", "success")
    return redirect(url_for("alerts.alert_page", alert_id=alert.id), 303)


@bp.route("/alerts/<int:alert_id>/reply", methods=["GET", "POST"])
@resident_required
@resident_send_limit
def reply(alert_id: int):
    """Reply to an alert: a conversation with the ward team, linked to the alert. The
    guard checks the text first (999 / 101)."""
    alert = _public_alert_or_404(alert_id)
    ward = services.reply_ward(current_user, alert)
    form = AlertReplyForm() if request.method == "POST" else AlertReplyForm(formdata=None)
    error, guard = None, None
    if ward is None:
        error = "You can reply to alerts for your own wards. Choose this ward in Settings first."
    elif request.method == "POST" and form.validate():
        guard = intercept(request.form, form.body.data)
        if guard is None:
            try:
                with write_transaction():
                    conversation = services.reply_to_alert(current_user, alert, form.body.data,
                                                           form.idempotency_key.data)
            except threads.ThreadError as exc:
                error = str(exc)
            else:
                return hx_redirect(url_for("threads.conversation", conversation_id=conversation.id))
    status = 200 if request.method == "GET" else 422
    if request.method == "POST" and ward is None:
        status = 403
    return render("incidents/reply.html", "incidents/_reply_form.html", status=status,
                  alert=alert, form=form, error=error, guard=guard, ward=ward,
                  subject=services.reply_subject(alert))


@bp.route("/incidents/stop/<token>", methods=["GET", "POST"])
def stop_following(token: str):
    """The "Stop following" link of an update email: a page with a button (a link
    scanner's GET changes nothing); the POST stops. No sign-in: the token names both."""
    found = services.read_unfollow_token(token)
    if found is None:
        return render_template("incidents/stop.html", alert=None, done=False), 400
    user, alert = found
    done = False
    if request.method == "POST":
        services.set_following(user, alert, False)
        db.session.commit()
        done = True
    return render_template("incidents/stop.html", alert=alert, done=done, token=token)
