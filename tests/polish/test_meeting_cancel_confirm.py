"""Issue 13 point 14: "I can't come after all" asks first (a page without JavaScript);
point 19: the RSVP message names the reminder the meeting has set."""
from __future__ import annotations

from datetime import timedelta

from webapp.extensions import db
from webapp.meetings import services


def test_cancelling_asks_first_and_keeps_the_place_until_confirmed(client, login, make_resident,
                                                                  make_meeting):
    meeting = make_meeting()
    resident = make_resident()
    services.rsvp(meeting.id, resident.id)
    login(client, resident)
    page = client.get(f"/meetings/{meeting.id}").get_data(as_text=True)
    # The panel offers a link to the question, not a form that cancels at once.
    assert f'href="/meetings/{meeting.id}/cancel/confirm"' in page
    assert f'action="/meetings/{meeting.id}/cancel"' not in page
    confirm = client.get(f"/meetings/{meeting.id}/cancel/confirm")
    assert confirm.status_code == 200
    html = confirm.get_data(as_text=True)
    assert "Give up your place?" in html and "Yes, give up my place" in html
    assert "No, keep it" in html
    db.session.expire_all()
    assert services.rsvp_for(meeting.id, resident.id).status == "going"
    assert client.post(f"/meetings/{meeting.id}/cancel").status_code == 303
    db.session.expire_all()
    assert services.rsvp_for(meeting.id, resident.id).status == "cancelled"
    # Nothing left to give up: the question page goes back to the meeting.
    again = client.get(f"/meetings/{meeting.id}/cancel/confirm")
    assert again.status_code == 303 and again.headers["Location"].endswith(f"/meetings/{meeting.id}")


def test_waitlist_leaving_asks_too(client, login, make_resident, make_meeting):
    meeting = make_meeting(capacity=1)
    services.rsvp(meeting.id, make_resident().id)
    resident = make_resident()
    services.rsvp(meeting.id, resident.id)
    login(client, resident)
    html = client.get(f"/meetings/{meeting.id}/cancel/confirm").get_data(as_text=True)
    assert "Leave the waitlist?" in html and "Yes, leave the waitlist" in html


def test_rsvp_message_matches_the_reminder_set(client, login, make_resident, make_meeting):
    resident = make_resident()
    login(client, resident)
    for hours, words in ((3, "3 hours before"), (48, "2 days before"), (24, "the day before")):
        meeting = make_meeting(reminder_hours=hours, starts_in=timedelta(days=5))
        response = client.post(f"/meetings/{meeting.id}/rsvp", headers={"HX-Request": "true"})
        assert f"remind you {words}." in response.get_data(as_text=True)
