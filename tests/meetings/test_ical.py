"""Calendar files: they parse, and give the right UTC instants either side of the clock change."""
from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import vobject
from icalendar import Calendar

from webapp.extensions import db
from webapp.meetings import services
from webapp.meetings.services import MeetingDetails
from webapp.platform.timeutil import LONDON, london_to_utc
from webapp.wards.services import get_ward


def _meeting_at(officer, london_start: datetime, title: str, ward="E05013806"):
    start = london_to_utc(london_start)
    details = MeetingDetails(title=title, description="Talk to us", venue_name="Hall",
                             address="1 Road, London", accessibility="", starts_at=start,
                             ends_at=start.replace(hour=start.hour + 2), capacity=10,
                             rsvp_closes_at=start, online_url=None)
    meeting = services.create_meeting(officer, details, [get_ward(ward).id])
    db.session.commit()
    return meeting


def _events(body: bytes) -> dict:
    cal = Calendar.from_ical(body)
    return {str(e["summary"]): e for e in cal.walk("VEVENT")}, cal


def _utc(prop) -> datetime:
    return prop.dt.astimezone(timezone.utc)


def test_meeting_ics_has_the_right_utc_instants_across_the_clock_change(client, make_staff):
    officer = make_staff("officer", wards=["E05013806"])
    # Clocks go forward on Sunday 29 March 2026: GMT before, BST after.
    before = _meeting_at(officer, datetime(2026, 3, 28, 18, 0), "Before")
    after = _meeting_at(officer, datetime(2026, 3, 30, 18, 0), "After")
    assert before.starts_at == datetime(2026, 3, 28, 18, 0)  # stored UTC
    assert after.starts_at == datetime(2026, 3, 30, 17, 0)
    response = client.get(f"/meetings/{before.id}.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/calendar")
    events, cal = _events(response.data)
    assert _utc(events["Before"]["dtstart"]) == datetime(2026, 3, 28, 18, 0, tzinfo=timezone.utc)
    assert _utc(events["Before"]["dtend"]) == datetime(2026, 3, 28, 20, 0, tzinfo=timezone.utc)
    assert [str(tz["tzid"]) for tz in cal.walk("VTIMEZONE")] == ["Europe/London"]
    events, _ = _events(client.get(f"/meetings/{after.id}.ics").data)
    assert _utc(events["After"]["dtstart"]) == datetime(2026, 3, 30, 17, 0, tzinfo=timezone.utc)
    assert events["After"]["dtstart"].dt.hour == 18  # shown as 18:00 London time
    assert str(events["After"]["uid"]).startswith(f"meeting-{after.id}@")


def test_ward_feed_lists_the_wards_meetings_across_the_clock_change(client, make_staff):
    officer = make_staff("officer", wards=["E05013806", "E05014104"])
    # Clocks go forward on Sunday 28 March 2027.
    _meeting_at(officer, datetime(2027, 3, 27, 18, 30), "Saturday")
    _meeting_at(officer, datetime(2027, 3, 29, 18, 30), "Monday")
    cancelled = _meeting_at(officer, datetime(2027, 4, 5, 18, 30), "Called off")
    services.cancel_meeting(officer, cancelled.id)
    _meeting_at(officer, datetime(2027, 3, 29, 18, 30), "Elsewhere", ward="E05014104")
    response = client.get("/wards/E05013806/meetings.ics")
    assert response.status_code == 200
    events, _ = _events(response.data)
    assert set(events) == {"Saturday", "Monday", "Called off"}
    assert _utc(events["Saturday"]["dtstart"]) == datetime(2027, 3, 27, 18, 30, tzinfo=timezone.utc)
    assert _utc(events["Monday"]["dtstart"]) == datetime(2027, 3, 29, 17, 30, tzinfo=timezone.utc)
    assert str(events["Called off"]["status"]) == "CANCELLED"
    assert client.get("/wards/e05013806/meetings.ics").status_code == 200
    assert client.get("/wards/NOPE/meetings.ics").status_code == 404
    db.session.rollback()


