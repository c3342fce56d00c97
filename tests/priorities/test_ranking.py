"""What residents said: per-source counts, the change against the previous 90 days, ranking,
free text for officers only, and the thresholds of public counts."""
from __future__ import annotations

from datetime import timedelta

from webapp.accounts.models import Concern
from webapp.extensions import db
from webapp.priorities import services
from webapp.platform.timeutil import utcnow
from webapp.wards.services import get_ward

from tests.priorities.conftest import HERNE_HILL, ST_JAMES


def _concern(ward, key, topic, days_ago, source="survey", source_id=0, text=None, now=None):
    db.session.add(Concern(respondent_key=key, ward_id=ward.id, topic=topic, source=source,
                           source_id=source_id, text=text,
                           created_at=(now or utcnow()) - timedelta(days=days_ago)))


def _tagged_conversation(resident, topic, days_ago, now):
    from webapp.priorities.models import ConversationTopic
    from webapp.threads import services as threads
    conv = threads.start_conversation(resident, resident.home_ward, "Bikes", "Bikes everywhere.")
    conv.created_at = now - timedelta(days=days_ago)
    db.session.add(ConversationTopic(conversation_id=conv.id, topic=topic))
    db.session.commit()


def test_counts_by_source_trend_and_rank(app, make_resident):
    now = utcnow()
    ward = get_ward(ST_JAMES)
    # e-bikes: 4 survey answers in the last 90 days (one resident twice: counts once),
    # 2 meeting cards, 1 tagged conversation; 2 survey answers 90-180 days ago.
    for key in ("a", "b", "c", "d"):
        _concern(ward, key, "ebikes", 10, now=now)
    _concern(ward, "a", "ebikes", 5, source="round", source_id=1, now=now)  # rounds: not standing
    _concern(ward, "e", "ebikes", 20, source="meeting", source_id=7, now=now)
    _concern(ward, "f", "ebikes", 21, source="meeting", source_id=8, now=now)
    _concern(ward, "g", "ebikes", 100, now=now)
    _concern(ward, "h", "ebikes", 170, now=now)
    # burglary: 1 recent, 5 in the previous window -> change -4.
    _concern(ward, "a", "burglary", 3, now=now)
    for key in "pqrst":
        _concern(ward, key, "burglary", 120, now=now)
    # drugs: only older than 180 days -> standing only, ranks last.
    _concern(ward, "z", "drugs", 400, now=now)
    # another ward's answers never count here
    _concern(get_ward(HERNE_HILL), "x", "drugs", 1, now=now)
    db.session.commit()
    _tagged_conversation(make_resident(ST_JAMES), "ebikes", 2, now)
    _tagged_conversation(make_resident(ST_JAMES), "drugs", 95, now)

    rows = {r.topic: r for r in services.topic_ranking(ward.id, now)}
    # the residents made by make_resident have no concerns: only what is written above counts
    e = rows["ebikes"]
    assert (e.survey, e.meetings, e.conversations, e.recent, e.previous, e.change, e.standing) == \
        (4, 2, 1, 7, 2, 5, 6)
    b = rows["burglary"]
    assert (b.recent, b.previous, b.change, b.standing) == (1, 5, -4, 6)
    d = rows["drugs"]
    assert (d.recent, d.previous, d.change, d.standing) == (0, 1, -1, 1)
    ranked = [r.topic for r in services.topic_ranking(ward.id, now)]
    assert ranked == ["ebikes", "burglary", "drugs"]


def test_ties_rank_by_standing_then_name(app):
    now = utcnow()
    ward = get_ward(ST_JAMES)
    _concern(ward, "a", "vehicle", 1, now=now)
    _concern(ward, "b", "burglary", 1, now=now)
    _concern(ward, "c", "asb", 1, now=now)
    _concern(ward, "d", "asb", 200, now=now)
    db.session.commit()
    assert [r.topic for r in services.topic_ranking(ward.id, now)] == ["asb", "burglary", "vehicle"]


def test_named_counts_are_hidden_below_the_threshold(app, make_resident):
    ward = get_ward(ST_JAMES)
    for i in range(4):
        _concern(ward, f"k{i}", "ebikes", 1)
    db.session.commit()
    assert services.residents_named(ward.id, ["ebikes"]) == {"ebikes": None}
    # a fifth resident, through a tagged conversation (their respondent key)
    _tagged_conversation(make_resident(ST_JAMES), "ebikes", 1, utcnow())
    assert services.residents_named(ward.id, ["ebikes"]) == {"ebikes": 5}
    # the same resident through two sources counts once
    resident = make_resident(ST_JAMES, concerns=("ebikes",))
    _tagged_conversation(resident, "ebikes", 1, utcnow())
    assert services.residents_named(ward.id, ["ebikes"]) == {"ebikes": 6}


def test_ward_home_shows_the_count_only_from_the_threshold(app, client, make_staff, publish):
    ward = get_ward(ST_JAMES)
    officer = make_staff("officer", wards=[ST_JAMES])
    for i in range(4):
        _concern(ward, f"k{i}", "ebikes", 1)
    db.session.commit()
    assert publish(officer).status_code == 303
    client.get("/officer/logout")
    with client.session_transaction() as sess:
        sess.clear()
    page = client.get(f"/wards/{ST_JAMES}").get_data(as_text=True)
    assert "Our priorities" in page and "Dangerous e-bikes" in page
    assert "residents here named" not in page and "Answers: Dangerous e-bikes and e-scooters" in page
    _concern(ward, "k5", "ebikes", 1)
    db.session.commit()
    page = client.get(f"/wards/{ST_JAMES}").get_data(as_text=True)
    assert "5 residents here named dangerous e-bikes and e-scooters" in page
    assert f"/wards/{ST_JAMES}/stats" in page


def test_free_text_is_for_officers_only(app, client, login, make_staff):
    ward = get_ward(ST_JAMES)
    _concern(ward, "a", "other", 1, text="Fly-tipping behind the flats on Jermyn Street")
    db.session.commit()
    officer = make_staff("officer", wards=[ST_JAMES])
    login(client, officer)
    assert "Fly-tipping behind the flats" in client.get(f"/officer/wards/{ST_JAMES}/priorities").get_data(as_text=True)
    client.post("/officer/logout")
    with client.session_transaction() as sess:
        sess.clear()
    for url in (f"/wards/{ST_JAMES}", f"/wards/{ST_JAMES}/priorities", f"/wards/{ST_JAMES}/stats",
                f"/wards/{ST_JAMES}/priorities.json", f"/wards/{ST_JAMES}/priorities.wardline.json",
                f"/wards/{ST_JAMES}/feed.atom", "/feed.atom", "/stats"):
        assert "Fly-tipping" not in client.get(url).get_data(as_text=True), url
