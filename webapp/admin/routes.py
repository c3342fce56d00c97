"""Admin pages: officers, teams and assignments, and the audit log (admins only)."""
from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from webapp.accounts import mfa, throttle
from webapp.admin import bp, services
from webapp.admin.forms import OfficerForm, TeamForm
from webapp.platform.forms import EmptyForm
from webapp.extensions import db
from webapp.platform.htmx import render
from webapp.platform.params import page_arg
from webapp.platform.security import admin_required, no_store


@bp.get("/admin")
@admin_required
def index():
    return render_template("admin/index.html")


# --------------------------------------------------------------------------- officers
@bp.get("/admin/officers")
@admin_required
def officers():
    return render_template("admin/officers.html", staff=services.list_staff())


def _officer_form(user=None):
    form = OfficerForm(obj=user) if user is not None and request.method == "GET" else OfficerForm()
    teams = services.team_choices()
    form.teams.choices = [SelectChoice(t.id, t.name) for t in teams]
    if user is not None and request.method == "GET":
        form.teams.data = [t.id for t in user.teams]
        form.is_admin.data = user.role == "admin"
        form.rank.data = user.rank or ""
    return form, {t.id: t for t in teams}


@bp.route("/admin/officers/new", methods=["GET", "POST"])
@admin_required
def officer_new():
    """Create an officer; their one-time password is shown once, here."""
    form, teams = _officer_form()
    error = None
    if form.validate_on_submit():
        try:
            user, password = services.create_officer(
                current_user, email=form.email.data, name=form.display_name.data,
                rank=form.rank.data or None, shoulder_number=form.shoulder_number.data,
                admin=form.is_admin.data, teams=[teams[i] for i in form.teams.data or [] if i in teams])
            db.session.commit()
        except services.AdminError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            return no_store(make_response(render_template(
                "admin/password.html", user=user, password=password, created=True)))
    status = 422 if (form.errors or error) else 200
    return render_template("admin/officer_form.html", form=form, error=error, user=None), status


@bp.route("/admin/officers/<int:user_id>", methods=["GET", "POST"])
@admin_required
def officer_edit(user_id):
    """Edit an officer's details and team assignments; reset password or 2FA; clear
    failed sign-in attempts."""
    user = services.get_staff(user_id)
    if user is None:
        abort(404)
    form, teams = _officer_form(user)
    form.email.data = user.email  # the email is the sign-in name: not editable here
    error = None
    if form.validate_on_submit():
        try:
            services.update_officer(current_user, user, name=form.display_name.data,
                                    rank=form.rank.data or None,
                                    shoulder_number=form.shoulder_number.data,
                                    admin=form.is_admin.data,
                                    teams=[teams[i] for i in form.teams.data or [] if i in teams])
            db.session.commit()
        except services.AdminError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            flash("Officer saved.", "success")
            return redirect(url_for("admin.officer_edit", user_id=user.id), 303)
    status = 422 if (form.errors or error) else 200
    return render_template("admin/officer_form.html", form=form, error=error, user=user,
                           failed_attempts=throttle.recent_failures(user.email),
                           empty_form=EmptyForm(),
                           backup_codes_left=mfa.backup_codes_left(user)), status


@bp.post("/admin/officers/<int:user_id>/<any('reset-password', 'reset-2fa', unlock):action>")
@admin_required
def officer_action(user_id, action):
    user = services.get_staff(user_id)
    if user is None:
        abort(404)
    if action == "reset-password":
        password = services.reset_password(current_user, user)
        db.session.commit()
        return no_store(make_response(render_template(
            "admin/password.html", user=user, password=password, created=False)))
    if action == "reset-2fa":
        services.reset_second_factor(current_user, user)
        flash("Their authenticator was reset: they will set it up again at their next sign-in.", "success")
    else:
        services.unlock(current_user, user)
        flash("Failed sign-in attempts cleared.", "success")
    db.session.commit()
    return redirect(url_for("admin.officer_edit", user_id=user.id), 303)


# --------------------------------------------------------------------------- teams
@bp.get("/admin/teams")
@admin_required
def teams():
    return render_template("admin/teams.html", teams=services.list_teams())


def _team_form(team=None):
    # Not obj=team: the form would read team.members, which the staff list answers below.
    form = TeamForm(data={"name": team.name}) if team is not None and request.method == "GET" \
        else TeamForm()
    staff = [u for u in services.list_staff() if u.role == "officer"]
    form.members.choices = [SelectChoice(u.id, f"{u.officer_label} <{u.email}>") for u in staff]
    if team is not None and request.method == "GET":
        form.wards.data = ", ".join(w.code for w in team.wards)
        # The team's officers, from the staff list (each loaded with their teams).
        form.members.data = [u.id for u in staff if team in u.teams]
    return form, {u.id: u for u in staff}


@bp.route("/admin/teams/new", methods=["GET", "POST"])
@admin_required
def team_new():
    form, staff = _team_form()
    error = None
    if form.validate_on_submit():
        try:
            team = services.create_team(current_user, form.name.data,
                                        services.parse_ward_codes(form.wards.data))
            team.members = [staff[i] for i in form.members.data or [] if i in staff]
            db.session.commit()
        except services.AdminError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            flash("Team created.", "success")
            return redirect(url_for("admin.team_edit", team_id=team.id), 303)
    status = 422 if (form.errors or error) else 200
    return render_template("admin/team_form.html", form=form, error=error, team=None), status


@bp.route("/admin/teams/<int:team_id>", methods=["GET", "POST"])
@admin_required
def team_edit(team_id):
    """Edit a team: its name, the wards it covers and its officers (assignments)."""
    team = services.get_team(team_id)
    if team is None:
        abort(404)
    form, staff = _team_form(team)
    error = None
    if form.validate_on_submit():
        try:
            services.update_team(current_user, team, name=form.name.data,
                                 wards=services.parse_ward_codes(form.wards.data),
                                 members=[staff[i] for i in form.members.data or [] if i in staff])
            db.session.commit()
        except services.AdminError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            flash("Team saved.", "success")
            return redirect(url_for("admin.team_edit", team_id=team.id), 303)
    status = 422 if (form.errors or error) else 200
    return render_template("admin/team_form.html", form=form, error=error, team=team), status


# --------------------------------------------------------------------------- audit
@bp.get("/admin/audit")
@admin_required
def audit():
    """The audit log, newest first, filterable by action; htmx swaps just the table."""
    actions = services.audit_actions()
    action = request.args.get("action") or None
    if action not in actions:
        action = None
    page = page_arg()
    events, has_more = services.audit_page(action, page)
    return render("admin/audit.html", "admin/_audit_table.html", events=events,
                  has_more=has_more, current_page=page, action=action, actions=actions)
