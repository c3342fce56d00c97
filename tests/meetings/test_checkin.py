"""Check-in: the resident's QR code, the officers' desk, forged and foreign codes, CSV."""
from __future__ import annotations

import csv
import io

import pytest

from webapp.extensions import db
from webapp.meetings import services
from webapp.meetings.models import Rsvp
from webapp.platform.tokens import make_token


def _qr_token(page: bytes) -> None:
    """The going resident's page has an inline SVG QR code and a short code."""
    assert b'<svg xmlns="http://www.w3.org/2000/svg"' in page and b'class="qr"' in page
    assert b"style=" not in page.split(b'class="qr-box"')[1].split(b"</div>")[0]


def _checked_in(rsvp_id):
    db.session.rollback()
    return db.session.get(Rsvp, rsvp_id).checked_in_at is not None


def test_going_resident_sees_a_qr_code_others_do_not(client, login, make_resident, make_meeting):
    meeting = make_meeting(capacity=1)
    going, waiting = make_resident(), make_resident()
    services.rsvp(meeting.id, going.id)
    services.rsvp(meeting.id, waiting.id)
    login(client, going)
    page = client.get(f"/meetings/{meeting.id}").data
    _qr_token(page)
    assert services.checkin_code(meeting.id, going.id).encode() in page
    login(client, waiting)
    assert b'class="qr"' not in client.get(f"/meetings/{meeting.id}").data


def test_scanned_token_checks_in_and_counts(client, login, make_resident, make_meeting, htmx_headers):
    meeting = make_meeting()
    resident = make_resident(name="Rita Scanned")
    row = services.rsvp(meeting.id, resident.id)
    token = services.checkin_token(meeting, resident)
    login(client, meeting.created_by)
    page = client.get(f"/officer/meetings/{meeting.id}/checkin")
    assert page.status_code == 200 and b"js/checkin.js" in page.data
    response = client.post(f"/officer/meetings/{meeting.id}/checkin", data={"code": token},
                           headers=htmx_headers)
    assert response.status_code == 200
    assert b"Checked in: <strong>Rita Scanned</strong>" in response.data
    assert b"<strong>1</strong> checked in" in response.data
    assert _checked_in(row.id)


def test_typed_short_code_checks_in(client, login, make_resident, make_meeting):
    meeting = make_meeting()
    resident = make_resident()
    row = services.rsvp(meeting.id, resident.id)
    code = services.checkin_code(meeting.id, resident.id).lower().replace("-", " ")
    login(client, meeting.created_by)
    response = client.post(f"/officer/meetings/{meeting.id}/checkin", data={"code": code})
    assert response.status_code == 200 and _checked_in(row.id)


def test_forged_or_other_meetings_tokens_are_refused(client, login, make_resident, make_meeting, app):
    meeting = make_meeting()
    other = make_meeting(officer=meeting.created_by, title="Another meeting")
    resident = make_resident()
    row = services.rsvp(meeting.id, resident.id)
    services.rsvp(other.id, resident.id)
    login(client, meeting.created_by)
    url = f"/officer/meetings/{meeting.id}/checkin"
    foreign = services.checkin_token(other, resident)
    response = client.post(url, data={"code": foreign})
    assert response.status_code == 422 and b"That code is for a different meeting." in response.data
    genuine = services.checkin_token(meeting, resident)
    tampered = genuine[:-3] + ("AAA" if genuine[-3:] != "AAA" else "BBB")
    wrong_purpose = make_token("signin", {"m": meeting.id, "u": resident.id})
    from itsdangerous import URLSafeTimedSerializer
    wrong_key = URLSafeTimedSerializer("not-our-secret", salt="wardline.checkin").dumps(
        {"m": meeting.id, "u": resident.id})
    for forged in (tampered, wrong_purpose, wrong_key, "ABCD-EFGH", "nonsense"):
        response = client.post(url, data={"code": forged})
        assert response.status_code == 422, forged
        assert b"not valid" in response.data
    other_code = services.checkin_code(other.id, resident.id)
    assert client.post(url, data={"code": other_code}).status_code == 422
    assert not _checked_in(row.id)


def test_waitlisted_cannot_be_checked_in_by_code(client, login, make_resident, make_meeting):
    meeting = make_meeting(capacity=1)
    services.rsvp(meeting.id, make_resident().id)
    waiting = make_resident()
    services.rsvp(meeting.id, waiting.id)
    login(client, meeting.created_by)
    response = client.post(f"/officer/meetings/{meeting.id}/checkin",
                           data={"code": services.checkin_token(meeting, waiting)})
    assert response.status_code == 422 and b"on the waitlist" in response.data


def test_name_search_and_check_in(client, login, make_resident, make_meeting, htmx_headers):
    meeting = make_meeting()
    found = make_resident(name="Priya Searchable")
    make_resident(name="Priya NotComing")
    row = services.rsvp(meeting.id, found.id)
    login(client, meeting.created_by)
    results = client.get(f"/officer/meetings/{meeting.id}/checkin?q=priya", headers=htmx_headers)
    assert b"Priya Searchable" in results.data and b"Priya NotComing" not in results.data
    assert b"<html" not in results.data
    response = client.post(f"/officer/meetings/{meeting.id}/checkin/{row.id}")
    assert response.status_code == 200 and _checked_in(row.id)


