"""Open data: the police.uk priorities shape, Wardline's JSON, Atom feeds (checked with
feedparser and for RFC 4287's required elements), conditional GET."""
from __future__ import annotations

from xml.etree import ElementTree as ET

import feedparser
from sqlalchemy import select

from webapp.extensions import db
from webapp.priorities.models import Priority

from tests.priorities.conftest import HERNE_HILL, ST_JAMES

ATOM = "{http://www.w3.org/2005/Atom}"


def _world(client, make_staff, publish):
    from webapp import posts
    from webapp.alerts.services import AlertInput, create_alert, resolve_target, send_alert
    from webapp.wards.services import get_ward
    officer = make_staff("officer", wards=[ST_JAMES])
    alert = create_alert(officer, AlertInput(
        title="Phone snatches", body="Keep phones out of sight.", category="prevention",
        channels=["email"], target=resolve_target(officer, "wards", [get_ward(ST_JAMES).id])))
    db.session.commit()
    send_alert(alert.id)
    posts.create_ward_post(get_ward(ST_JAMES), officer, "Patrols this week", "On foot.")
    other = make_staff("officer", wards=[HERNE_HILL])
    posts.create_ward_post(get_ward(HERNE_HILL), other, "Herne Hill news", "Elsewhere.")
    db.session.commit()
    publish(officer, title="E-bikes")
    publish(officer, title="Burglary", topics=("burglary",))
    first, second = db.session.scalars(select(Priority).order_by(Priority.id)).all()
    client.post(f"/officer/priorities/{first.id}/actions", data={f"p{first.id}-body": "12 e-bikes seized"})
    client.post(f"/officer/priorities/{second.id}/close", data={"outcome": "Burglaries fell."})
    with client.session_transaction() as sess:
        sess.clear()
    return first, second


def test_police_uk_shape(app, client, make_staff, publish):
    first, second = _world(client, make_staff, publish)
    response = client.get(f"/wards/{ST_JAMES}/priorities.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    data = response.get_json()
    assert isinstance(data, list) and len(data) == 2
    for item in data:
        assert set(item) == {"issue", "issue-date", "action", "action-date"}
        assert item["issue"].startswith("<p>")
        # police.uk dates: 2010-07-28T00:00:00 (no zone)
        assert len(item["issue-date"]) == 19 and item["issue-date"][10] == "T"
    current, closed = data
    assert current["issue"] == f"<p>E-bikes</p><p>{first.commitment}</p>"
    assert current["action"] == "<p>12 e-bikes seized</p>" and current["action-date"].endswith("T00:00:00")
    assert closed["action"] == "<p>Burglaries fell.</p>"
    assert client.get("/wards/E05999999/priorities.json").status_code == 404


def test_wardline_json(app, client, make_staff, publish):
    first, _ = _world(client, make_staff, publish)
    data = client.get(f"/wards/{ST_JAMES}/priorities.wardline.json").get_json()
    assert data["ward"]["code"] == ST_JAMES
    item = data["priorities"][0]
    assert item["title"] == "E-bikes" and item["status"] == "current"
    assert item["topics"] == [{"code": "ebikes", "label": "Dangerous e-bikes and e-scooters",
                               "residents": None}]  # fewer than 5: hidden
    assert item["actions"][0]["text"] == "12 e-bikes seized"
    assert data["priorities"][1]["outcome"] == "Burglaries fell."


def _check_atom(body: bytes):
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    root = ET.fromstring(body)
    assert root.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated"):
        assert root.find(f"{ATOM}{tag}") is not None and root.find(f"{ATOM}{tag}").text, tag
    assert root.find(f"{ATOM}author/{ATOM}name").text == "Wardline"
    assert root.find(f"{ATOM}link[@rel='self']") is not None
    ids = []
    for entry in root.findall(f"{ATOM}entry"):
        for tag in ("id", "title", "updated"):
            assert entry.find(f"{ATOM}{tag}").text, tag
        assert entry.find(f"{ATOM}link[@rel='alternate']").get("href").startswith("http")
        ids.append(entry.find(f"{ATOM}id").text)
    assert len(ids) == len(set(ids))
    return parsed


def test_ward_feed_is_valid_atom_with_alerts_posts_and_priority_updates(app, client, make_staff, publish):
    _world(client, make_staff, publish)
    response = client.get(f"/wards/{ST_JAMES}/feed.atom")
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    parsed = _check_atom(response.data)
    titles = [e.title for e in parsed.entries]
    assert "Phone snatches" in titles and "Patrols this week" in titles
    assert "New ward priority: E-bikes" in titles and "Priority closed: Burglary" in titles
    assert "E-bikes: 12 e-bikes seized" in titles
    assert "Herne Hill news" not in titles
    london = _check_atom(client.get("/feed.atom").data)
    assert "Herne Hill news" in [e.title for e in london.entries]


def test_empty_feed_is_valid_too(app, client):
    _check_atom(client.get(f"/wards/{ST_JAMES}/feed.atom").data)


def test_conditional_get(app, client, login, make_staff, publish):
    _world(client, make_staff, publish)
    for url in (f"/wards/{ST_JAMES}/feed.atom", "/feed.atom", f"/wards/{ST_JAMES}/priorities.json",
                f"/wards/{ST_JAMES}/priorities.wardline.json"):
        first = client.get(url)
        etag = first.headers["ETag"]
        again = client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304, url
    # a change makes a new ETag
    etag = client.get(f"/wards/{ST_JAMES}/feed.atom").headers["ETag"]
    officer = make_staff("officer", wards=[ST_JAMES])
    priority = db.session.scalar(select(Priority).where(Priority.status == "current"))
    login(client, officer)
    client.post(f"/officer/priorities/{priority.id}/actions", data={f"p{priority.id}-body": "More"})
    with client.session_transaction() as sess:
        sess.clear()
    assert client.get(f"/wards/{ST_JAMES}/feed.atom", headers={"If-None-Match": etag}).status_code == 200
