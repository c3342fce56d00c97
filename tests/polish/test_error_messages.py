"""Issue 13 point 9: error summaries name the field (GOV.UK style), in the fields' order;
a past start date raises no error on the RSVP closing time the officer left empty. Point 19:
the page title starts "Error:" when the form has errors."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from webapp.platform.timeutil import LONDON
from tests.meetings.test_officer import _form


def _summary(html: str) -> list[str]:
    box = html[html.index('class="error-summary"'):]
    box = box[:box.index("</ul>")]
    return re.findall(r'<li><a href="#([a-z_]+)">([^<]+)</a></li>', box)


def test_empty_meeting_form_names_each_field_in_order(client, make_staff, login):
    login(client, make_staff("officer", wards=["E05013806"]))
    data, _day = _form(title="", venue_name="", address="", capacity="")
    response = client.post("/officer/meetings/new", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "This field is required" not in html
    assert _summary(html) == [("title", "Enter a title"), ("venue_name", "Enter a venue"),
                              ("address", "Enter an address"),
                              ("capacity", "Enter the number of places")]
    assert re.search(r"<title>Error: ", html)
    assert '<p class="error" id="title-error">Enter a title</p>' in html


def test_a_number_field_with_words_names_itself(client, make_staff, login):
    login(client, make_staff("officer", wards=["E05013806"]))
    data, _day = _form(capacity="lots")
    html = client.post("/officer/meetings/new", data=data).get_data(as_text=True)
    assert ("capacity", "Places must be a number, like 40") in _summary(html)


def test_past_start_does_not_blame_the_empty_closing_time(client, make_staff, login):
    login(client, make_staff("officer", wards=["E05013806"]))
    day = (datetime.now(LONDON) - timedelta(days=2)).date()
    data, _ = _form(starts_at=f"{day}T18:30", ends_at=f"{day}T20:00", rsvp_closes_at="")
    html = client.post("/officer/meetings/new", data=data).get_data(as_text=True)
    assert _summary(html) == [("starts_at", "The meeting must start in the future.")]
    # A closing time the officer did type in the past is still refused.
    data, _ = _form(starts_at=f"{day}T18:30", ends_at=f"{day}T20:00", rsvp_closes_at=f"{day}T12:00")
    names = [name for name, _ in _summary(client.post("/officer/meetings/new", data=data).get_data(as_text=True))]
    assert names == ["starts_at", "rsvp_closes_at"]


def test_page_without_errors_has_no_error_title(client, make_staff, login):
    login(client, make_staff("officer", wards=["E05013806"]))
    assert "<title>Error:" not in client.get("/officer/meetings/new").get_data(as_text=True)
