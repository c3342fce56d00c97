"""Views of the meetings domain: residents' meeting pages, RSVPs, concerns and calendars;
officers' set-up, concerns chart, check-in desk, attendee export and summary."""
from __future__ import annotations

from datetime import timedelta

from flask import (Response, abort, current_app, flash, make_response, redirect,
                   render_template, request, url_for)
from flask_login import current_user
from markupsafe import Markup
from wtforms.fields.choices import SelectChoice

from webapp.extensions import db, limiter
from webapp.platform.htmx import hx_redirect, is_htmx, render
from webapp.meetings import bp, services
from webapp.platform.tokens import TokenError
from webapp.platform.forms import EmptyForm
from webapp.meetings.forms import (AnsweredForm, CancelMeetingForm, CheckinForm, ConcernForm,
                                   MeetingForm, SummaryForm)
from webapp.meetings.ical import build_calendar
from webapp.meetings.models import Meeting
from webapp.platform.security import officer_required, resident_required
from webapp.platform.taxonomy import MAX_CONCERNS
from webapp.platform.timeutil import utcnow
from webapp.wards.services import covered_wards, get_ward
from webapp.platform.audit import record
import io
import segno


def _per_user() -> str:
    """Rate-limit key: the signed-in user (many residents may share one IP address)."""
    return f"user:{current_user.get_id()}" if current_user.is_authenticated else request.remote_addr or ""


def _meeting_or_404(meeting_id: int) -> Meeting:
    meeting = db.session.get(Meeting, meeting_id)
    if meeting is None:
        abort(404)
    return meeting


def _managed_or_abort(meeting_id: int) -> Meeting:
    """The meeting for its managers: 404 when unknown, 403 for other wards' officers."""
    try:
        return services.managed_meeting(current_user, meeting_id)
    except LookupError:
        abort(404)
    except services.NotAllowed:
        abort(403)


def qr_svg(data: str) -> Markup:
    """An inline SVG QR code (no inline styles, so it passes the CSP)."""

    out = io.BytesIO()
    segno.make(data, error="m").save(out, kind="svg", xmldecl=False, svgns=True, nl=False, omitsize=True,
                                     scale=4, border=2, svgclass="qr", lineclass="qr-line",
                                     title="Your check-in code")
    return Markup(out.getvalue().decode())


# --------------------------------------------------------------------------- residents
@bp.get("/meetings")
@resident_required
def index():
    """Upcoming meetings in the resident's wards, then elsewhere in their boroughs."""
    mine, nearby = services.meetings_for_resident(current_user)
    return render("meetings/index.html", mine=mine, nearby=nearby)


@bp.get("/meetings/mine")
@resident_required
def mine():
    """Your meetings: where you're going (with your check-in code), waitlisted, and past."""
    return render("meetings/mine.html", **services.my_meetings(current_user))


def _cancel_link_row(token: str):
    try:
        return services.rsvp_for_cancel_token(token), None
    except TokenError as exc:
        return None, exc.reason


