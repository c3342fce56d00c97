"""Telling exactly the residents who raised a linked topic in the ward: not others, not
those who turned the "outcomes" category off; email or push by their preferences, the
digest respected."""
from __future__ import annotations

from sqlalchemy import select

from webapp.extensions import db

from tests.priorities.conftest import HERNE_HILL, ST_JAMES, deliveries_by_user


def _people(make_resident):
    from webapp.delivery.models import PushSubscription
    p = {}
    p["named"] = make_resident(ST_JAMES, concerns=("ebikes", "asb"))
    p["named_digest"] = make_resident(ST_JAMES, concerns=("ebikes",), email_frequency="digest")
    p["named_push_only"] = make_resident(ST_JAMES, concerns=("ebikes",), email_frequency="off")
    db.session.add(PushSubscription(user_id=p["named_push_only"].id,
                                    endpoint="https://fcm.googleapis.com/fcm/send/abc",
                                    p256dh="p" * 87, auth="a" * 22))
    p["category_off"] = make_resident(ST_JAMES, concerns=("ebikes",),
                                      categories=("prevention", "events", "appeals"))
    p["other_topic"] = make_resident(ST_JAMES, concerns=("burglary",))
    p["other_ward"] = make_resident(HERNE_HILL, concerns=("ebikes",))
    # follows St James's as an extra ward but named e-bikes in their own (Herne Hill)
    p["follower_elsewhere"] = make_resident(HERNE_HILL, extra_wards=(ST_JAMES,), concerns=("ebikes",))
    p["no_answer"] = make_resident(ST_JAMES)
    db.session.commit()
    return p


def test_setting_a_priority_tells_exactly_the_residents_who_raised_it(app, make_resident,
                                                                       make_staff, publish):
    people = _people(make_resident)
    officer = make_staff("officer", wards=[ST_JAMES])
    assert publish(officer).status_code == 303
    got = deliveries_by_user()
    told = {name for name, user in people.items() if user.id in got}
    assert told == {"named", "named_digest", "named_push_only"}
    channel, title, body, url = got[people["named"].id][0]
    assert channel == "email"
    assert title == "You told us about dangerous e-bikes and e-scooters. Here is what we did."
    assert body.startswith("We made it a ward priority: Dangerous e-bikes.")
    from webapp.priorities.models import Priority
    priority = db.session.scalar(select(Priority))
    assert url == f"/wards/{ST_JAMES}/priorities/{priority.id}"
    # the digest-chooser's message waits for the digest; push-only gets push only
    assert [d[0] for d in got[people["named_digest"].id]] == ["digest"]
    assert [d[0] for d in got[people["named_push_only"].id]] == ["push"]


def test_meeting_cards_and_tagged_conversations_count_as_raising(app, client, login,
                                                                  make_resident, make_staff, publish):
    from webapp.accounts.models import Concern
    from webapp.threads import services as threads
    officer = make_staff("officer", wards=[ST_JAMES])
    at_meeting = make_resident(ST_JAMES)
    db.session.add(Concern(user_id=at_meeting.id, respondent_key=at_meeting.respondent_key,
                           ward_id=at_meeting.home_ward.id, topic="ebikes", source="meeting",
                           source_id=99))
    wrote_in = make_resident(ST_JAMES)
    untagged = make_resident(ST_JAMES)
    conv = threads.start_conversation(wrote_in, wrote_in.home_ward, "Bikes", "E-bikes on the pavement")
    threads.start_conversation(untagged, untagged.home_ward, "Bikes", "E-bikes too")
    db.session.commit()
    login(client, officer)
    tagged = client.post(f"/officer/messages/{conv.id}/topic", data={"topic": "ebikes"})
    assert tagged.status_code == 303
    assert publish(officer).status_code == 303
    assert set(deliveries_by_user()) == {at_meeting.id, wrote_in.id}


def test_action_and_close_tell_them_again_in_one_sentence(app, client, make_resident, make_staff,
                                                          publish):
    from webapp.priorities.models import Priority
    people = _people(make_resident)
    officer = make_staff("officer", wards=[ST_JAMES])
    publish(officer)
    priority = db.session.scalar(select(Priority))
    response = client.post(f"/officer/priorities/{priority.id}/actions", data={
        f"p{priority.id}-body": "12 e-bikes seized on Coldharbour Lane"})
    assert response.status_code == 303
    response = client.post(f"/officer/priorities/{priority.id}/close", data={
        "outcome": "Complaints about e-bikes fell by half."})
    assert response.status_code == 303
    got = deliveries_by_user()
    bodies = [body for channel, _, body, _ in got[people["named"].id]]
    assert len(bodies) == 3
    assert bodies[1].endswith(": 12 e-bikes seized on Coldharbour Lane")
    assert bodies[2] == "Priority closed: Complaints about e-bikes fell by half."
    assert {name for name, u in people.items() if u.id in got} == \
        {"named", "named_digest", "named_push_only"}


def test_linking_a_new_topic_tells_only_its_new_residents(app, client, make_resident, make_staff,
                                                          publish):
    from webapp.priorities.models import Priority
    people = _people(make_resident)
    officer = make_staff("officer", wards=[ST_JAMES])
    publish(officer)
    priority = db.session.scalar(select(Priority))
    before = {u: len(v) for u, v in deliveries_by_user().items()}
    response = client.post(f"/officer/priorities/{priority.id}/edit", data={
        "title": priority.title, "commitment": priority.commitment,
        "topics": ["ebikes", "burglary"], "review_on": priority.review_on.isoformat()})
    assert response.status_code == 303
    after = {u: len(v) for u, v in deliveries_by_user().items()}
    assert after[people["other_topic"].id] == 1
    assert all(after[u] == n for u, n in before.items())  # nobody told twice


def test_the_digest_gathers_priority_messages(app, make_resident, make_staff, publish):
    from datetime import timedelta
    from webapp.delivery.digest import send_digests
    from webapp.delivery.models import Delivery
    from webapp.platform.timeutil import utcnow
    resident = make_resident(ST_JAMES, concerns=("ebikes",), email_frequency="digest")
    publish(make_staff("officer", wards=[ST_JAMES]))
    db.session.execute(Delivery.__table__.update().values(created_at=utcnow() - timedelta(days=1)))
    db.session.commit()
    # Tomorrow just after the digest hour (Europe/London), whatever the time of day now.
    from webapp.platform.timeutil import london_to_utc, to_london
    local = to_london(utcnow() + timedelta(days=1)).replace(hour=7, minute=5)
    assert send_digests(london_to_utc(local.replace(tzinfo=None))) == 1
    db.session.expire_all()
    row = db.session.scalar(select(Delivery).where(Delivery.user_id == resident.id,
                                                   Delivery.channel == "digest"))
    assert row.state == "batched" and row.digest_delivery_id is not None


def test_the_email_is_the_one_sentence_with_the_link(app, mail, make_resident, make_staff, publish):
    from webapp.delivery.worker import deliver_due
    from webapp.priorities.models import Priority
    resident = make_resident(ST_JAMES, concerns=("ebikes",))
    publish(make_staff("officer", wards=[ST_JAMES]))
    priority = db.session.scalar(select(Priority))
    deliver_due()
    [message] = mail.wait_for(1)
    assert message["To"] == resident.email
    assert message["Subject"] == "You told us about dangerous e-bikes and e-scooters. Here is what we did."
    text = message.get_body(("plain",)).get_content()
    assert f"http://wardline.test/wards/{ST_JAMES}/priorities/{priority.id}" in text
