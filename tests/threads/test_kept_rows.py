"""Rows rendered once and kept (``kept_html``, issue 14): a resident's messages, their
/messages list and the officer inbox's rows are rendered once per row content, shown again
alike, and rendered afresh the moment what the row shows changes (another key)."""
from __future__ import annotations

import re

import pytest
from flask import render_template_string

from webapp.extensions import db
from webapp.platform import pagecache
from webapp.threads import services
from webapp.threads.models import Conversation

ST_JAMES = "E05013806"


def _messages(html: str) -> str:
    return re.search(r'<ol id="messages".*?</ol>', html, re.S).group(0)


def _kept(name: str) -> list[tuple]:
    return [key for key in pagecache._kept if key[0] == name]


def test_a_residents_messages_are_rendered_once_and_kept(app, login, make_resident, make_staff,
                                                         start_conversation, reply):
    resident = make_resident(ST_JAMES)
    officer = make_staff("officer", wards=[ST_JAMES])
    conv = start_conversation(resident, body="Bikes again <b>tonight</b>")
    reply(conv, officer, "We will look at it.")
    browser = app.test_client()
    login(browser, resident)
    first = _messages(browser.get(f"/messages/{conv.id}").text)
    assert len(_kept("message")) == 2  # both messages, rendered once
    assert _messages(browser.get(f"/messages/{conv.id}").text) == first  # shown again alike
    assert len(_kept("message")) == 2
    assert "Bikes again &lt;b&gt;tonight&lt;/b&gt;" in first  # escaped as before

    # An officer's view has their tools (and a CSRF token): rendered each time, never kept.
    staff = app.test_client()
    login(staff, officer)
    assert "Hide this message" in staff.get(f"/officer/messages/{conv.id}").text
    assert len(_kept("message")) == 2

    # Hidden: another row (hidden_at), so the resident's next page renders it afresh.
    message_id = conv.last_message_id
    assert staff.post(f"/officer/message/{message_id}/hide", data={"reason": ""}).status_code == 303
    page = browser.get(f"/messages/{conv.id}").text
    assert "We will look at it." not in page and "removed by a moderator" in page
    assert len(_kept("message")) == 3


def test_the_residents_list_shows_a_new_reply_at_once(app, login, make_resident, make_staff,
                                                      start_conversation, reply):
    resident = make_resident(ST_JAMES)
    officer = make_staff("officer", wards=[ST_JAMES])
    conv = start_conversation(resident, subject="Parking on the corner")
    browser = app.test_client()
    login(browser, resident)
    assert "New reply" not in browser.get("/messages").text
    assert len(_kept("my-conversation")) == 1
    reply(conv, officer, "Noted.")
    db.session.remove()
    assert "New reply" in browser.get("/messages").text  # unread and a new time: a new key
    assert len(_kept("my-conversation")) == 2


def test_an_inbox_row_is_kept_per_officer(app, login, make_resident, make_staff,
                                          start_conversation):
    """"assigned to me" for the one who took it, their name for a teammate: the same row
    content, kept under who is looking."""
    first = make_staff("officer", wards=[ST_JAMES], name="Jo Bloggs")
    second = make_staff("officer", team=first.teams[0], name="Sam Smith")
    conv = start_conversation(make_resident(ST_JAMES))
    mine, theirs = app.test_client(), app.test_client()
    login(mine, first)
    login(theirs, second)
    assert mine.post(f"/officer/messages/{conv.id}/take").status_code == 303
    assert "assigned to me" in mine.get("/officer/inbox").text
    assert "assigned to me" in mine.get("/officer/inbox").text  # kept, alike
    other = theirs.get("/officer/inbox").text
    assert "assigned to me" not in other and "assigned to Jo Bloggs" in other
    assert len(_kept("inbox-row")) == 2
    assert db.session.get(Conversation, conv.id).status == "awaiting"
    assert "waiting <strong>just now</strong>" in other


def test_kept_html_renders_once_per_key_and_refuses_entities(app, make_resident):
    calls = []
    template = ('{% for k in keys %}{% call kept_html("t", k) %}<i>{{ count() }}</i>'
                '{% endcall %}{% endfor %}')

    def count():
        calls.append(1)
        return len(calls)
    with app.test_request_context():
        html = render_template_string(template, keys=[1, 2, 1, None, None], count=count)
        assert html == "<i>1</i><i>2</i><i>1</i><i>3</i><i>4</i>"  # None: never kept
        resident = make_resident(ST_JAMES)
        with pytest.raises(TypeError):  # an entity hashes by identity, not by its content
            render_template_string(template, keys=[resident], count=count)


def test_kept_html_keeps_at_most_its_limit(app, monkeypatch):
    monkeypatch.setattr(pagecache, "KEPT_ENTRIES", 3)
    with app.test_request_context():
        render_template_string('{% for k in range(5) %}{% call kept_html("n", k) %}{{ k }}'
                               '{% endcall %}{% endfor %}')
    assert _kept("n") == [("n", 2), ("n", 3), ("n", 4)]  # the least recently used went first
    monkeypatch.setattr(pagecache, "KEPT_ENTRIES", 100)
    monkeypatch.setattr(pagecache, "KEPT_CHARS", 2 * 3 * 10)  # three rows of 10 characters
    with app.test_request_context():
        render_template_string('{% for k in range(5) %}{% call kept_html("c", k) %}{{ "x" * 10 }}'
                               '{% endcall %}{% endfor %}')
    assert _kept("c") == [("c", 2), ("c", 3), ("c", 4)] and not _kept("n")


def test_the_services_rows_are_what_is_kept(app, make_resident, start_conversation):
    """The keys hold everything a row shows: frozen rows, hashed by value."""
    conv = start_conversation(make_resident(ST_JAMES))
    views, _ = services.messages_page(conv)
    again, _ = services.messages_page(conv)
    assert views == again and hash(views[0]) == hash(again[0]) and views[0] is not again[0]


def test_lists_of_rows_skip_the_orms_execution_path(app, login, make_resident, make_staff,
                                                    start_conversation):
    """A conversation's messages, a resident's list and the officer inbox are statements of
    columns: run on the session's connection (platform/db.py rows()), not Session.execute."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session
    resident = make_resident(ST_JAMES)
    officer = make_staff("officer", wards=[ST_JAMES])
    conv = start_conversation(resident)
    mine, staff = app.test_client(), app.test_client()
    login(mine, resident)
    login(staff, officer)
    seen = []

    def listener(state):
        seen.append(str(state.statement))
    event.listen(Session, "do_orm_execute", listener)
    try:
        assert "Cyclists ride fast" in mine.get(f"/messages/{conv.id}").text
        assert "Bikes on the pavement" in mine.get("/messages").text
        assert "Bikes on the pavement" in staff.get("/officer/inbox").text
    finally:
        event.remove(Session, "do_orm_execute", listener)
    assert seen and not [s for s in seen if s.startswith("SELECT")
                         and ("messages.body" in s or "conversation_reads" in s)]
