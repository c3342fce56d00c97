"""Only the ward's team (and admins) edit; CSRF; audit; bad input keeps the text with the
message next to the field; the limit of current priorities; htmx adds an action at once."""
from __future__ import annotations

from sqlalchemy import func, select

from webapp.platform.audit import AuditEvent
from webapp.extensions import db
from webapp.priorities.models import Priority, PriorityAction

from tests.priorities.conftest import HERNE_HILL, ST_JAMES


def _audit():
    db.session.expire_all()
    return [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_other_teams_officer_and_residents_cannot_edit(app, client, login, make_resident,
                                                       make_staff, publish):
    officer = make_staff("officer", wards=[ST_JAMES])
    publish(officer)
    priority = db.session.scalar(select(Priority))
    other = make_staff("officer", wards=[HERNE_HILL])
    login(client, other)
    assert client.get(f"/officer/wards/{ST_JAMES}/priorities").status_code == 404
    assert publish(other).status_code == 404
    for url, data in ((f"/officer/priorities/{priority.id}/actions", {f"p{priority.id}-body": "x"}),
                      (f"/officer/priorities/{priority.id}/close", {"outcome": "x"}),
                      (f"/officer/priorities/{priority.id}/edit", {"title": "x"}),
                      (f"/officer/wards/{ST_JAMES}/rounds", {"question": "x"})):
        assert client.post(url, data=data).status_code == 404, url
    resident = make_resident(ST_JAMES)
    login(client, resident)
    assert client.get(f"/officer/wards/{ST_JAMES}/priorities").status_code == 403
    assert db.session.scalar(select(func.count()).select_from(PriorityAction)) == 0
    # an admin may
    login(client, make_staff("admin"))
    assert client.post(f"/officer/priorities/{priority.id}/actions",
                       data={f"p{priority.id}-body": "Admin's action"}).status_code == 303


def test_csrf_is_required(app, client, login, make_staff):
    login(client, make_staff("officer", wards=[ST_JAMES]))
    response = client.post(f"/officer/wards/{ST_JAMES}/priorities", data={"title": "x"}, csrf=False)
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Priority)) == 0


def test_every_change_is_audited(app, client, login, make_staff, publish):
    officer = make_staff("officer", wards=[ST_JAMES])
    publish(officer)
    priority = db.session.scalar(select(Priority))
    client.post(f"/officer/priorities/{priority.id}/edit", data={
        "title": "E-bikes", "commitment": "Patrols", "topics": ["ebikes"],
        "review_on": priority.review_on.isoformat()})
    client.post(f"/officer/priorities/{priority.id}/actions", data={f"p{priority.id}-body": "Seized 3"})
    client.post(f"/officer/priorities/{priority.id}/close", data={"outcome": "Done"})
    assert _audit() == ["priority.create", "priority.update", "priority.action", "priority.close"]


def test_bad_input_is_shown_next_to_the_field_with_the_text_kept(app, client, make_staff, publish):
    officer = make_staff("officer", wards=[ST_JAMES])
    response = publish(officer, title="E-bikes <b>now</b>", topics=(), commitment="")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Say what the team will do." in page or "Link at least one topic" in page
    assert "E-bikes &lt;b&gt;now&lt;/b&gt;" in page
    for bad in ({"topics": ["not-a-topic"]}, {"review_in_days": -1}, {"title": "x" * 500},
                {"review_in_days": 900}):
        kwargs = {"review_in_days": 30, **bad}
        assert publish(officer, **kwargs).status_code == 422, bad
    response = publish(officer, review_on="not a date")
    assert response.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(Priority)) == 0
    publish(officer)
    priority = db.session.scalar(select(Priority))
    for data in ({f"p{priority.id}-body": ""}, {f"p{priority.id}-body": "x" * 400},
                 {f"p{priority.id}-body": "Tomorrow", f"p{priority.id}-acted_on": "2999-01-01"},
                 {f"p{priority.id}-body": "Linked", f"p{priority.id}-link": "alert:999999"},
                 {f"p{priority.id}-body": "Linked", f"p{priority.id}-link": "alert:99999999999"}):
        response = client.post(f"/officer/priorities/{priority.id}/actions", data=data)
        assert response.status_code == 422, data
    assert client.post(f"/officer/priorities/{priority.id}/close", data={"outcome": " "}).status_code == 422
    assert db.session.scalar(select(func.count()).select_from(PriorityAction)) == 0


def test_no_more_than_the_setting_allows(app, client, make_staff, publish):
    officer = make_staff("officer", wards=[ST_JAMES])
    for n in range(3):
        assert publish(officer, title=f"Priority {n}").status_code == 303
    response = publish(officer, title="A fourth")
    assert response.status_code == 422 and "already has 3 current priorities" in response.get_data(as_text=True)
    app.config["PRIORITIES_MAX"] = 4
    try:
        assert publish(officer, title="A fourth").status_code == 303
    finally:
        app.config["PRIORITIES_MAX"] = 3


