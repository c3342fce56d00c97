"""iCalendar files: one meeting (``/meetings/<id>.ics``), a ward's feed, or the calendar
attached to a cancellation email.

Times are written in Europe/London with its VTIMEZONE (calendar apps then show the local
time on both sides of a clock change). The VTIMEZONE is the conventional two-rule form
(``RRULE`` for the last Sundays of March and October), not a list of every transition as
``RDATE``s: ical.js (Thunderbird and many web calendars) misreads multi-value ``RDATE``s and
showed every winter meeting an hour early, and a list ends in 2038.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import parseaddr
from urllib.parse import urlsplit

from icalendar import Calendar, Event, Timezone, TimezoneDaylight, TimezoneStandard, vCalAddress

from flask import current_app

from webapp.delivery.emails import calendar_part, register_attachment
from webapp.extensions import db
from webapp.meetings.models import Meeting
from webapp.platform.timeutil import LONDON, utcnow

TZID = "Europe/London"


def london_vtimezone() -> Timezone:
    """Europe/London as UK law has had it since 1996 (EU summer time): BST from 01:00 GMT
    on the last Sunday of March, GMT from 02:00 BST on the last Sunday of October.
    ``tests/meetings/test_ical.py`` checks it against the tz database year by year."""
    tz = Timezone()
    tz.add("tzid", TZID)
    tz.add("x-lic-location", TZID)
    daylight = TimezoneDaylight()
    daylight.add("tzname", "BST")
    daylight.add("tzoffsetfrom", timedelta(0))
    daylight.add("tzoffsetto", timedelta(hours=1))
    daylight.add("dtstart", datetime(1996, 3, 31, 1, 0))  # local time before the change
    daylight.add("rrule", {"freq": "yearly", "bymonth": 3, "byday": "-1SU"})
    standard = TimezoneStandard()
    standard.add("tzname", "GMT")
    standard.add("tzoffsetfrom", timedelta(hours=1))
    standard.add("tzoffsetto", timedelta(0))
    standard.add("dtstart", datetime(1996, 10, 27, 2, 0))
    standard.add("rrule", {"freq": "yearly", "bymonth": 10, "byday": "-1SU"})
    tz.add_component(daylight)
    tz.add_component(standard)
    return tz


def _london(value: datetime) -> datetime:
    """A stored naive-UTC time as a Europe/London wall-clock time (written with TZID)."""
    return value.replace(tzinfo=timezone.utc).astimezone(LONDON)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc)


def build_calendar(meetings, *, base_url: str, name: str, method: str = "PUBLISH",
                   organizer: str | None = None, attendee: str | None = None,
                   now: datetime | None = None) -> bytes:
    """Return an iCalendar (RFC 5545) document for ``meetings``.

    ``method="PUBLISH"`` (files and feeds): cancelled meetings are kept with
    ``STATUS:CANCELLED`` so subscribed calendars remove them; ``SEQUENCE`` grows with each
    change of time, place or status. ``method="CANCEL"`` (iTIP, RFC 5546, for the calendar
    attached to a cancellation email) also names the ``organizer`` and the ``attendee``
    the email goes to, as iTIP requires. ``DTSTAMP`` is ``now``: when this file was made.
    The calendar always holds the VTIMEZONE, so a feed with no meetings is still a valid
    VCALENDAR (RFC 5545 needs at least one component).
    """
    method = method.upper()
    if method not in ("PUBLISH", "CANCEL"):
        raise ValueError(f"unsupported iTIP method {method!r}")
    stamp = _utc(now or utcnow())
    host = urlsplit(base_url).hostname or "wardline"
    cal = Calendar()
    cal.add("prodid", "-//Wardline//Community meetings//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", TZID)
    cal.add_component(london_vtimezone())
    for meeting in meetings:
        event = Event()
        event.add("uid", f"meeting-{meeting.id}@{host}")
        event.add("dtstamp", stamp)
        if meeting.updated_at:
            event.add("last-modified", _utc(meeting.updated_at))
        event.add("dtstart", _london(meeting.starts_at))
        event.add("dtend", _london(meeting.ends_at))
        event.add("summary", meeting.title)
        event.add("location", f"{meeting.venue_name}, {meeting.address}")
        description = meeting.description or ""
        if meeting.accessibility:
            description += f"\n\nAccessibility: {meeting.accessibility}"
        event.add("description", description.strip())
        event.add("url", f"{base_url}/meetings/{meeting.id}")
        event.add("sequence", meeting.sequence)
        cancelled = meeting.is_cancelled or method == "CANCEL"
        event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        if organizer:
            display, address = parseaddr(organizer)
            event.add("organizer", vCalAddress(f"mailto:{address}"),
                      parameters={"cn": display} if display else None)
        if attendee:
            event.add("attendee", vCalAddress(f"mailto:{attendee}"))
        cal.add_component(event)
    return cal.to_ical()


def cancellation_calendar(notification, to: str):
    """For a cancelled meeting's email: the meeting as iTIP ``METHOD:CANCEL`` (its current
    SEQUENCE, STATUS:CANCELLED), or None when the meeting is gone or not cancelled."""
    meeting_id = (notification.email_context or {}).get("meeting_id")
    meeting = db.session.get(Meeting, meeting_id) if meeting_id else None
    if meeting is None or not meeting.is_cancelled:
        return None
    config = current_app.config
    body = build_calendar([meeting], base_url=config["BASE_URL"], name=meeting.title,
                          method="CANCEL", organizer=config["MAIL_FROM"], attendee=to)
    return calendar_part(body, "CANCEL", f"meeting-{meeting.id}.ics")


register_attachment("meeting_cancelled", cancellation_calendar)


def place_calendar(notification, to: str):
    """For a confirmed place (an RSVP, or a promotion from the waitlist): the meeting as an
    .ics attachment (``METHOD:PUBLISH``), or None when the meeting is gone or cancelled."""
    meeting_id = (notification.email_context or {}).get("meeting_id")
    meeting = db.session.get(Meeting, meeting_id) if meeting_id else None
    if meeting is None or meeting.is_cancelled:
        return None
    body = build_calendar([meeting], base_url=current_app.config["BASE_URL"], name=meeting.title)
    return calendar_part(body, "PUBLISH", f"meeting-{meeting.id}.ics")


register_attachment("meeting_confirmed", place_calendar)
register_attachment("waitlist_promoted", place_calendar)
