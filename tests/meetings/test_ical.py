"""Calendar files: they parse, and give the right UTC instants either side of the clock change."""
from __future__ import annotations

from datetime import datetime, timezone

from icalendar import Calendar

from webapp.extensions import db
from webapp.meetings import services
from webapp.meetings.services import MeetingDetails
from webapp.timeutil import london_to_utc
from webapp.wards.services import get_ward


def _meeting_at(officer, london_start: datetime, title: str, ward="E05013806"):
    start = london_to_utc(london_start)
    details = MeetingDetails(title=title, description="Talk to us", venue_name="Hall",
                             address="1 Road, London", accessibility="", starts_at=start,
                             ends_at=start.replace(hour=start.hour + 2), capacity=10,
                             rsvp_closes_at=start, online_url=None)
    return services.create_meeting(officer, details, [get_ward(ward).id])


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
