"""Issue 12 part 3: the guard before a resident's message is sent (conversations, replies)."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.threads import services
from webapp.threads.models import Conversation, Message


def _ack(html: str) -> str:
    return re.search(r'name="guard_ack" value="([^"]+)"', html).group(1)


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_an_emergency_needs_a_second_press_and_shows_999(client, login, make_resident):
    resident = make_resident()
    login(client, resident)
    data = {"ward": str(resident.home_ward.id), "subject": "Now",
            "body": "Someone is being attacked outside my flat right now"}
    first = client.post("/messages", data=data)
    html = first.get_data(as_text=True)
    assert first.status_code == 422
    assert "If this is happening now, call" in html and 'href="tel:999"' in html
    marked = re.findall(r"<mark>([^<]*)</mark>", html)  # the matched words, shown
    assert "being attacked" in marked and any("right now" in m for m in marked)
    assert "Someone is being attacked outside my flat right now" in html  # text kept
    assert "Send anyway" in html
    assert _count(Conversation) == 0
    # A second press (the hidden field, no JavaScript) sends it.
    second = client.post("/messages", data=dict(data, guard_ack=_ack(html)))
    assert second.status_code == 303
    assert _count(Conversation) == 1


def test_changed_text_is_checked_again(client, login, make_resident):
    resident = make_resident()
    login(client, resident)
    data = {"ward": str(resident.home_ward.id), "subject": "Help", "body": "Please help, he has a knife"}
    ack = _ack(client.post("/messages", data=data).get_data(as_text=True))
    changed = client.post("/messages", data=dict(data, body="Please help, he has a gun", guard_ack=ack))
    assert changed.status_code == 422 and _count(Conversation) == 0


def test_a_report_like_reply_explains_101_and_offers_to_send_anyway_with_htmx(
        client, login, make_resident, make_staff):
    resident = make_resident()
    make_staff("officer", wards=[resident.home_ward.code])
    conversation = services.start_conversation(resident, resident.home_ward, "Bins", "When are bins collected?")
    db.session.commit()
    login(client, resident)
    data = {"body": "My car was broken into last night on Jermyn Street"}
    first = client.post(f"/messages/{conversation.id}", data=data, headers={"HX-Request": "true"})
    html = first.get_data(as_text=True)
    assert first.status_code == 422 and first.headers["HX-Retarget"] == "#reply-form"
    # Which warning it was, for a reply queued offline (reply-queue.js shows it).
    assert first.headers["X-Wardline-Guard"] == "report"
    plain = client.post(f"/messages/{conversation.id}", data=data)
    assert plain.status_code == 422 and plain.headers["X-Wardline-Guard"] == "report"
    assert "This sounds like a crime report" in html and 'href="tel:101"' in html
    assert "met.police.uk/ro/report" in html and "<mark>My car was broken into</mark>" in html
    assert _count(Message) == 1
    second = client.post(f"/messages/{conversation.id}", data=dict(data, guard_ack=_ack(html)),
                         headers={"HX-Request": "true"})
    assert second.status_code == 200 and _count(Message) == 2


def test_ordinary_messages_and_officers_are_not_interrupted(client, login, make_resident, make_staff):
    resident = make_resident()
    officer = make_staff("officer", wards=[resident.home_ward.code])
    login(client, resident)
    response = client.post("/messages", data={"ward": str(resident.home_ward.id), "subject": "Meeting",
                                              "body": "When is the next ward panel meeting?"})
    assert response.status_code == 303
    conversation = db.session.scalar(select(Conversation))
    login(client, officer)
    reply = client.post(f"/officer/messages/{conversation.id}",
                        data={"body": "If it is happening now, call 999. Help is at hand."})
    assert reply.status_code == 303 and _count(Message) == 2


def test_the_guard_checks_replies_to_alerts(client, login, make_resident, make_staff):
    from webapp.alerts.services import AlertInput, create_alert, resolve_target
    resident = make_resident()
    officer = make_staff("officer", wards=[resident.home_ward.code])
    alert = create_alert(officer, AlertInput(
        title="Appeal after a robbery", body="Did you see it?", category="appeals", channels=["email"],
        target=resolve_target(officer, "wards", [resident.home_ward.id])))
    login(client, resident)
    first = client.post(f"/alerts/{alert.id}/reply", data={"body": "He's got a knife, he's outside now, help!"})
    assert first.status_code == 422 and b'href="tel:999"' in first.data
    assert _count(Conversation) == 0
    ack = _ack(first.get_data(as_text=True))
    assert client.post(f"/alerts/{alert.id}/reply", data={
        "body": "He's got a knife, he's outside now, help!", "guard_ack": ack}).status_code == 303
    assert _count(Conversation) == 1
