"""No input makes a 500 on the pages of issues 2 and 3: very long strings, NUL bytes (which
PostgreSQL refuses in text), unicode, numbers past INTEGER range and markup, in every form
field and query parameter, plain and with htmx. Runs on SQLite and PostgreSQL."""
from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import select

from tests.conftest import HTMX
from webapp.extensions import db, limiter
from webapp.threads.models import Conversation, Message

NASTY = ["x" * 20000, "a\x00b", "\u202e💥" * 200, "4611686018427387903", "<script>alert(1)</script>"]

GET_URLS = ["/wards?q={v}", "/wards/search?q={v}", "/wards/borough?borough={v}",
            "/wards/locate?lat={v}&lon={v}", "/wards/{v}", "/wards/E05013806/posts?page={v}",
            "/wards/{v}/posts/1", "/login?next={v}", "/signin/{v}", "/survey?step=1&q={v}&borough={v}",
            "/settings?q={v}&borough={v}", "/messages?ward={v}", "/messages/{cid}?before={v}",
            "/messages/{cid}/poll?after={v}", "/messages/{cid}/earlier?before={v}",
            "/officer/inbox?ward={v}&status={v}&page={v}", "/officer/messages/{cid}?before={v}",
            "/officer/messages/{cid}/poll?after={v}", "/officer/posts/new?ward={v}",
            "/admin/audit?action={v}&page={v}"]


@pytest.fixture
def world(app, make_resident, make_staff, login, start_conversation):
    resident = make_resident(extra_wards=("E05014104",))
    officer = make_staff("officer", wards=["E05013806"])
    admin = make_staff("admin")
    conv = start_conversation(resident)
    clients = {}
    for name, user in (("resident", resident), ("officer", officer), ("admin", admin)):
        clients[name] = login(app.test_client(), user)
    clients["visitor"] = app.test_client()
    limiter.enabled = False  # this test is about input, not about rate limits
    yield {"resident": resident, "officer": officer, "conv": conv, "clients": clients,
           "mid": conv.last_message_id}
    limiter.enabled = True


def _failures(client, method, url, data=None):
    failures = []
    for headers in ({}, HTMX):
        response = client.open(url, method=method, data=data, headers=headers)
        db.session.rollback()
        if response.status_code >= 500:
            failures.append((method, url[:70], repr(data)[:70], bool(headers), response.status_code))
    return failures


def test_query_parameters_and_path_parts(world):
    bad = []
    for who in ("resident", "officer", "admin"):
        client = world["clients"][who]
        for template in GET_URLS:
            for value in NASTY:
                url = template.format(v=quote(value, safe=""), cid=world["conv"].id)
                bad += _failures(client, "GET", url)
    assert not bad, bad


def _post_everything(client, url, fields):
    bad = []
    for value in NASTY:
        bad += _failures(client, "POST", url, {field: value for field in fields})
    return bad


def test_form_fields(world):
    c, conv, mid = world["clients"], world["conv"].id, world["mid"]
    # text with a NUL byte is kept (without it), not refused with a 500 on PostgreSQL
    response = c["resident"].post("/messages", data={"ward": world["resident"].home_ward.id,
                                                     "subject": "a\x00b", "body": "Hello"})
    assert response.status_code == 303
    # a huge Idempotency-Key header is not a 500 either (before the officer's forms below
    # block this resident)
    response = c["resident"].post(f"/messages/{conv}", data={"body": "With a long key"},
                                  headers={"Idempotency-Key": "k" * 5000})
    assert response.status_code < 500
    forms = [
        ("visitor", "/signup", ["email", "display_name"]),
        ("visitor", "/login", ["email", "next"]),
        ("visitor", "/officer/login", ["email", "password"]),
        ("resident", "/messages", ["ward", "subject", "body", "idempotency_key"]),
        ("resident", f"/messages/{conv}", ["body", "idempotency_key", "after"]),
        ("resident", "/survey", ["home_ward", "extra_wards"]),
        ("resident", "/survey/ward?next=settings", ["ward", "role"]),
        ("resident", "/survey/ward/remove?next=settings", ["ward"]),
        ("resident", "/settings/name", ["display_name"]),
        ("resident", "/settings/updates", ["categories", "email_frequency"]),
        ("resident", "/settings/concerns", ["concerns", "other_text"]),
        ("officer", f"/officer/messages/{conv}", ["body", "idempotency_key"]),
        ("officer", f"/officer/messages/{conv}/publish", ["title", "question", "answer"]),
        ("officer", f"/officer/messages/{conv}/block", ["reason"]),
        ("officer", f"/officer/message/{mid}/hide", ["reason"]),
        ("officer", "/officer/posts/new", ["ward", "title", "body"]),
        ("admin", "/admin/officers/new", ["email", "display_name", "rank", "shoulder_number", "teams"]),
        ("admin", f"/admin/officers/{world['officer'].id}", ["display_name", "rank", "shoulder_number", "teams"]),
        ("admin", "/admin/teams/new", ["name", "wards", "members"]),
    ]
    bad = []
    for who, url, fields in forms:
        bad += _post_everything(c[who], url, fields)
    assert not bad, bad
    assert db.session.scalar(select(Message).where(Message.body == "ab")) is not None
    assert db.session.scalar(select(Conversation).where(Conversation.subject == "ab")) is not None
