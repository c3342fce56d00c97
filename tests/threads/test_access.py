"""The access matrix: who may read, poll, post to and act on which conversation."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import HTMX
from webapp.extensions import db
from webapp.threads.models import Message

ST_JAMES = "E05013806"
BRIXTON = "E05014095"

RESIDENT_URLS = [("get", "/messages/{id}"), ("get", "/messages/{id}/poll?after=0"),
                 ("get", "/messages/{id}/earlier?before=999999"), ("post", "/messages/{id}")]
OFFICER_URLS = [("get", "/officer/messages/{id}"), ("get", "/officer/messages/{id}/poll?after=0"),
                ("get", "/officer/messages/{id}/earlier?before=999999"),
                ("post", "/officer/messages/{id}"), ("post", "/officer/messages/{id}/close"),
                ("post", "/officer/messages/{id}/reopen"), ("post", "/officer/messages/{id}/take"),
                ("post", "/officer/messages/{id}/block"), ("get", "/officer/messages/{id}/publish"),
                ("post", "/officer/messages/{id}/publish"), ("post", "/officer/message/{mid}/hide"),
                ("post", "/officer/message/{mid}/unhide")]
ADMIN_URLS = ["/admin", "/admin/officers", "/admin/officers/new", "/admin/teams",
              "/admin/teams/new", "/admin/audit"]
OFFICER_PAGES = ["/officer/inbox", "/officer/posts/new", "/staff"]


def _call(client, method, url, **kwargs):
    data = {"body": "Let me in", "reason": "x", "title": "t", "question": "q", "answer": "a"}
    if method == "post":
        return client.post(url, data=data, **kwargs)
    return client.get(url, **kwargs)


@pytest.fixture
def two_residents(make_resident, start_conversation):
    owner = make_resident(ST_JAMES)
    intruder = make_resident(ST_JAMES)
    conv = start_conversation(owner, body="Private to me")
    return owner, intruder, conv


@pytest.mark.parametrize("method, url", RESIDENT_URLS)
def test_resident_cannot_touch_another_residents_conversation(client, login, two_residents, method, url):
    owner, intruder, conv = two_residents
    login(client, intruder)
    before = db.session.scalar(select(func.count()).select_from(Message))
    response = _call(client, method, url.format(id=conv.id), headers=HTMX)
    assert response.status_code == 404
    assert "Private to me" not in response.text
    assert db.session.scalar(select(func.count()).select_from(Message)) == before


@pytest.mark.parametrize("method, url", RESIDENT_URLS)
def test_owner_can_use_their_conversation(client, login, two_residents, method, url):
    owner, _, conv = two_residents
    login(client, owner)
    response = _call(client, method, url.format(id=conv.id))
    assert response.status_code in (200, 204, 303)


def test_residents_list_shows_only_their_own(client, login, two_residents, start_conversation):
    owner, intruder, conv = two_residents
    start_conversation(intruder, subject="Intruder's own topic")
    login(client, owner)
    page = client.get("/messages").text
    assert "Bikes on the pavement" in page and "Intruder's own topic" not in page


@pytest.mark.parametrize("method, url", OFFICER_URLS)
def test_officer_of_another_ward_cannot_see_or_act(client, login, make_resident, make_staff,
                                                  start_conversation, method, url):
    resident = make_resident(ST_JAMES)
    conv = start_conversation(resident, body="For St James's only")
    outsider = make_staff("officer", wards=[BRIXTON])
    login(client, outsider)
    before = db.session.scalar(select(func.count()).select_from(Message))
    response = _call(client, method, url.format(id=conv.id, mid=conv.last_message_id), headers=HTMX)
    assert response.status_code == 404
    assert "For St James" not in response.text
    assert db.session.scalar(select(func.count()).select_from(Message)) == before
    db.session.expire_all()
    assert conv.status == "awaiting" and conv.assigned_to_id is None


@pytest.mark.parametrize("method, url", OFFICER_URLS)
def test_covering_officer_can_act(client, login, make_resident, make_staff, start_conversation,
                                  method, url):
    resident = make_resident(ST_JAMES)
    conv = start_conversation(resident)
    officer = make_staff("officer", wards=[ST_JAMES])
    login(client, officer)
    response = _call(client, method, url.format(id=conv.id, mid=conv.last_message_id))
    assert response.status_code in (200, 204, 303)


def test_inbox_lists_only_covered_wards(client, login, make_resident, make_staff, start_conversation):
    start_conversation(make_resident(ST_JAMES), subject="St James topic")
    start_conversation(make_resident(BRIXTON), subject="Brixton topic")
    officer = make_staff("officer", wards=[BRIXTON])
    login(client, officer)
    page = client.get("/officer/inbox").text
    assert "Brixton topic" in page and "St James topic" not in page


@pytest.mark.parametrize("url", OFFICER_PAGES + ADMIN_URLS + [u.format(id=1, mid=1) for m, u in OFFICER_URLS if m == "get"])
def test_resident_gets_403_on_officer_and_admin_pages(client, login, make_resident, url):
    login(client, make_resident(ST_JAMES))
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", OFFICER_PAGES + ADMIN_URLS)
def test_officer_without_second_factor_gets_nothing(client, login, make_staff, url):
    login(client, make_staff("officer", wards=[ST_JAMES]), mfa=False)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", ADMIN_URLS)
def test_officer_gets_403_on_admin_pages(client, login, make_staff, url):
    login(client, make_staff("officer", wards=[ST_JAMES]))
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", ADMIN_URLS)
def test_admin_sees_admin_pages(client, login, make_staff, url):
    login(client, make_staff("admin"))
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("url", OFFICER_PAGES + ["/officer/messages/1"])
def test_visitors_are_sent_to_officer_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302 and "/officer/login" in response.headers["Location"]


def test_officers_cannot_use_resident_pages(client, login, make_staff):
    login(client, make_staff("officer", wards=[ST_JAMES]))
    assert client.get("/messages").status_code == 403
