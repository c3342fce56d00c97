"""Residents' side of conversations: start, continue, htmx appends, polling, idempotency,
validation, rate limits, reopening, and the reply email through the real SMTP server."""
from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import func, select

from tests.conftest import HTMX
from webapp.extensions import db
from webapp.threads.models import Conversation, Message

ST_JAMES = "E05013806"
BRIXTON = "E05014095"


def _message_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Message))


def test_start_conversation_plain_post_redirects_and_shows_message(client, make_resident, make_staff, login):
    resident = make_resident(ST_JAMES, name="Alex Resident")
    make_staff("officer", wards=[ST_JAMES])
    login(client, resident)
    page = client.get("/messages")
    assert page.status_code == 200
    assert "not for reporting crime" in page.text
    ward_id = resident.home_ward.id
    response = client.post("/messages", data={"ward": ward_id, "subject": "Noise at night",
                                               "body": "Loud parties on Fridays."})
    assert response.status_code == 303
    conv = db.session.scalar(select(Conversation))
    assert response.headers["Location"].endswith(f"/messages/{conv.id}")
    page = client.get(f"/messages/{conv.id}")
    assert "Loud parties on Fridays." in page.text
    assert "Alex Resident" in page.text
    assert "not for reporting crime" in page.text
    assert conv.status == "awaiting" and conv.awaiting_since is not None


def test_ward_select_limited_to_my_wards(client, make_resident, login):
    resident = make_resident(ST_JAMES, extra_wards=(BRIXTON,))
    login(client, resident)
    page = client.get("/messages")
    options = re.findall(r'<option[^>]*value="(\d+)"', page.text)
    assert sorted(int(o) for o in options) == sorted(w.id for w in resident.ward_list)
    from webapp.wards.services import get_ward
    other = get_ward("E05014100")  # Clapham East: not one of theirs
    response = client.post("/messages", data={"ward": other.id, "subject": "Hi", "body": "Hello"})
    assert response.status_code == 422
    assert _message_count() == 0


def test_htmx_send_appends_and_plain_post_redirects(client, make_resident, login, start_conversation):
    resident = make_resident(ST_JAMES)
    conv = start_conversation(resident)
    login(client, resident)
    first_id = conv.last_message_id
    response = client.post(f"/messages/{conv.id}", data={"body": "Any news?", "after": first_id},
                           headers=HTMX)
    assert response.status_code == 200
    assert "Any news?" in response.text
    assert "<html" not in response.text
    assert 'id="poller"' in response.text and 'hx-swap-oob="true"' in response.text
    assert "Vary" in response.headers and "HX-Request" in response.headers["Vary"]
    response = client.post(f"/messages/{conv.id}", data={"body": "Plain post"})
    assert response.status_code == 303
    assert f"/messages/{conv.id}#m" in response.headers["Location"]
    assert _message_count() == 3


def test_reply_appears_on_next_poll_and_idle_poll_is_empty(client, make_resident, make_staff, login,
                                                         start_conversation, reply):
    resident = make_resident(ST_JAMES)
    officer = make_staff("officer", wards=[ST_JAMES], name="Jane Smith", rank="PC", shoulder_number="1234")
    conv = start_conversation(resident)
    login(client, resident)
    page = client.get(f"/messages/{conv.id}")
    last = conv.last_message_id
    assert f'/messages/{conv.id}/poll?after={last}' in page.text
    assert 'hx-trigger="every 10s"' in page.text
    idle = client.get(f"/messages/{conv.id}/poll?after={last}", headers=HTMX)
    assert idle.status_code == 204 and idle.data == b""
    msg = reply(conv, officer, "We have spoken to the cyclists.")
    fresh = client.get(f"/messages/{conv.id}/poll?after={last}", headers=HTMX)
    assert fresh.status_code == 200
    assert "We have spoken to the cyclists." in fresh.text
    assert "PC Jane Smith (1234)" in fresh.text
    assert f"after={msg.id}" in fresh.text  # the poller moves on
    again = client.get(f"/messages/{conv.id}/poll?after={msg.id}", headers=HTMX)
    assert again.status_code == 204 and again.data == b""


def test_idle_poll_costs_one_query(client, make_resident, login, start_conversation, count_queries):
    resident = make_resident(ST_JAMES)
    conv = start_conversation(resident)
    login(client, resident)
    client.get(f"/messages/{conv.id}/poll?after={conv.last_message_id}")  # warm up
    with count_queries() as counter:
        response = client.get(f"/messages/{conv.id}/poll?after={conv.last_message_id}", headers=HTMX)
    assert response.status_code == 204
    # Besides (perhaps) loading the signed-in user: one query for the newest message id.
    others = [s for s in counter.statements if "FROM users" not in s]
    assert len(others) == 1, counter.statements
    assert "messages" not in others[0].split("FROM", 1)[1]


