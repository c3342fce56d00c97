"""Three concerns: who may give them, the limit, privacy, and the officers' chart."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from webapp.accounts.concerns import concern_counts
from webapp.accounts.models import Concern
from webapp.extensions import db
from webapp.meetings import services
from tests.meetings.conftest import set_times


def _concerns(meeting_id):
    db.session.rollback()
    return list(db.session.scalars(select(Concern).where(Concern.source == "meeting",
                                                         Concern.source_id == meeting_id)))


def test_up_to_three_concerns_and_a_fourth_is_refused(client, login, make_resident, make_meeting,
                                                       htmx_headers):
    meeting = make_meeting()
    resident = make_resident()
    login(client, resident)
    for topic in ("asb", "phone_theft", "drugs"):
        response = client.post(f"/meetings/{meeting.id}/concerns", headers=htmx_headers,
                               data={"topic": topic, "text": f"Worried about {topic}"})
        assert response.status_code == 200, response.data
    assert b"You've given 3 concerns" in response.data
    fourth = client.post(f"/meetings/{meeting.id}/concerns", data={"topic": "burglary", "text": "x"})
    assert fourth.status_code == 422 and b"You can give up to 3 concerns." in fourth.data
    rows = _concerns(meeting.id)
    assert sorted(c.topic for c in rows) == ["asb", "drugs", "phone_theft"]
    # They count for the resident's home ward (one of the meeting's wards).
    assert {c.ward_id for c in rows} == {resident.home_ward.id}
    assert {c.respondent_key for c in rows} == {resident.respondent_key}


def test_concern_validation(client, login, make_resident, make_meeting):
    meeting = make_meeting()
    login(client, make_resident())
    too_long = client.post(f"/meetings/{meeting.id}/concerns", data={"topic": "asb", "text": "x" * 281})
    assert too_long.status_code == 422
    unknown = client.post(f"/meetings/{meeting.id}/concerns", data={"topic": "aliens", "text": ""})
    assert unknown.status_code == 422
    client.post(f"/meetings/{meeting.id}/concerns", data={"topic": "asb", "text": ""})
    again = client.post(f"/meetings/{meeting.id}/concerns", data={"topic": "asb", "text": "more"})
    assert again.status_code == 422 and b"already gave a concern on this topic" in again.data
    assert len(_concerns(meeting.id)) == 1


def test_who_may_give_concerns(client, login, make_resident, make_meeting):
    meeting = make_meeting(capacity=5)  # St James's
    outsider_going = make_resident(ward="E05014104")
    outsider = make_resident(ward="E05014104")
    follower = make_resident(ward="E05014104", extra_wards=("E05013806",))
    services.rsvp(meeting.id, outsider_going.id)
    login(client, outsider)
    page = client.get(f"/meetings/{meeting.id}").data
    assert b"Add this concern" not in page
    assert client.post(f"/meetings/{meeting.id}/concerns", data={"topic": "asb"}).status_code == 403
    login(client, outsider_going)
    assert client.post(f"/meetings/{meeting.id}/concerns", data={"topic": "asb"}).status_code == 303
    login(client, follower)  # follows St James's, not going: "cannot come" but may tell us
    assert client.post(f"/meetings/{meeting.id}/concerns", data={"topic": "drugs"}).status_code == 303
    rows = {c.user_id: c for c in _concerns(meeting.id)}
    assert set(rows) == {outsider_going.id, follower.id}
    # Neither lives in the meeting's ward: their concerns count for the meeting's ward.
    assert rows[outsider_going.id].ward_id == meeting.wards[0].id


def test_concerns_close_when_the_meeting_ends(client, login, make_resident, make_meeting):
    meeting = make_meeting()
    login(client, make_resident())
    set_times(meeting, starts_in=timedelta(hours=-3), ends_in=timedelta(minutes=-1))
    response = client.post(f"/meetings/{meeting.id}/concerns", data={"topic": "asb"})
    assert response.status_code == 422 and b"Concerns for this meeting are closed." in response.data
    assert _concerns(meeting.id) == []


def test_residents_never_see_other_residents_concerns(client, login, make_resident, make_meeting):
    meeting = make_meeting()
    alice, bob = make_resident(), make_resident()
    services.add_concern(meeting.id, alice.id, "drugs", "Dealing outside the corner shop on Jermyn Street")
    login(client, bob)
    page = client.get(f"/meetings/{meeting.id}").data
    assert b"Jermyn Street" not in page and b"Add this concern" in page
    login(client, alice)
    assert b"Jermyn Street" in client.get(f"/meetings/{meeting.id}").data
    # Bob cannot remove Alice's concern either.
    concern = _concerns(meeting.id)[0]
    login(client, bob)
    assert client.post(f"/meetings/{meeting.id}/concerns/{concern.id}/delete").status_code == 404
    assert len(_concerns(meeting.id)) == 1


def test_resident_can_withdraw_a_concern(client, login, make_resident, make_meeting):
    meeting = make_meeting()
    alice = make_resident()
    concern = services.add_concern(meeting.id, alice.id, "asb", "")
    login(client, alice)
    assert client.post(f"/meetings/{meeting.id}/concerns/{concern.id}/delete").status_code == 303
    assert _concerns(meeting.id) == []


def test_officers_see_concerns_counted_by_topic_and_mark_answered(client, login, make_resident,
                                                                  make_meeting, htmx_headers):
    meeting = make_meeting()
    for _ in range(3):
        services.add_concern(meeting.id, make_resident().id, "phone_theft", "")
    services.add_concern(meeting.id, make_resident().id, "asb", "Noisy scooters at night")
    login(client, meeting.created_by)
    page = client.get(f"/officer/meetings/{meeting.id}").data.decode()
    assert '<svg class="chart"' in page and 'class="bar"' in page and "style=" not in page
    assert page.index("Phone theft and robbery") < page.index("Antisocial behaviour")
    assert "<td>Phone theft and robbery</td><td>3</td>" in page
    assert "Noisy scooters at night" in page
    counts = concern_counts(source=("meeting", meeting.id))
    assert counts[0] == ("phone_theft", "Phone theft and robbery", 3)
    concern = next(c for c in _concerns(meeting.id) if c.topic == "asb")
    response = client.post(f"/officer/meetings/{meeting.id}/concerns/{concern.id}/answered",
                           data={"answered": "1"}, headers=htmx_headers)
    assert response.status_code == 200 and b"Answered" in response.data
    answered = [a for c, a in services.meeting_concerns(meeting) if a is not None]
    assert len(answered) == 1
    client.post(f"/officer/meetings/{meeting.id}/concerns/{concern.id}/answered", data={"answered": "0"})
    assert all(a is None for c, a in services.meeting_concerns(meeting))


def test_meeting_concerns_count_towards_the_wards_chart(app, make_resident, make_meeting):
    from webapp.accounts.models import Concern
    meeting = make_meeting()
    residents = [make_resident() for _ in range(5)]
    for resident in residents:
        services.add_concern(meeting.id, resident.id, "ebikes", "")
    rows = list(db.session.scalars(select(Concern).where(Concern.ward_id == meeting.wards[0].id)))
    assert len(rows) == 5 and {c.source for c in rows} == {"meeting"}
