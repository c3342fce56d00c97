"""Views of meetings for officers: the list, set-up and changes, concerns, the summary,
check-in and the attendee list. Thin: parse, check access, call a service, render, commit."""
from __future__ import annotations


from flask import (abort, flash, make_response, redirect, request,
                   url_for)
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from webapp.accounts.concerns import counts_of
from webapp.extensions import db
from webapp.platform.htmx import hx_redirect, is_htmx, render
from webapp.meetings import bp, services
from webapp.platform.forms import EmptyForm
from webapp.meetings.forms import (AnsweredForm, CancelMeetingForm, CheckinForm, MeetingForm, SummaryForm)
from webapp.meetings.models import Meeting
from webapp.platform.security import officer_required
from webapp.platform.timeutil import utcnow
from webapp.wards.services import covered_wards
from webapp.platform.audit import record



def _managed_or_abort(meeting_id: int) -> Meeting:
    """The meeting for its managers: 404 when unknown, 403 for other wards' officers."""
    try:
        return services.managed_meeting(current_user, meeting_id)
    except LookupError:
        abort(404)
    except services.NotAllowed:
        abort(403)


# --------------------------------------------------------------------------- officers
def _meeting_form(form: MeetingForm | None = None) -> MeetingForm:
    form = form or MeetingForm()
    covered = covered_wards(current_user)
    form.wards.choices = [SelectChoice(w.id, w.label) for w in covered]
    form.borough.choices = [SelectChoice(0, "No: only the wards ticked")] + \
        [SelectChoice(b.id, f"Yes: all of {b.name}") for b in services.manageable_boroughs(covered)]
    return form


@bp.get("/officer/meetings")
@officer_required
def officer_index():
    """The meetings of the wards the officer covers, upcoming then past."""
    upcoming = services.meetings_managed_by(current_user, upcoming=True)
    return render("meetings/officer_index.html", upcoming=upcoming,
                  past=services.meetings_managed_by(current_user, upcoming=False),
                  counts=services.rsvp_counts([meeting.id for meeting in upcoming]))


@bp.route("/officer/meetings/new", methods=["GET", "POST"])
@officer_required
def officer_new():
    """Set up a meeting; the audience is invited when it is saved."""
    form = _meeting_form()
    if request.method == "GET":
        form.reminder_hours.data = 24
    if form.validate_on_submit():
        details = form.details()
        errors = services.validate_details(details, creating=True)
        for name, message in errors.items():
            getattr(form, name).errors = [*getattr(form, name).errors, message]
        if not errors:
            try:
                meeting = services.create_meeting(current_user, details, form.wards.data or [],
                                                  form.borough.data or None)
            except services.NotAllowed:
                abort(403)
            except services.MeetingError as exc:
                form.wards.errors = [str(exc)]
            else:
                db.session.commit()
                flash("Meeting saved, and the invitation is on its way.", "success")
                return hx_redirect(url_for("meetings.officer_show", meeting_id=meeting.id))
    status = 422 if request.method == "POST" else 200
    return render("meetings/officer_new.html", "meetings/_meeting_form.html", status=status,
                  form=form, meeting=None)


def _officer_context(meeting: Meeting, **extra) -> dict:
    concerns = services.meeting_concerns(meeting)
    counts = counts_of([concern for concern, _ in concerns])
    context = {
        "meeting": meeting, **services.attendance(meeting.id),
        "counts": counts, "chart": services.concern_chart(counts), "concerns": concerns,
        "cancel_form": CancelMeetingForm(), "summary_form": SummaryForm(),
        "answer_form": AnsweredForm(), "now": utcnow(),
    }
    context.update(extra)
    if "form" not in context:
        form = _meeting_form(MeetingForm(formdata=None))
        form.load(meeting)
        context["form"] = form
    return context


@bp.route("/officer/meetings/<int:meeting_id>", methods=["GET", "POST"])
@officer_required
def officer_show(meeting_id):
    """A meeting for its managers: counts, concerns chart, edit, cancel and summary."""
    meeting = _managed_or_abort(meeting_id)
    if request.method == "GET":
        return render("meetings/officer_show.html", **_officer_context(meeting))
    form = _meeting_form()
    if form.validate_on_submit():
        details = form.details()
        errors = services.validate_details(details, creating=False,
                                           going=services.going_count(meeting.id))
        for name, message in errors.items():
            getattr(form, name).errors = [*getattr(form, name).errors, message]
        if not errors:
            try:
                changed = services.update_meeting(current_user, meeting, details)
            except services.MeetingError as exc:
                flash(str(exc), "error")
            else:
                flash("Saved. Everyone with a place or on the waitlist was told of the new "
                      "time or place." if changed else "Saved.", "success")
            return hx_redirect(url_for("meetings.officer_show", meeting_id=meeting_id))
    return render("meetings/officer_show.html", "meetings/_meeting_form.html", status=422,
                  **_officer_context(meeting, form=form))


