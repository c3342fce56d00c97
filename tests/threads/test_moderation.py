"""Moderation: hiding a message (kept, marked), stopping a resident from messaging, and
the audit trail of officers' actions."""
from __future__ import annotations

from sqlalchemy import select

from webapp.platform.audit import AuditEvent
from webapp.extensions import db
from webapp.threads.models import Message, MessagingBlock

ST_JAMES = "E05013806"


def test_hidden_message_is_kept_marked_for_officers_and_removed_for_resident(
        client, app, login, make_resident, make_staff, start_conversation):
    resident = make_resident(ST_JAMES)
    officer = make_staff("officer", wards=[ST_JAMES])
    conv = start_conversation(resident, body="Abusive words here")
    message_id = conv.last_message_id
    login(client, officer)
    response = client.post(f"/officer/message/{message_id}/hide", data={"reason": "Abuse"})
    assert response.status_code == 303
    message = db.session.get(Message, message_id)
    db.session.refresh(message)
    assert message.body == "Abusive words here"  # kept for the record
    assert message.hidden_at is not None and message.hidden_by_id == officer.id
    officer_page = client.get(f"/officer/messages/{conv.id}").text
    assert "Abusive words here" in officer_page and "Hidden from the resident" in officer_page
    rc = app.test_client()
    login(rc, resident)
    resident_page = rc.get(f"/messages/{conv.id}").text
    assert "Abusive words here" not in resident_page
    assert "removed by a moderator" in resident_page
    # Polls never leak it either.
    poll = rc.get(f"/messages/{conv.id}/poll?after=0", headers={"HX-Request": "true"})
    assert "Abusive words here" not in poll.text
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "message.hide"))
    assert event.actor_id == officer.id and event.target_id == message_id and "Abuse" in event.detail
    # And it can be shown again.
    client.post(f"/officer/message/{message_id}/unhide")
    db.session.refresh(message)
    assert message.hidden_at is None


def test_blocked_resident_cannot_send_and_is_told_why(client, app, login, make_resident, make_staff,
                                                      start_conversation):
    resident = make_resident(ST_JAMES)
    officer = make_staff("officer", wards=[ST_JAMES])
    conv = start_conversation(resident)
    login(client, officer)
    assert client.post(f"/officer/messages/{conv.id}/block", data={"reason": ""}).status_code == 422
    response = client.post(f"/officer/messages/{conv.id}/block",
                           data={"reason": "Repeated abusive messages"})
    assert response.status_code == 303
    block = db.session.get(MessagingBlock, resident.id)
    assert block.reason == "Repeated abusive messages" and block.blocked_by_id == officer.id
    rc = app.test_client()
    login(rc, resident)
    page = rc.get(f"/messages/{conv.id}").text
    assert "You can no longer send messages" in page and "Repeated abusive messages" in page
    assert 'id="reply-form"' not in page
    before = db.session.query(Message).count()
    refused = rc.post(f"/messages/{conv.id}", data={"body": "Let me speak"})
    assert refused.status_code == 422 and "You can no longer send messages" in refused.text
    refused = rc.post("/messages", data={"ward": resident.home_ward.id, "subject": "New",
                                         "body": "Another try"})
    assert refused.status_code == 422
    assert db.session.query(Message).count() == before
    assert "You can no longer send messages" in rc.get("/messages").text
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert "resident.block" in actions
    # Lifting the block lets them write again.
    client.post(f"/officer/messages/{conv.id}/block", data={"lift": "1"})
    assert rc.post(f"/messages/{conv.id}", data={"body": "Thank you"}).status_code == 303


def test_audit_records_views_replies_hides_closes_and_publications(
        client, login, make_resident, make_staff, start_conversation):
    resident = make_resident(ST_JAMES)
    officer = make_staff("officer", wards=[ST_JAMES])
    conv = start_conversation(resident)
    login(client, officer)
    client.get(f"/officer/messages/{conv.id}")
    client.post(f"/officer/messages/{conv.id}", data={"body": "Reply"})
    client.post(f"/officer/message/{conv.last_message_id}/hide", data={"reason": ""})
    client.post(f"/officer/messages/{conv.id}/publish",
                data={"title": "Bikes", "question": "Are bikes allowed?", "answer": "No."})
    client.post(f"/officer/messages/{conv.id}/close")
    rows = db.session.execute(select(AuditEvent.action, AuditEvent.actor_id)).all()
    actions = {a for a, actor in rows if actor == officer.id}
    assert {"conversation.view", "message.reply", "message.hide", "ward_post.publish",
            "conversation.close"} <= actions


def test_hide_reason_over_the_limit_is_422_next_to_the_field_with_text_kept(
        client, login, make_resident, make_staff, start_conversation):
    conv = start_conversation(make_resident(ST_JAMES), body="Rude words")
    message_id = conv.last_message_id
    login(client, make_staff("officer", wards=[ST_JAMES]))
    reason = "Kept text " + "x" * 600
    response = client.post(f"/officer/message/{message_id}/hide", data={"reason": reason})
    assert response.status_code == 422
    assert f'id="hide-reason-{message_id}-error"' in response.text
    assert f'value="{reason}"' in response.text and "Rude words" in response.text
    assert db.session.get(Message, message_id).hidden_at is None
