"""Views of the meetings domain: residents' meeting pages, RSVPs, concerns and calendars;
officers' set-up, concerns chart, check-in desk, attendee export and summary."""
from __future__ import annotations

from datetime import timedelta

from flask import (Response, abort, current_app, flash, make_response, redirect,
                   render_template, request, url_for)
from flask_login import current_user

from webapp.extensions import db, limiter
from webapp.platform.qr import qr_svg
from webapp.platform.htmx import is_htmx, render
from webapp.platform.pagestore import for_each_session, for_visitors
from webapp.meetings import bp, services
from webapp.platform.tokens import TokenError
from webapp.platform.forms import EmptyForm
from webapp.meetings.forms import (ConcernForm)
from webapp.meetings.ical import build_calendar
from webapp.meetings.models import Meeting
from webapp.platform.security import resident_required
from webapp.platform.taxonomy import MAX_CONCERNS
from webapp.platform.timeutil import utcnow
from webapp.wards.services import get_ward




def _per_user() -> str:
    """Rate-limit key: the signed-in user (many residents may share one IP address)."""
    return f"user:{current_user.get_id()}" if current_user.is_authenticated else request.remote_addr or ""


def _meeting_or_404(meeting_id: int) -> Meeting:
    meeting = db.session.get(Meeting, meeting_id)
    if meeting is None:
        abort(404)
    return meeting


# --------------------------------------------------------------------------- residents
@bp.get("/meetings")
@resident_required
@for_each_session("meetings", "meeting_wards")
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
        "form": EmptyForm() if user is not None else None,  # a visitor's page: no token
        "rsvp_error": None,
    }
    if mine is not None and mine.status == "going":
        context["qr"] = qr_svg(services.checkin_token(meeting, user), "Your check-in code")
        context["checkin_code"] = services.checkin_code(meeting.id, user.id)
    if is_resident:
        context["may_concern"] = services.may_submit_concerns(user, meeting, mine)
        context["concerns"] = services.own_concerns(meeting, user)
        context["concern_form"] = extra.pop("concern_form", None) or ConcernForm()
        context["max_concerns"] = MAX_CONCERNS
    context.update(extra)
    return context


@bp.get("/meetings/<int:meeting_id>")
@for_visitors("meetings", "meeting_wards", "wards", "boroughs", "rsvps", "users")
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
    user_id = current_user.id
    try:
        row = services.rsvp(meeting_id, user_id)
    except LookupError:
        abort(404)
    except services.RsvpClosed as exc:
        return _after_rsvp_change(meeting_id, None, str(exc))
    if row.status == "going":
        meeting = _meeting_or_404(meeting_id)
        message = f"You're going. We'll remind you {reminder_words(meeting.reminder_hours)}."
    else:
        message = (f"The meeting is full, so you're on the waitlist (number "
                   f"{services.waitlist_position(row)}). We'll tell you if a place opens up.")
    return _after_rsvp_change(meeting_id, message, None)


def reminder_words(hours: int | None) -> str:
    """When the reminder goes, in words: "the day before", "3 hours before"."""
    hours = hours or 24
    if hours == 24:
        return "the day before"
    if hours == 1:
        return "an hour before"
    if hours % 24 == 0:
        return f"{hours // 24} days before"
    return f"{hours} hours before"


@bp.get("/meetings/<int:meeting_id>/cancel/confirm")
@resident_required
def confirm_cancel(meeting_id):
    """Ask before giving up a place (or leaving the waitlist): the next person may get it at
    once. Works without JavaScript (a page); with htmx the RSVP panel asks in place."""
    meeting = _meeting_or_404(meeting_id)
    mine = services.rsvp_for(meeting.id, current_user.id)
    if mine is None or mine.status not in ("going", "waitlisted") or meeting.is_cancelled:
        return redirect(url_for("meetings.show", meeting_id=meeting_id), 303)
    return render("meetings/cancel_confirm.html", "meetings/_cancel_confirm.html",
                  meeting=meeting, rsvp=mine, form=EmptyForm())


@bp.post("/meetings/<int:meeting_id>/cancel")
@limiter.limit("60 per hour", key_func=_per_user)
@resident_required
def cancel(meeting_id):
    """Give up a place (or leave the waitlist); the first waitlisted moves up at once."""
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
    if not services.delete_concern(meeting_id, current_user.id, concern_id):
        abort(404)
    db.session.commit()
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
@for_visitors("meetings", "meeting_wards", "wards", "boroughs")
def meeting_ics(meeting_id):
    """One meeting as an iCalendar file ("Add to calendar")."""
    meeting = _meeting_or_404(meeting_id)
    body = build_calendar([meeting], base_url=current_app.config["BASE_URL"], name=meeting.title)
    return _ics_response(body, f"meeting-{meeting.id}.ics")


@bp.get("/wards/<ward_code>/meetings.ics")
@for_visitors("meetings", "meeting_wards", "wards", "boroughs")
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


@bp.app_template_global()
def ward_upcoming_meetings(ward, limit: int = 3) -> list[Meeting]:
    """The ward home's "Upcoming meetings" (``templates/meetings/_ward_section.html``)."""
    return services.ward_meetings(ward, limit=limit)