def test_csv_has_emails_only_for_the_organising_team(client, login, make_resident, make_meeting,
                                                     make_staff):
    meeting = make_meeting()
    teammate = make_staff("officer", team=meeting.created_by.teams[0])
    other_team = make_staff("officer", wards=["E05013806"])  # covers the ward, another team
    resident = make_resident(name="=HYPERLINK(evil)", email_address="ann@example.org")
    services.rsvp(meeting.id, resident.id)
    for officer, with_email in ((meeting.created_by, True), (teammate, True), (other_team, False)):
        login(client, officer)
        response = client.get(f"/officer/meetings/{meeting.id}/attendees.csv")
        assert response.status_code == 200 and response.mimetype == "text/csv"
        rows = list(csv.reader(io.StringIO(response.data.decode())))
        assert rows[1][0] == "'=HYPERLINK(evil)"  # no formula injection
        assert ("email" in rows[0]) is with_email
        assert ("ann@example.org" in response.data.decode()) is with_email


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_neutralises_a_formula_in_any_cell_email_included(client, login, make_resident,
                                                              make_meeting, start):
    """Issue 9, point 10: a formula in an attendee's email address (which sign-up accepts:
    ``=1+2@example.org`` is a valid address) or name is text in the export, per OWASP."""
    meeting = make_meeting()
    email_address = f"{start}1+2@example.org" if start in "=+-" else "plain@example.org"
    resident = make_resident(name=f"{start}SUM(1,2)", email_address=email_address)
    services.rsvp(meeting.id, resident.id)
    login(client, meeting.created_by)
    response = client.get(f"/officer/meetings/{meeting.id}/attendees.csv")
    rows = list(csv.reader(io.StringIO(response.data.decode(), newline="")))
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
    assert f"'{start}SUM(1,2)" in cells
    if start in "=+-":
        assert f"'{email_address}" in cells


def test_scanning_twice_says_already_checked_in_at(client, login, make_resident, make_meeting,
                                                   htmx_headers):
    from webapp.platform.timeutil import format_london
    meeting = make_meeting()
    resident = make_resident(name="Dev Twice")
    row = services.rsvp(meeting.id, resident.id)
    token = services.checkin_token(meeting, resident)
    login(client, meeting.created_by)
    url = f"/officer/meetings/{meeting.id}/checkin"
    first = client.post(url, data={"code": token}, headers=htmx_headers)
    assert b"Checked in: <strong>Dev Twice</strong>" in first.data
    db.session.rollback()
    came = db.session.get(Rsvp, row.id).checked_in_at
    again = client.post(url, data={"code": token}, headers=htmx_headers)
    text = again.get_data(as_text=True)
    assert f"<strong>Dev Twice</strong> is already checked in at {format_london(came, '%H:%M')}" in text
    assert "Checked in: <strong>" not in text and "<strong>1</strong> checked in" in text
    by_name = client.post(f"/officer/meetings/{meeting.id}/checkin/{row.id}")
    assert b"already checked in at" in by_name.data
    db.session.rollback()
    assert db.session.get(Rsvp, row.id).checked_in_at == came


@pytest.mark.parametrize("query", ["patel", "sam pat", "PATEL SAM", "tel", "am  el"])
def test_name_search_matches_parts_of_any_word(client, login, make_resident, make_meeting,
                                               htmx_headers, query):
    meeting = make_meeting()
    services.rsvp(meeting.id, make_resident(name="Sam Patel").id)
    services.rsvp(meeting.id, make_resident(name="Sam Jones").id)
    login(client, meeting.created_by)
    body = client.get(f"/officer/meetings/{meeting.id}/checkin", query_string={"q": query},
                      headers=htmx_headers).get_data(as_text=True)
    assert "Sam Patel" in body and "Sam Jones" not in body


def test_the_qr_decoder_is_vendored_with_its_licence_and_loaded_by_the_desk(
        client, login, make_meeting):
    import hashlib
    from pathlib import Path
    vendor = Path(__file__).resolve().parents[2] / "static" / "vendor"
    sums = dict(reversed(line.split()) for line in (vendor / "SHA256SUMS").read_text().splitlines() if line)
    for name in ("jsqr-1.4.0.js", "jsqr-1.4.0.LICENSE.txt"):
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == sums[name]
    assert "Apache License" in (vendor / "jsqr-1.4.0.LICENSE.txt").read_text()
    meeting = make_meeting()
    login(client, meeting.created_by)
    page = client.get(f"/officer/meetings/{meeting.id}/checkin").get_data(as_text=True)
    assert 'data-jsqr-src="/static/vendor/jsqr-1.4.0.js?v=' in page
