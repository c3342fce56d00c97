"""Nasty input on meeting pages: a 422 with the message next to the field and the text
kept, or a 404, never a 500 (on SQLite and PostgreSQL)."""
from __future__ import annotations

import re

from sqlalchemy import select

from webapp.accounts.models import Concern
from webapp.extensions import db
from webapp.meetings.models import Meeting
from tests.meetings.test_officer import _form

HUGE = "99999999999999999999"


def _error(response, field):
    match = re.search(rf'id="{field}-error">([^<]*)<', response.get_data(as_text=True))
    return match and match.group(1)


def test_far_off_endless_or_closed_meetings_are_refused_next_to_the_field(client, login, make_staff):
    login(client, make_staff("officer", wards=["E05013806"]))
    data, day = _form(ends_at="9999-12-31T23:59", title="Kept title")
    response = client.post("/officer/meetings/new", data=data)
    assert response.status_code == 422 and _error(response, "ends_at") == "A meeting can last at most 24 hours."
    assert 'value="Kept title"' in response.get_data(as_text=True)
    data, _ = _form(starts_at="9999-12-31T18:00", ends_at="9999-12-31T20:00", rsvp_closes_at="")
    response = client.post("/officer/meetings/new", data=data)
    assert response.status_code == 422
    assert _error(response, "starts_at") == "The meeting must start within the next two years."
    data, _ = _form(rsvp_closes_at="0001-01-01T00:00")
    response = client.post("/officer/meetings/new", data=data)
    assert response.status_code == 422 and "in the future" in _error(response, "rsvp_closes_at")
    for name, value in (("capacity", "0"), ("capacity", "-5"), ("capacity", "abc"),
                        ("capacity", HUGE), ("reminder_hours", "-1"), ("starts_at", "2026-13-45T99:99"),
                        ("wards", HUGE), ("wards", "abc"), ("borough", HUGE), ("title", "x" * 100000)):
        data, _ = _form(**{name: value})
        assert client.post("/officer/meetings/new", data=data).status_code == 422, name
    assert db.session.scalar(select(Meeting)) is None


def test_nul_bytes_are_dropped_not_a_500(client, login, make_staff, make_resident, make_meeting):
    officer = make_staff("officer", wards=["E05013806"])
    login(client, officer)
    data, _ = _form(title="Ward\x00 panel", description="Come\x00 along", address="1 Road\x00")
    assert client.post("/officer/meetings/new", data=data).status_code == 303
    meeting = db.session.scalar(select(Meeting))
    assert (meeting.title, meeting.description, meeting.address) == ("Ward panel", "Come along", "1 Road")
    assert client.get(f"/officer/meetings/{meeting.id}/checkin?q=a%00b").status_code == 200
    assert client.post(f"/officer/meetings/{meeting.id}/checkin", data={"code": "a\x00b"}).status_code == 422
    assert client.get("/wards/E05%00013806/meetings.ics").status_code == 404
    login(client, make_resident())
    response = client.post(f"/meetings/{meeting.id}/concerns", data={"topic": "asb", "text": "Bikes\x00"})
    assert response.status_code == 303
    assert db.session.scalar(select(Concern.text)) == "Bikes"


def test_out_of_range_ids_are_a_404(client, login, make_staff, make_resident):
    for url in (f"/meetings/{HUGE}", f"/meetings/{HUGE}.ics"):
        assert client.get(url).status_code == 404, url
    login(client, make_resident())
    for url in (f"/meetings/{HUGE}/rsvp", f"/meetings/{HUGE}/cancel", f"/meetings/1/concerns/{HUGE}/delete"):
        assert client.post(url).status_code == 404, url
    login(client, make_staff("officer", wards=["E05013806"]))
    for url in (f"/officer/meetings/{HUGE}", f"/officer/meetings/{HUGE}/checkin"):
        assert client.get(url).status_code == 404, url