def test_messages_show_oldest_first_with_london_times(client, make_resident, make_staff, login,
                                                     start_conversation, reply):
    from datetime import datetime
    resident = make_resident(ST_JAMES)
    officer = make_staff("officer", wards=[ST_JAMES])
    conv = start_conversation(resident, body="First message")
    reply(conv, officer, "Second message")
    # A summer time (BST) timestamp: 11:30 UTC is 12:30 in London.
    db.session.execute(Message.__table__.update().where(Message.body == "First message")
                       .values(created_at=datetime(2026, 7, 1, 11, 30)))
    db.session.commit()
    login(client, resident)
    page = client.get(f"/messages/{conv.id}").text
    assert page.index("First message") < page.index("Second message")
    assert "1 Jul 2026, 12:30" in page


@pytest.mark.parametrize("body, expected", [
    ("", 422), ("   \n  ", 422), ("x" * 2001, 422), ("x" * 2000, 303),
])
def test_message_length_limits(client, make_resident, login, start_conversation, body, expected):
    resident = make_resident(ST_JAMES)
    conv = start_conversation(resident)
    login(client, resident)
    before = _message_count()
    response = client.post(f"/messages/{conv.id}", data={"body": body})
    assert response.status_code == expected
    assert _message_count() == before + (1 if expected == 303 else 0)
    if expected == 422:
        assert "message" in response.text.lower()


def test_oversized_message_htmx_gets_form_with_error(client, make_resident, login, start_conversation):
    resident = make_resident(ST_JAMES)
    conv = start_conversation(resident)
    login(client, resident)
    response = client.post(f"/messages/{conv.id}", data={"body": "y" * 5000}, headers=HTMX)
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#reply-form"
    assert "2,000 characters or fewer" in response.text


@pytest.mark.parametrize("subject, body", [
    ("", "Hello"), ("S" * 121, "Hello"), ("Subject", ""), ("Subject", "b" * 2001),
])
def test_new_conversation_validation(client, make_resident, login, subject, body):
    resident = make_resident(ST_JAMES)
    login(client, resident)
    response = client.post("/messages", data={"ward": resident.home_ward.id, "subject": subject,
                                              "body": body})
    assert response.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(Conversation)) == 0


