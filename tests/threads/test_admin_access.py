"""Issue 9, point 10: admins read conversations outside their teams only after an explicit,
audited, time-limited "view as admin" step (a POST with a reason)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from webapp.platform.audit import AuditEvent
from webapp.extensions import db
from webapp.threads.models import ConversationAccess, Message
from webapp.platform.timeutil import utcnow


def test_admin_needs_an_audited_reason_and_access_expires(client, login, make_resident,
                                                          make_staff, start_conversation):
    resident = make_resident()
    conv = start_conversation(resident, subject="Private subject about my neighbour")
    admin = make_staff("admin")
    login(client, admin)

    # Without the step: not in the inbox, the page asks for a reason, the POSTs are refused.
    inbox = client.get("/officer/inbox").get_data(as_text=True)
    assert "Private subject" not in inbox and "View all conversations as admin" in inbox
    page = client.get(f"/officer/messages/{conv.id}")
    assert page.status_code == 303 and "/officer/inbox/admin-access" in page.headers["Location"]
    for url in (f"/officer/messages/{conv.id}", f"/officer/messages/{conv.id}/close",
                f"/officer/messages/{conv.id}/poll"):
        method = client.get if url.endswith("poll") else client.post
        assert method(url, data={"body": "Reply from an admin"}).status_code == 404, url
    assert db.session.scalar(select(func.count()).select_from(Message)) == 1

    # A reason is required (422 next to the field, nothing granted).
    response = client.post("/officer/inbox/admin-access", data={"reason": "why"})
    assert response.status_code == 422 and "10 to 500 characters" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ConversationAccess)) == 0

    reason = "Complaint 123 escalated to me by the borough commander"
    response = client.post(f"/officer/inbox/admin-access?next=/officer/messages/{conv.id}",
                           data={"reason": reason})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/officer/messages/{conv.id}")
    event = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "conversation.admin_access"))
    assert event.actor_id == admin.id and reason in event.detail
    assert client.get(f"/officer/messages/{conv.id}").status_code == 200
    assert "Private subject" in client.get("/officer/inbox").get_data(as_text=True)

    # Time-limited: once expired, refused again.
    db.session.execute(update(ConversationAccess).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert client.get(f"/officer/messages/{conv.id}").status_code == 303
    assert "Private subject" not in client.get("/officer/inbox").get_data(as_text=True)

    # Ending early works too, and is audited.
    client.post("/officer/inbox/admin-access", data={"reason": reason})
    assert client.get(f"/officer/messages/{conv.id}").status_code == 200
    assert client.post("/officer/inbox/admin-access/end").status_code == 303
    assert client.get(f"/officer/messages/{conv.id}").status_code == 303
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "conversation.admin_access_end")) == 1


def test_an_admin_in_a_team_sees_that_teams_conversations_without_the_step(
        client, login, make_resident, make_staff, start_conversation):
    resident = make_resident("E05013806")
    conv = start_conversation(resident)
    officer = make_staff("officer", wards=["E05013806"])
    admin = make_staff("admin", team=officer.teams[0])
    login(client, admin)
    assert client.get(f"/officer/messages/{conv.id}").status_code == 200


def test_access_lasts_the_configured_minutes(app, client, login, make_staff):
    admin = make_staff("admin")
    login(client, admin)
    before = utcnow()
    client.post("/officer/inbox/admin-access", data={"reason": "Reviewing a complaint file"})
    access = db.session.get(ConversationAccess, admin.id)
    minutes = app.config["ADMIN_CONVERSATION_ACCESS_MINUTES"]
    assert minutes == 30
    assert before + timedelta(minutes=minutes) <= access.expires_at <= utcnow() + timedelta(minutes=minutes)


def test_dead_deliveries_page_does_not_show_conversation_text(client, login, make_resident,
                                                              make_staff):
    """The outbox page is no side door into conversations: a dead reply shows its kind."""
    from tests.support.world import REPLY, SUBJECT, build_world
    world = build_world(make_resident, make_staff)
    login(client, world.admin)
    client.post("/officer/inbox/admin-access/end")
    page = client.get("/admin/deliveries").get_data(as_text=True)
    assert "Reply from the ward team (words hidden)" in page
    assert SUBJECT not in page and REPLY not in page