def test_htmx_adds_an_action_and_returns_the_card(app, client, make_staff, publish):
    officer = make_staff("officer", wards=[ST_JAMES])
    publish(officer)
    priority = db.session.scalar(select(Priority))
    response = client.post(f"/officer/priorities/{priority.id}/actions",
                           data={f"p{priority.id}-body": "Seized 12 e-bikes"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith(f'<article class="priority panel" id="priority-{priority.id}">')
    assert "Seized 12 e-bikes" in html and "<html" not in html
    bad = client.post(f"/officer/priorities/{priority.id}/actions", data={f"p{priority.id}-body": ""},
                      headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "Say what was done." in bad.get_data(as_text=True)


def test_an_action_links_only_the_wards_own_alert_post_or_meeting(app, client, make_staff, publish):
    from webapp import posts
    from webapp.wards.services import get_ward
    officer = make_staff("officer", wards=[ST_JAMES])
    mine = posts.create_ward_post(get_ward(ST_JAMES), officer, "Patrols", "On foot.")
    theirs = posts.create_ward_post(get_ward(HERNE_HILL), make_staff("officer", wards=[HERNE_HILL]),
                                      "Herne Hill post", "Body")
    db.session.commit()
    publish(officer)
    priority = db.session.scalar(select(Priority))
    assert client.post(f"/officer/priorities/{priority.id}/actions", data={
        f"p{priority.id}-body": "x", f"p{priority.id}-link": f"post:{theirs.id}"}).status_code == 422
    assert client.post(f"/officer/priorities/{priority.id}/actions", data={
        f"p{priority.id}-body": "Patrols done", f"p{priority.id}-link": f"post:{mine.id}"}).status_code == 303
    action = db.session.scalar(select(PriorityAction))
    assert (action.link_type, action.link_id, action.link_title) == ("post", mine.id, "Patrols")
    page = client.get(f"/wards/{ST_JAMES}/priorities/{priority.id}").get_data(as_text=True)
    assert f'href="/wards/{ST_JAMES}/posts/{mine.id}"' in page


def test_public_text_is_scrubbed_of_addresses_and_numbers(app, client, make_staff, publish):
    officer = make_staff("officer", wards=[ST_JAMES])
    publish(officer, commitment="Call 07700 900123 or write to sam@example.org")
    priority = db.session.scalar(select(Priority))
    assert "07700" not in priority.commitment and "sam@example.org" not in priority.commitment


def test_tagging_a_conversation_one_tap_scoped_and_audited(app, client, login, make_resident,
                                                           make_staff):
    from webapp.priorities.models import ConversationTopic
    from webapp.threads import services as threads
    resident = make_resident(ST_JAMES)
    conv = threads.start_conversation(resident, resident.home_ward, "Bikes", "E-bikes")
    db.session.commit()
    login(client, make_staff("officer", wards=[HERNE_HILL]))
    assert client.post(f"/officer/messages/{conv.id}/topic", data={"topic": "ebikes"}).status_code == 404
    officer = make_staff("officer", wards=[ST_JAMES])
    login(client, officer)
    page = client.get(f"/officer/messages/{conv.id}").get_data(as_text=True)
    assert 'id="conversation-topic"' in page and 'hx-trigger="change"' in page
    response = client.post(f"/officer/messages/{conv.id}/topic", data={"topic": "ebikes"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200 and "Saved." in response.get_data(as_text=True)
    assert db.session.scalar(select(ConversationTopic.topic)) == "ebikes"
    assert client.post(f"/officer/messages/{conv.id}/topic", data={"topic": "nonsense"}).status_code == 422
    assert client.post(f"/officer/messages/{conv.id}/topic", data={"topic": "drugs"}).status_code == 303
    db.session.expire_all()
    assert db.session.scalar(select(ConversationTopic.topic)) == "drugs"
    assert _audit().count("conversation.topic") == 2


def test_ward_home_offers_set_priorities_only_to_the_wards_team(app, client, login, make_staff,
                                                                make_resident):
    page = f"/wards/{ST_JAMES}"
    assert "Set priorities for" not in client.get(page).get_data(as_text=True)
    login(client, make_staff("officer", wards=[HERNE_HILL]))
    assert "Set priorities for" not in client.get(page).get_data(as_text=True)
    login(client, make_staff("officer", wards=[ST_JAMES]))
    assert f'href="/officer/wards/{ST_JAMES}/priorities"' in client.get(page).get_data(as_text=True)


def test_html_datetime_writes_a_calendar_date_as_a_date():
    from datetime import date
    from webapp.platform.timeutil import html_datetime
    assert html_datetime(date(2026, 12, 5)) == "2026-12-05"