def test_script_is_escaped_never_run(client, make_resident, make_staff, login, start_conversation):
    resident = make_resident(ST_JAMES)
    officer = make_staff("officer", wards=[ST_JAMES])
    conv = start_conversation(resident, subject="<b>bold</b>", body="<script>alert('x')</script>")
    login(client, resident)
    page = client.get(f"/messages/{conv.id}").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(" in page
    assert "<b>bold</b>" not in page
    login(client, officer)
    page = client.get(f"/officer/messages/{conv.id}").text
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_junk_ids_and_params_never_500(client, make_resident, login, start_conversation):
    resident = make_resident(ST_JAMES)
    conv = start_conversation(resident)
    login(client, resident)
    assert client.get(f"/messages/{conv.id}/poll?after=abc").status_code in (200, 204)
    assert client.get(f"/messages/{conv.id}/poll?after=-5").status_code in (200, 204)
    assert client.get(f"/messages/{conv.id}?before=zzz").status_code == 200
    assert client.get("/messages/99999999").status_code == 404
    assert client.post("/messages", data={"ward": "not-a-number", "subject": "a", "body": "b"}).status_code == 422


def test_idempotency_key_same_key_twice_one_message(client, make_resident, login, start_conversation):
    resident = make_resident(ST_JAMES)
    conv = start_conversation(resident)
    login(client, resident)
    before = _message_count()
    for _ in range(2):
        response = client.post(f"/messages/{conv.id}", data={"body": "Offline message",
                                                              "idempotency_key": "k-123"})
        assert response.status_code == 303
    assert _message_count() == before + 1
    # The header works too, and a different key is a different message.
    for _ in range(2):
        client.post(f"/messages/{conv.id}", data={"body": "Via header"},
                    headers={"Idempotency-Key": "hdr-1", **HTMX})
    assert _message_count() == before + 2
    client.post(f"/messages/{conv.id}", data={"body": "Offline message", "idempotency_key": "k-124"})
    assert _message_count() == before + 3


def test_idempotency_key_on_new_conversation(client, make_resident, login):
    resident = make_resident(ST_JAMES)
    login(client, resident)
    data = {"ward": resident.home_ward.id, "subject": "Once", "body": "Only once",
            "idempotency_key": "new-1"}
    first = client.post("/messages", data=data)
    second = client.post("/messages", data=data)
    assert first.headers["Location"] == second.headers["Location"]
    assert db.session.scalar(select(func.count()).select_from(Conversation)) == 1
    assert _message_count() == 1


def test_resident_writing_again_reopens_closed_conversation(client, make_resident, make_staff, login,
                                                            start_conversation, reply):
    from webapp.threads import services
    resident = make_resident(ST_JAMES)
    officer = make_staff("officer", wards=[ST_JAMES])
    conv = start_conversation(resident)
    reply(conv, officer)
    conv = db.session.get(Conversation, conv.id)
    services.close_conversation(conv, officer)
    db.session.commit()
    login(client, resident)
    assert "closed this conversation" in client.get(f"/messages/{conv.id}").text
    client.post(f"/messages/{conv.id}", data={"body": "It happened again"})
    db.session.expire_all()
    conv = db.session.get(Conversation, conv.id)
    assert conv.status == "awaiting" and conv.closed_at is None and conv.awaiting_since is not None


def test_residents_are_rate_limited(client, make_resident, login, start_conversation):
    resident = make_resident(ST_JAMES)
    conv = start_conversation(resident)
    login(client, resident)
    codes = [client.post(f"/messages/{conv.id}", data={"body": f"message {i}"}).status_code
             for i in range(11)]
    assert codes[:10] == [303] * 10
    assert codes[10] == 429
    # Another resident is not affected.
    other = make_resident(ST_JAMES)
    conv2 = start_conversation(other)
    other_client = client.application.test_client()
    login(other_client, other)
    assert other_client.post(f"/messages/{conv2.id}", data={"body": "hi"}).status_code == 303


def test_officers_are_not_rate_limited(client, make_resident, make_staff, login, start_conversation):
    resident = make_resident(ST_JAMES)
    officer = make_staff("officer", wards=[ST_JAMES])
    conv = start_conversation(resident)
    login(client, officer)
    codes = {client.post(f"/officer/messages/{conv.id}", data={"body": f"reply {i}"}).status_code
             for i in range(12)}
    assert codes == {303}


def test_reply_email_sent_through_smtp(client, make_resident, make_staff, login, start_conversation, mail):
    from webapp.delivery.worker import deliver_due
    resident = make_resident(ST_JAMES, email_address="alex@example.org", name="Alex")
    officer = make_staff("officer", wards=[ST_JAMES], name="Jane Smith", shoulder_number="1234")
    conv = start_conversation(resident, subject="Bikes")
    login(client, officer)
    client.post(f"/officer/messages/{conv.id}", data={"body": "We will patrol on Friday."})
    deliver_due()
    messages = mail.wait_for(1)
    assert len(messages) == 1
    msg = messages[0]
    assert msg["To"] == "alex@example.org"
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "We will patrol on Friday." in text
    assert f"/messages/{conv.id}" in text
    assert "PC Jane Smith (1234)" in text


def test_no_reply_email_when_resident_turned_email_off(client, make_resident, make_staff, login,
                                                       start_conversation, mail):
    from webapp.delivery.worker import deliver_due
    resident = make_resident(ST_JAMES, email_frequency="off")
    officer = make_staff("officer", wards=[ST_JAMES])
    conv = start_conversation(resident)
    login(client, officer)
    client.post(f"/officer/messages/{conv.id}", data={"body": "Reply"})
    deliver_due()
    assert mail.messages == []


def test_resident_messages_do_not_email_anyone(client, make_resident, make_staff, login, start_conversation, mail):
    from webapp.delivery.worker import deliver_due
    resident = make_resident(ST_JAMES)
    make_staff("officer", wards=[ST_JAMES])
    conv = start_conversation(resident)
    login(client, resident)
    client.post(f"/messages/{conv.id}", data={"body": "More detail"})
    deliver_due()
    assert mail.messages == []  # officers get the hourly digest instead


def test_two_officers_replying_at_once_both_land(app, make_resident, make_staff, login,
                                                 start_conversation):
    """Two officers, two browsers (separate sessions, separate threads), one moment."""
    resident = make_resident(ST_JAMES)
    first = make_staff("officer", wards=[ST_JAMES])
    second = make_staff("officer", team=first.teams[0])
    conv = start_conversation(resident)
    clients = []
    for officer in (first, second):
        c = app.test_client()
        login(c, officer)
        c.csrf = c.csrf_token()
        clients.append(c)
    barrier = threading.Barrier(2)
    results = []

    def send(c, text):
        try:
            with app.app_context():  # its own context, so its own database session
                barrier.wait(timeout=5)
                response = c.post(f"/officer/messages/{conv.id}", data={"body": text},
                                  headers={"X-CSRFToken": c.csrf})
                results.append(response.status_code)
                db.session.remove()
        except Exception as exc:  # reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=send, args=(c, f"Reply {n}")) for n, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == [303, 303]
    db.session.rollback()  # end this test's read snapshot (SQLite WAL) to see their commits
    bodies = set(db.session.scalars(select(Message.body).where(Message.conversation_id == conv.id)))
    assert {"Reply 0", "Reply 1"} <= bodies
    conv = db.session.get(Conversation, conv.id)
    newest = db.session.scalar(select(func.max(Message.id)).where(Message.conversation_id == conv.id))
    assert conv.last_message_id == newest
    assert conv.status == "answered"


def test_rate_limited_htmx_send_says_so_in_the_form(client, make_resident, login, start_conversation):
    resident = make_resident(ST_JAMES)
    conv = start_conversation(resident)
    login(client, resident)
    for i in range(10):
        assert client.post(f"/messages/{conv.id}", data={"body": f"m{i}"}, headers=HTMX).status_code == 200
    before = _message_count()
    response = client.post(f"/messages/{conv.id}", data={"body": "one too many"}, headers=HTMX)
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#send-status"
    assert "too quickly" in response.text
    assert _message_count() == before


def test_reply_queues_email_and_push_in_the_same_transaction(client, make_resident, make_staff, login,
                                                             start_conversation):
    """notify() writes outbox rows with the reply: one email and one push per device,
    tagged per conversation so newer replies replace older notifications."""
    from webapp.delivery.models import Delivery, Notification, PushSubscription
    resident = make_resident(ST_JAMES)
    officer = make_staff("officer", wards=[ST_JAMES])
    db.session.add(PushSubscription(user_id=resident.id, endpoint="https://push.example/abc",
                                    p256dh="p" * 20, auth="a" * 10))
    db.session.commit()
    conv = start_conversation(resident)
    login(client, officer)
    client.post(f"/officer/messages/{conv.id}", data={"body": "On our way."})
    note = db.session.scalar(select(Notification))
    assert note.kind == "reply" and note.url == f"/messages/{conv.id}"
    assert note.tag == f"conversation-{conv.id}"
    channels = sorted(d.channel for d in db.session.scalars(select(Delivery)))
    assert channels == ["email", "push"]


@pytest.mark.parametrize("body", ["", "z" * 2001, "<script>alert(1)</script>"])
@pytest.mark.parametrize("htmx", [False, True])
def test_officer_reply_validation_never_500(client, make_resident, make_staff, login,
                                            start_conversation, body, htmx):
    conv = start_conversation(make_resident(ST_JAMES))
    login(client, make_staff("officer", wards=[ST_JAMES]))
    response = client.post(f"/officer/messages/{conv.id}", data={"body": body},
                           headers=HTMX if htmx else {})
    if body.startswith("<script>"):
        assert response.status_code == (200 if htmx else 303)
        page = client.get(f"/officer/messages/{conv.id}").text
        assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    else:
        assert response.status_code == 422
        assert "Enter your message" in response.text or "2,000 characters" in response.text


def test_reply_email_with_a_line_break_and_markup_in_the_subject(client, make_resident, make_staff,
                                                                 login, mail):
    """A crafted subject (CR/LF, a header, markup) is one harmless Subject line and escaped
    HTML: the email still goes, to the resident only."""
    from webapp.delivery.worker import deliver_due
    resident = make_resident(ST_JAMES, email_address="sam@example.org")
    officer = make_staff("officer", wards=[ST_JAMES])
    login(client, resident)
    assert client.post("/messages", data={"ward": resident.home_ward.id, "body": "Hello",
                                          "subject": "Bikes\r\nBcc: evil@example.org <b>x</b>"}
                       ).status_code == 303
    conv = db.session.scalar(select(Conversation))
    login(client, officer)
    client.post(f"/officer/messages/{conv.id}", data={"body": "Noted <script>x</script>"})
    deliver_due()
    msg = mail.wait_for(1)[0]
    assert msg["To"] == "sam@example.org" and msg["Bcc"] is None
    assert "\n" not in msg["Subject"] and "Bikes Bcc: evil@example.org" in msg["Subject"]
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html
    assert "<b>x</b>" not in html