@bp.post("/officer/meetings/<int:meeting_id>/cancel")
@officer_required
def officer_cancel(meeting_id):
    """Cancel the meeting; everyone going or waitlisted is told."""
    meeting = _managed_or_abort(meeting_id)
    form = CancelMeetingForm()
    if not form.validate_on_submit():
        return render("meetings/officer_show.html", status=422,
                      **_officer_context(meeting, cancel_form=form))
    services.cancel_meeting(current_user, meeting.id, (form.reason.data or "").strip())
    flash("The meeting is cancelled and everyone with a place or on the waitlist is told.", "success")
    return hx_redirect(url_for("meetings.officer_show", meeting_id=meeting_id))


@bp.post("/officer/meetings/<int:meeting_id>/concerns/<int:concern_id>/answered")
@officer_required
def officer_answered(meeting_id, concern_id):
    """Mark a concern as answered at the meeting (or undo it)."""
    meeting = _managed_or_abort(meeting_id)
    form = AnsweredForm()
    if not form.validate_on_submit():
        abort(400)
    if not services.mark_answered(current_user, meeting, concern_id, form.answered.data == "1"):
        abort(404)
    db.session.commit()
    if is_htmx():
        return render("meetings/_officer_concerns.html", **_officer_context(meeting))
    return redirect(url_for("meetings.officer_show", meeting_id=meeting_id) + "#concerns", 303)


@bp.post("/officer/meetings/<int:meeting_id>/summary")
@officer_required
def officer_summary(meeting_id):
    """Post the after-meeting summary to attendees and the ward."""
    meeting = _managed_or_abort(meeting_id)
    form = SummaryForm()
    if form.validate_on_submit():
        try:
            services.post_summary(current_user, meeting, form.summary.data)
        except services.MeetingError as exc:
            form.summary.errors = [*form.summary.errors, str(exc)]
        else:
            db.session.commit()
            flash("Summary posted to the attendees and the ward.", "success")
            return hx_redirect(url_for("meetings.officer_show", meeting_id=meeting_id))
    return render("meetings/officer_show.html", status=422,
                  **_officer_context(meeting, summary_form=form))


def _checkin_context(meeting: Meeting, **extra) -> dict:
    query = (request.args.get("q") or "").strip()[:60]
    context = {"meeting": meeting, **services.attendance(meeting.id),
               "form": CheckinForm(), "button_form": EmptyForm(), "query": query,
               "matches": services.search_attendees(meeting, query), "result": None, "error": None}
    context.update(extra)
    return context


@bp.route("/officer/meetings/<int:meeting_id>/checkin", methods=["GET", "POST"])
@officer_required
def officer_checkin(meeting_id):
    """The check-in desk: scan or type a code, or find a name; counts at the top."""
    meeting = _managed_or_abort(meeting_id)
    if request.method == "GET":
        if is_htmx() and request.args.get("q") is not None:
            return render("meetings/_checkin_matches.html", **_checkin_context(meeting))
        return render("meetings/officer_checkin.html", **_checkin_context(meeting))
    form = CheckinForm()
    result, error = None, None
    if form.validate_on_submit():
        try:
            result = services.check_in_by_token(current_user, meeting, form.code.data)
            db.session.commit()
        except services.MeetingError as exc:
            error = str(exc)
    else:
        error = form.code.errors[0] if form.code.errors else "Please try again."
    status = 422 if error else 200
    context = _checkin_context(meeting, result=result, error=error)
    if result is not None:
        context["form"] = CheckinForm(formdata=None)
    return render("meetings/officer_checkin.html", "meetings/_checkin_desk.html", status=status,
                  **context)


@bp.post("/officer/meetings/<int:meeting_id>/checkin/<int:rsvp_id>")
@officer_required
def officer_checkin_rsvp(meeting_id, rsvp_id):
    """Check in someone found by name."""
    meeting = _managed_or_abort(meeting_id)
    result, error = None, None
    try:
        result = services.check_in(current_user, meeting, rsvp_id=rsvp_id)
        db.session.commit()
    except services.MeetingError as exc:
        error = str(exc)
    return render("meetings/officer_checkin.html", "meetings/_checkin_desk.html",
                  status=422 if error else 200,
                  **_checkin_context(meeting, result=result, error=error))


@bp.get("/officer/meetings/<int:meeting_id>/attendees.csv")
@officer_required
def officer_csv(meeting_id):
    """The attendee list as CSV (email addresses only for the organising team)."""
    meeting = _managed_or_abort(meeting_id)
    body = services.attendee_csv(meeting, current_user)
    record(current_user, "meeting.export", meeting,
           "with emails" if services.in_organising_team(current_user, meeting) else "names only")
    db.session.commit()
    response = make_response(body)
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="meeting-{meeting_id}-attendees.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response