# --------------------------------------------------------------------------- other parsers
# The generator is icalendar; these read the files with parsers that share none of its code:
# ical.js (Thunderbird and many web calendars; node, tests/js/) and vobject (dateutil).
ICALJS = Path(__file__).resolve().parents[1] / "js" / "ical_times.mjs"


def icaljs(body: bytes) -> dict:
    """What ical.js understood: {"method", "components", "events": [{uid, start, end, ...}]}."""
    node = shutil.which("node")
    assert node and (ICALJS.parent / "node_modules" / "ical.js").is_dir(), \
        "ical.js is missing: run `make test` (npm ci in tests/js)"
    result = subprocess.run([node, str(ICALJS)], input=body, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


def icaljs_starts(body: bytes) -> dict:
    """{summary: (UTC start, UTC end)} as ical.js reads them."""
    return {e["summary"]: (_iso(e["start"]), _iso(e["end"])) for e in icaljs(body)["events"]}


def vobject_starts(body: bytes) -> dict:
    """{summary: (UTC start, UTC end)} as vobject reads them."""
    cal = vobject.readOne(body.decode("utf-8"))
    return {e.summary.value: (e.dtstart.value.astimezone(timezone.utc),
                              e.dtend.value.astimezone(timezone.utc))
            for e in cal.contents.get("vevent", [])}


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _utc_at(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def _meeting_between(officer, start: datetime, end: datetime, title: str, ward="E05013806"):
    """A meeting from ``start`` to ``end``, both London wall-clock times."""
    start, end = london_to_utc(start), london_to_utc(end)
    details = MeetingDetails(title=title, description="Talk to us", venue_name="Hall",
                             address="1 Road, London", accessibility="", starts_at=start,
                             ends_at=end, capacity=10, rsvp_closes_at=start, online_url=None)
    meeting = services.create_meeting(officer, details, [get_ward(ward).id])
    db.session.commit()
    return meeting


def test_winter_summer_and_clock_change_meetings_read_alike_in_icaljs_and_vobject(client,
                                                                                    make_staff):
    officer = make_staff("officer", wards=["E05013806"])
    _meeting_between(officer, datetime(2027, 1, 14, 18, 0), datetime(2027, 1, 14, 20, 0), "Winter")
    _meeting_between(officer, datetime(2027, 7, 15, 18, 0), datetime(2027, 7, 15, 20, 0), "Summer")
    # Overnight across the autumn change (Sunday 31 October 2027, 02:00 BST -> 01:00 GMT):
    # 23:00 BST to 03:00 GMT is five hours.
    _meeting_between(officer, datetime(2027, 10, 30, 23, 0), datetime(2027, 10, 31, 3, 0),
                     "Overnight")
    # And the spring change (Sunday 28 March 2027, 01:00 GMT -> 02:00 BST).
    _meeting_between(officer, datetime(2027, 3, 28, 0, 30), datetime(2027, 3, 28, 3, 0), "Spring")
    body = client.get("/wards/E05013806/meetings.ics").data
    expected = {
        "Winter": (_utc_at(2027, 1, 14, 18), _utc_at(2027, 1, 14, 20)),
        "Summer": (_utc_at(2027, 7, 15, 17), _utc_at(2027, 7, 15, 19)),
        "Overnight": (_utc_at(2027, 10, 30, 22), _utc_at(2027, 10, 31, 3)),
        "Spring": (_utc_at(2027, 3, 28, 0, 30), _utc_at(2027, 3, 28, 2)),
    }
    assert icaljs_starts(body) == expected
    assert vobject_starts(body) == expected
    # Each meeting's own file too.
    for meeting in services.ward_meetings(get_ward("E05013806"), since=datetime(2027, 1, 1),
                                          include_cancelled=True):
        single = client.get(f"/meetings/{meeting.id}.ics").data
        assert icaljs_starts(single) == {meeting.title: expected[meeting.title]}
        assert vobject_starts(single) == {meeting.title: expected[meeting.title]}


def test_vtimezone_is_the_rrule_form_and_agrees_with_the_tz_database():
    from webapp.meetings.ical import london_vtimezone
    text = london_vtimezone().to_ical().decode()
    assert "RDATE" not in text
    assert "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3" in text
    assert "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10" in text
    body = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{text}END:VCALENDAR\r\n"
    tz = vobject.readOne(body).vtimezone.gettzinfo()
    # Every hour of the last eight days of March and October, for a century.
    for year in range(1997, 2100):
        for month in (3, 10):
            base = _utc_at(year, month, 24)
            for hour in range(8 * 24):
                instant = base + timedelta(hours=hour)
                assert instant.astimezone(tz).utcoffset() == \
                    instant.astimezone(LONDON).utcoffset(), instant


def test_ward_feed_without_meetings_is_a_valid_calendar(client):
    body = client.get("/wards/E05013806/meetings.ics").data
    parsed = icaljs(body)
    assert parsed["components"] == ["vtimezone"] and parsed["events"] == []
    cal = vobject.readOne(body.decode())
    assert [c.name for c in cal.getChildren() if isinstance(c, vobject.base.Component)] == \
        ["VTIMEZONE"]
    assert Calendar.from_ical(body).walk("VTIMEZONE")


def test_dtstamp_is_when_the_file_was_made(client, make_staff):
    officer = make_staff("officer", wards=["E05013806"])
    meeting = _meeting_between(officer, datetime(2027, 5, 4, 18, 0), datetime(2027, 5, 4, 20, 0),
                               "Stamped")
    meeting.updated_at = datetime(2026, 1, 2, 3, 4, 5)
    db.session.commit()
    before = datetime.now(timezone.utc).replace(microsecond=0)
    events, _ = _events(client.get(f"/meetings/{meeting.id}.ics").data)
    after = datetime.now(timezone.utc)
    assert before <= events["Stamped"]["dtstamp"].dt <= after
    assert events["Stamped"]["last-modified"].dt == _utc_at(2026, 1, 2, 3, 4, 5)


def test_cancellation_email_carries_the_meeting_as_method_cancel(client, make_staff,
                                                                  make_resident, mail):
    from webapp.delivery.worker import deliver_due
    officer = make_staff("officer", wards=["E05013806"])
    meeting = _meeting_between(officer, datetime(2027, 12, 9, 18, 0), datetime(2027, 12, 9, 20, 0),
                               "Winter meeting")
    going = make_resident()
    services.rsvp(meeting.id, going.id)
    published = icaljs(client.get(f"/meetings/{meeting.id}.ics").data)
    assert published["method"] == "PUBLISH"
    deliver_due()
    mail.clear()
    services.cancel_meeting(officer, meeting.id, "Hall flooded")
    deliver_due()
    [message] = [m for m in mail.wait_for(1) if m["To"] == going.email]
    assert message.get_content_type() == "multipart/mixed"
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "CANCEL"
    body = part.get_content().encode()
    parsed = icaljs(body)
    assert parsed["method"] == "CANCEL"
    [event] = parsed["events"]
    assert event["uid"] == published["events"][0]["uid"]
    assert event["status"] == "CANCELLED"
    assert event["sequence"] == published["events"][0]["sequence"] + 1
    assert event["start"] == "2027-12-09T18:00:00Z"
    cal = vobject.readOne(body.decode())
    assert cal.method.value == "CANCEL"
    assert cal.vevent.organizer.value.lower().startswith("mailto:")
    assert cal.vevent.attendee.value == f"mailto:{going.email}"
    # The public file and the feed stay METHOD:PUBLISH, the meeting marked cancelled.
    published = icaljs(client.get(f"/meetings/{meeting.id}.ics").data)
    assert published["method"] == "PUBLISH"
    assert published["events"][0]["status"] == "CANCELLED"