@bp.route("/meetings/cancel/<token>", methods=["GET", "POST"])
@limiter.limit("60 per hour")
def cancel_by_link(token: str):
    """The confirmation email's "Give up your place" link: works without signing in (the
    link is the proof); GET asks, the POST gives up the place."""
    row, reason = _cancel_link_row(token)
    form = EmptyForm()
    status, done = 200, False
    if row is None:
        status = 400
    elif request.method == "POST":
        if not form.validate():
            abort(400)
        services.cancel_rsvp(row.meeting_id, row.user_id)
        done = True
    meeting = row.meeting if row is not None else None
    response = make_response(render_template(
        "meetings/cancel_link.html", row=row, meeting=meeting, reason=reason, form=form,
        done=done), status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _resident_context(meeting: Meeting, **extra) -> dict:
    """What the meeting page shows the current user (only their own RSVP and concerns)."""
    user = current_user if current_user.is_authenticated else None
    is_resident = user is not None and user.role == "resident"
    mine = services.rsvp_for(meeting.id, user.id) if is_resident else None
    context = {
        "meeting": meeting, "rsvp": mine, "is_resident": is_resident,
        "places_left": services.places_left(meeting),
        "position": services.waitlist_position(mine),
        "closed_reason": services.rsvp_closed_reason(meeting),
        "can_manage": user is not None and user.is_staff and services.can_manage(user, meeting),
        "form": EmptyForm(),
        "rsvp_error": None,
    }
    if mine is not None and mine.status == "going":
        context["qr"] = qr_svg(services.checkin_token(meeting, user))
        context["checkin_code"] = services.checkin_code(meeting.id, user.id)
    if is_resident:
        context["may_concern"] = services.may_submit_concerns(user, meeting, mine)
        context["concerns"] = services.own_concerns(meeting, user)
        context["concern_form"] = extra.pop("concern_form", None) or ConcernForm()
        context["max_concerns"] = MAX_CONCERNS
    context.update(extra)
    return context


@bp.get("/meetings/<int:meeting_id>")
def show(meeting_id):
    """A meeting's details, places left and (for residents) their own status."""
    meeting = _meeting_or_404(meeting_id)
    return render("meetings/show.html", "meetings/_rsvp.html", **_resident_context(meeting))


def _after_rsvp_change(meeting_id: int, message: str | None, error: str | None):
    """htmx: swap the RSVP panel (422 with the message when refused). Plain: flash, 303."""
    meeting = _meeting_or_404(meeting_id)
    if is_htmx():
        return render("meetings/_rsvp.html", status=422 if error else 200,
                      **_resident_context(meeting, rsvp_error=error, rsvp_message=message))
    if error:
        flash(error, "error")
    elif message:
        flash(message, "success")
    return redirect(url_for("meetings.show", meeting_id=meeting_id), 303)


@bp.post("/meetings/<int:meeting_id>/rsvp")
@limiter.limit("60 per hour", key_func=_per_user)
@resident_required
def rsvp(meeting_id):
    """RSVP in one tap: a place while there are places, else the waitlist."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    user_id = current_user.id
    try:
        row = services.rsvp(meeting_id, user_id)
    except LookupError:
        abort(404)
    except services.RsvpClosed as exc:
        return _after_rsvp_change(meeting_id, None, str(exc))
    if row.status == "going":
        message = "You're going. We'll remind you the day before."
    else:
        message = (f"The meeting is full, so you're on the waitlist (number "
                   f"{services.waitlist_position(row)}). We'll tell you if a place opens up.")
    return _after_rsvp_change(meeting_id, message, None)


@bp.post("/meetings/<int:meeting_id>/cancel")
@limiter.limit("60 per hour", key_func=_per_user)
@resident_required
def cancel(meeting_id):
    """Give up a place (or leave the waitlist); the first waitlisted moves up at once."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.cancel_rsvp(meeting_id, current_user.id)
    except LookupError:
        abort(404)
    return _after_rsvp_change(meeting_id, "You've cancelled. Thanks for letting us know.", None)


@bp.post("/meetings/<int:meeting_id>/concerns")
@limiter.limit("60 per hour", key_func=_per_user)
@resident_required
def add_concern(meeting_id):
    """Add one of up to three concerns for the meeting (topic plus optional text)."""
    meeting = _meeting_or_404(meeting_id)
    form = ConcernForm()
    if form.validate_on_submit():
        try:
            services.add_concern(meeting_id, current_user.id, form.topic.data, form.text.data or "")
        except services.NotAllowed:
            abort(403)
        except services.MeetingError as exc:
            form.topic.errors = [*form.topic.errors, str(exc)]
        else:
            if is_htmx():
                meeting = _meeting_or_404(meeting_id)
                return render("meetings/_concerns.html", **_resident_context(meeting))
            flash("Thank you: your concern was added. Only the ward team sees it.", "success")
            return redirect(url_for("meetings.show", meeting_id=meeting_id) + "#concerns", 303)
    meeting = _meeting_or_404(meeting_id)
    return render("meetings/show.html", "meetings/_concerns.html", status=422,
                  **_resident_context(meeting, concern_form=form))


@bp.post("/meetings/<int:meeting_id>/concerns/<int:concern_id>/delete")
@resident_required
def delete_concern(meeting_id, concern_id):
    """Withdraw one of your own concerns (before the meeting ends)."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    if not services.delete_concern(meeting_id, current_user.id, concern_id):
        abort(404)
    if is_htmx():
        return render("meetings/_concerns.html", **_resident_context(_meeting_or_404(meeting_id)))
    flash("Your concern was removed.", "success")
    return redirect(url_for("meetings.show", meeting_id=meeting_id) + "#concerns", 303)


def _ics_response(body: bytes, filename: str) -> Response:
    response = make_response(body)
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/meetings/<int:meeting_id>.ics")
def meeting_ics(meeting_id):
    """One meeting as an iCalendar file ("Add to calendar")."""
    meeting = _meeting_or_404(meeting_id)
    body = build_calendar([meeting], base_url=current_app.config["BASE_URL"], name=meeting.title)
    return _ics_response(body, f"meeting-{meeting.id}.ics")


@bp.get("/wards/<ward_code>/meetings.ics")
def ward_feed(ward_code):
    """A ward's subscribable calendar: its meetings from 30 days ago on, cancelled ones
    marked so calendars drop them."""
    ward = get_ward(ward_code)
    if ward is None:
        abort(404)
    meetings = services.ward_meetings(ward, since=utcnow() - timedelta(days=30),
                                      include_cancelled=True)
    body = build_calendar(meetings, base_url=current_app.config["BASE_URL"],
                          name=f"Wardline meetings: {ward.name}")
    response = _ics_response(body, f"{ward.code}-meetings.ics")
    response.headers["Content-Disposition"] = f'inline; filename="{ward.code}-meetings.ics"'
    response.headers["Cache-Control"] = "public, max-age=900"
    return response


# --------------------------------------------------------------------------- officers
def _meeting_form(form: MeetingForm | None = None) -> MeetingForm:
    form = form or MeetingForm()
    form.wards.choices = [SelectChoice(w.id, w.label) for w in covered_wards(current_user)]
    form.borough.choices = [SelectChoice(0, "No: only the wards ticked")] + \
        [SelectChoice(b.id, f"Yes: all of {b.name}") for b in services.manageable_boroughs(current_user)]
    return form


@bp.get("/officer/meetings")
@officer_required
def officer_index():
    """The meetings of the wards the officer covers, upcoming then past."""
    return render("meetings/officer_index.html",
                  upcoming=services.meetings_managed_by(current_user, upcoming=True),
                  past=services.meetings_managed_by(current_user, upcoming=False),
                  going_count=services.going_count, waitlist_count=services.waitlist_count)


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
                flash("Meeting saved, and the invitation is on its way.", "success")
                return hx_redirect(url_for("meetings.officer_show", meeting_id=meeting.id))
    status = 422 if request.method == "POST" else 200
    return render("meetings/officer_new.html", "meetings/_meeting_form.html", status=status,
                  form=form, meeting=None)


def _officer_context(meeting: Meeting, **extra) -> dict:
    counts = services.concern_counts(meeting)
    context = {
        "meeting": meeting, "going": services.going_count(meeting.id),
        "waitlisted": services.waitlist_count(meeting.id),
        "checked_in": services.checked_in_count(meeting.id),
        "counts": counts, "chart": services.concern_chart(counts),
        "concerns": services.meeting_concerns(meeting),
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
            flash("Summary posted to the attendees and the ward.", "success")
            return hx_redirect(url_for("meetings.officer_show", meeting_id=meeting_id))
    return render("meetings/officer_show.html", status=422,
                  **_officer_context(meeting, summary_form=form))


def _checkin_context(meeting: Meeting, **extra) -> dict:
    query = (request.args.get("q") or "").strip()[:60]
    context = {"meeting": meeting, "going": services.going_count(meeting.id),
               "waitlisted": services.waitlist_count(meeting.id),
               "checked_in": services.checked_in_count(meeting.id),
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
    if not EmptyForm().validate_on_submit():
        abort(400)
    result, error = None, None
    try:
        result = services.check_in(current_user, meeting, rsvp_id=rsvp_id)
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


@bp.app_template_global()
def ward_upcoming_meetings(ward, limit: int = 3) -> list[Meeting]:
    """The ward home's "Upcoming meetings" (``templates/meetings/_ward_section.html``)."""
    return services.ward_meetings(ward, limit=limit)
