"""The officer inbox and conversation page: ordering, filters, unread markers, actions,
and bounded queries however long conversations grow."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from tests.conftest import HTMX
from webapp.platform.audit import AuditEvent
from webapp.extensions import db
from webapp.platform import pagestore
from webapp.threads import services
from webapp.threads.models import Conversation, Message
from webapp.platform.timeutil import utcnow

ST_JAMES = "E05013806"
BRIXTON = "E05014095"


def _age(conv, hours):
    conv = db.session.get(Conversation, conv.id)
    conv.awaiting_since = utcnow() - timedelta(hours=hours)
    conv.last_message_at = conv.awaiting_since
    db.session.commit()


def test_oldest_awaiting_first_with_age_then_others(client, login, make_resident, make_staff,
                                                    start_conversation, reply):
    officer = make_staff("officer", wards=[ST_JAMES])
    resident = make_resident(ST_JAMES)
    newer = start_conversation(resident, subject="Newer waiting")
    older = start_conversation(resident, subject="Older waiting")
    answered = start_conversation(resident, subject="Already answered")
    reply(answered, officer)
    _age(newer, 2)
    _age(older, 50)
    login(client, officer)
    page = client.get("/officer/inbox").text
    assert page.index("Older waiting") < page.index("Newer waiting") < page.index("Already answered")
    assert "waiting <strong>2 days</strong>" in page
    assert "waiting <strong>2 h</strong>" in page


@pytest.mark.parametrize("status, shown, hidden", [
    ("awaiting", "Waiting one", "Answered one"),
    ("answered", "Answered one", "Waiting one"),
    ("closed", "Closed one", "Waiting one"),
])
def test_filter_by_status(client, login, make_resident, make_staff, start_conversation, reply,
                          status, shown, hidden):
    officer = make_staff("officer", wards=[ST_JAMES])
    resident = make_resident(ST_JAMES)
    start_conversation(resident, subject="Waiting one")
    reply(start_conversation(resident, subject="Answered one"), officer)
    closed = start_conversation(resident, subject="Closed one")
    services.close_conversation(db.session.get(Conversation, closed.id), officer)
    db.session.commit()
    login(client, officer)
    for headers in ({}, HTMX):
        response = client.get(f"/officer/inbox?status={status}", headers=headers)
        assert response.status_code == 200  # the filter is not taken for the HTTP status
        assert shown in response.text and hidden not in response.text
    assert f'<option value="{status}" selected>' in client.get(f"/officer/inbox?status={status}").text


def test_filter_by_ward_and_htmx_fragment(client, login, make_resident, make_staff, start_conversation):
    officer = make_staff("officer", wards=[ST_JAMES, BRIXTON])
    start_conversation(make_resident(ST_JAMES), subject="From St James")
    brixton_resident = make_resident(BRIXTON)
    start_conversation(brixton_resident, subject="From Brixton")
    login(client, officer)
    ward_id = brixton_resident.home_ward.id
    response = client.get(f"/officer/inbox?ward={ward_id}", headers=HTMX)
    assert "From Brixton" in response.text and "From St James" not in response.text
    assert "<html" not in response.text and 'id="inbox"' in response.text
    # A ward the officer does not cover is ignored (not an error).
    assert client.get("/officer/inbox?ward=999999&status=bogus&page=x").status_code == 200


def test_unread_markers_per_officer(client, app, login, make_resident, make_staff, start_conversation):
    first = make_staff("officer", wards=[ST_JAMES])
    second = make_staff("officer", team=first.teams[0])
    resident = make_resident(ST_JAMES)
    conv = start_conversation(resident)
    login(client, first)
    assert "Unread" in client.get("/officer/inbox").text
    client.get(f"/officer/messages/{conv.id}")
    assert "Unread" not in client.get("/officer/inbox").text
    other = app.test_client()
    login(other, second)
    assert "Unread" in other.get("/officer/inbox").text  # read state is per officer
    services.add_message(db.session.get(Conversation, conv.id), resident, "One more thing")
    db.session.commit()
    assert "Unread" in client.get("/officer/inbox").text


def test_take_close_reopen(client, login, make_resident, make_staff, start_conversation):
    officer = make_staff("officer", wards=[ST_JAMES])
    conv = start_conversation(make_resident(ST_JAMES))
    login(client, officer)
    assert client.post(f"/officer/messages/{conv.id}/take").status_code == 303
    assert "assigned to me" in client.get("/officer/inbox").text
    client.post(f"/officer/messages/{conv.id}/close")
    db.session.expire_all()
    assert conv.status == "closed" and conv.closed_at is not None
    client.post(f"/officer/messages/{conv.id}/reopen")
    db.session.expire_all()
    assert conv.status == "awaiting" and conv.closed_at is None
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"conversation.take", "conversation.close", "conversation.reopen"} <= actions


def test_action_without_csrf_is_refused(client, login, make_resident, make_staff, start_conversation):
    officer = make_staff("officer", wards=[ST_JAMES])
    conv = start_conversation(make_resident(ST_JAMES))
    login(client, officer)
    assert client.post(f"/officer/messages/{conv.id}/close", csrf=False).status_code == 400
    db.session.expire_all()
    assert conv.status == "awaiting"


def test_officer_reply_via_htmx_and_view_is_audited(client, login, make_resident, make_staff,
                                                    start_conversation):
    officer = make_staff("officer", wards=[ST_JAMES], name="Sam Patel", rank="Sergeant")
    conv = start_conversation(make_resident(ST_JAMES))
    login(client, officer)
    client.get(f"/officer/messages/{conv.id}")
    response = client.post(f"/officer/messages/{conv.id}", data={"body": "On it."}, headers=HTMX)
    assert response.status_code == 200 and "On it." in response.text
    assert "Sergeant Sam Patel" in response.text
    db.session.expire_all()
    assert conv.status == "answered" and conv.awaiting_since is None
    events = {(e.action, e.actor_id) for e in db.session.scalars(select(AuditEvent))}
    assert ("conversation.view", officer.id) in events
    assert ("message.reply", officer.id) in events


def _fill(conv, resident, officer, n):
    """Add ``n`` messages to ``conv`` quickly (alternating authors) and update the summary."""
    now = utcnow() - timedelta(days=1)
    rows = [{"conversation_id": conv.id, "author_id": (officer if i % 2 else resident).id,
             "from_officer": bool(i % 2), "body": f"Message number {i}",
             "created_at": now + timedelta(seconds=i)} for i in range(n)]
    db.session.execute(insert(Message), rows)
    newest = db.session.scalar(select(Message.id).where(Message.conversation_id == conv.id)
                               .order_by(Message.id.desc()).limit(1))
    conv = db.session.get(Conversation, conv.id)
    conv.last_message_id = newest
    db.session.commit()


def _setup_world(make_resident, make_staff, start_conversation, n_messages, n_conversations=3):
    officer = make_staff("officer", wards=[ST_JAMES])
    convs = []
    for i in range(n_conversations):
        resident = make_resident(ST_JAMES)
        conv = start_conversation(resident, subject=f"Topic {i}")
        _fill(conv, resident, officer, n_messages)
        convs.append(conv)
    return officer, convs


def _statements(count_queries, client, url):
    client.get(url)  # warm up (first-request work, template compilation)
    pagestore.clear()  # counted when rendered, not answered from the page stored for the session
    with count_queries() as counter:
        response = client.get(url)
    assert response.status_code == 200
    return counter.count, response


def test_conversation_of_1000_messages_same_queries_as_10_and_paginated(
        client, app, login, make_resident, make_staff, start_conversation, count_queries):
    officer, (small,) = _setup_world(make_resident, make_staff, start_conversation, 10, 1)
    login(client, officer)
    small_count, _ = _statements(count_queries, client, f"/officer/messages/{small.id}")
    resident = make_resident(ST_JAMES)
    big = start_conversation(resident, subject="Very long")
    _fill(big, resident, officer, 1000)
    big_count, response = _statements(count_queries, client, f"/officer/messages/{big.id}")
    assert big_count == small_count
    shown = re.findall(r'<li id="m(\d+)"', response.text)
    assert len(shown) == services.PAGE_SIZE
    assert "Message number 999" in response.text and "Message number 900" not in response.text
    assert "Show earlier messages" in response.text
    # The resident's page is bounded the same way, in messages shown and in queries.
    rc = app.test_client()
    login(rc, small.resident)
    resident_small, _ = _statements(count_queries, rc, f"/messages/{small.id}")
    login(rc, resident)
    resident_big, page = _statements(count_queries, rc, f"/messages/{big.id}")
    assert resident_big == resident_small
    assert len(re.findall(r'<li id="m(\d+)"', page.text)) == services.PAGE_SIZE
    # "Show earlier" pages back, by htmx and by plain link.
    oldest_shown = int(shown[0])
    earlier = client.get(f"/officer/messages/{big.id}/earlier?before={oldest_shown}", headers=HTMX)
    ids = [int(i) for i in re.findall(r'<li id="m(\d+)"', earlier.text)]
    assert len(ids) == services.PAGE_SIZE and max(ids) < oldest_shown
    assert ids == sorted(ids)
    assert "Show earlier messages" in earlier.text
    plain = client.get(f"/officer/messages/{big.id}/earlier?before={oldest_shown}")
    assert plain.status_code == 303 and f"?before={oldest_shown}" in plain.headers["Location"]
    back = client.get(plain.headers["Location"])
    assert "Back to the latest messages" in back.text


def test_inbox_queries_do_not_grow_with_messages_or_conversations(
        client, login, make_resident, make_staff, start_conversation, count_queries):
    officer, convs = _setup_world(make_resident, make_staff, start_conversation, 10, 3)
    login(client, officer)
    few, _ = _statements(count_queries, client, "/officer/inbox")
    for conv in convs:
        _fill(conv, conv.resident, officer, 1000)
    for i in range(30):
        start_conversation(make_resident(ST_JAMES), subject=f"More {i}")
    many, response = _statements(count_queries, client, "/officer/inbox")
    assert many == few
    assert response.text.count('class="unread"') == services.INBOX_PAGE_SIZE
    assert "page 1 of 2" in response.text


def test_inbox_pages_keep_the_status_filter(client, login, make_resident, make_staff,
                                            start_conversation, monkeypatch):
    monkeypatch.setattr(services, "INBOX_PAGE_SIZE", 1)
    officer = make_staff("officer", wards=[ST_JAMES])
    resident = make_resident(ST_JAMES)
    start_conversation(resident, subject="First waiting")
    start_conversation(resident, subject="Second waiting")
    login(client, officer)
    response = client.get("/officer/inbox?status=awaiting")
    assert response.status_code == 200
    assert re.search(r'href="/officer/inbox\?[^"]*status=awaiting[^"]*page=2"', response.text)
    second = client.get("/officer/inbox?status=awaiting&page=2")
    assert second.status_code == 200 and "Previous" in second.text


def test_inbox_pages_split_the_whole_order(app, make_resident, make_staff, start_conversation,
                                           reply):
    """services.inbox takes the page's ids first, then joins: pages still follow one order
    (awaiting oldest first, then latest activity), each conversation once."""
    officer = make_staff("officer", wards=[ST_JAMES])
    resident = make_resident(ST_JAMES)
    made = [start_conversation(resident, subject=f"Question {i}") for i in range(7)]
    for i, conv in enumerate(made):
        _age(conv, 10 + i * 3)
    for conv in made[:3]:
        reply(conv, officer)
    officer = db.session.merge(officer)
    everything, total = services.inbox(officer, per_page=100)
    pages = [services.inbox(officer, page=p, per_page=3)[0] for p in (1, 2, 3)]
    assert total == 7 and [len(p) for p in pages] == [3, 3, 1]
    ids = [row.conversation.id for page in pages for row in page]
    assert ids == [row.conversation.id for row in everything] and len(set(ids)) == 7
    assert [row.conversation.status for row in everything][:4] == ["awaiting"] * 4
    waiting = [row.conversation.awaiting_since for row in everything[:4]]
    assert waiting == sorted(waiting)


def test_officer_statements_kept_per_process_follow_team_changes(client, login, make_resident,
                                                                 make_staff, start_conversation):
    """An officer's inbox statements are built once per process (SQL only): a ward taken
    off their team, or given to it, changes the inbox and its ward filter at the next
    request."""
    from webapp.wards.models import Team
    from webapp.wards.services import get_ward
    officer = make_staff("officer", wards=[ST_JAMES])
    st_james, brixton = make_resident(ST_JAMES), make_resident(BRIXTON)
    start_conversation(st_james, subject="From St James's")
    start_conversation(brixton, subject="From Brixton")
    login(client, officer)
    page = client.get("/officer/inbox").text
    assert "From St James" in page and "From Brixton" not in page
    team = db.session.scalar(select(Team).where(Team.members.any(id=officer.id)))
    team.wards = [get_ward(BRIXTON)]
    db.session.commit()
    page = client.get("/officer/inbox").text
    assert "From Brixton" in page and "From St James" not in page
