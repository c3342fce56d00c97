"""Issue 12 part 1: updates on an incident, who is told of them, following, the outcome."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from webapp.alerts.models import Alert
from webapp.alerts.services import AlertInput, create_alert, resolve_target
from webapp.delivery.models import Delivery, Notification, PushSubscription
from webapp.extensions import db
from webapp.incidents import services as incidents
from webapp.incidents.models import ConversationTag, Incident, IncidentFollow
from webapp.wards.services import get_ward

ST_JAMES = "E05013806"
HERNE_HILL = "E05014104"


def _device(user, n: int) -> PushSubscription:
    sub = PushSubscription(user_id=user.id, endpoint=f"https://fcm.googleapis.com/fcm/send/d{user.id}-{n}",
                           p256dh="p" * 87, auth="a" * 22)
    db.session.add(sub)
    db.session.commit()
    return sub


def _alert(officer, *, category="appeals", channels=("email", "push"), title="Appeal: witnesses to a robbery"):
    alert = create_alert(officer, AlertInput(
        title=title, body="Did you see anything?", category=category, channels=list(channels),
        target=resolve_target(officer, "wards", [get_ward(ST_JAMES).id])))
    return alert


def _update_rows(alert_id: int) -> set[tuple[int, str]]:
    """(user_id, channel) of every delivery of the alert's updates."""
    rows = db.session.execute(
        select(Delivery.user_id, Delivery.channel)
        .join(Notification, Notification.id == Delivery.notification_id)
        .where(Notification.kind == "alert_update",
               Notification.url.like(f"/alerts/{alert_id}#%"))).all()
    return {(r.user_id, r.channel) for r in rows}


@pytest.fixture
def people(make_resident, make_staff):
    officer = make_staff("officer", wards=[ST_JAMES], name="Jane Morgan")
    p = {
        "officer": officer,
        # received the alert by email now, and push on one device
        "email": make_resident(ST_JAMES),
        "digest": make_resident(ST_JAMES, email_frequency="digest"),
        "push_only": make_resident(ST_JAMES, email_frequency="off"),
        # received it, then stopped following
        "stopped": make_resident(ST_JAMES),
        # did not choose appeals: not a receiver; one follows, one does not
        "follower": make_resident(ST_JAMES, categories=("prevention",)),
        "follower_digest": make_resident(HERNE_HILL, email_frequency="digest"),
        "bystander": make_resident(ST_JAMES, categories=("prevention",)),
        "elsewhere": make_resident(HERNE_HILL),
    }
    _device(p["email"], 1)
    _device(p["push_only"], 1)
    _device(p["follower"], 1)
    _device(p["follower"], 2)
    _device(p["bystander"], 1)
    return p


def test_receivers_are_told_by_their_channel_followers_by_preference_and_no_one_else(people):
    p = people
    alert = _alert(p["officer"])
    incidents.set_following(p["follower"], alert, True)
    incidents.set_following(p["follower_digest"], alert, True)
    incidents.set_following(p["stopped"], alert, False)
    db.session.commit()

    incidents.add_update(p["officer"], alert, incidents.UpdateInput(body="Update, 14:10: the road has reopened."))
    db.session.commit()
    rows = _update_rows(alert.id)
    assert rows == {
        (p["email"].id, "email"), (p["email"].id, "push"),
        (p["digest"].id, "digest"),
        (p["push_only"].id, "push"),
        (p["follower"].id, "email"), (p["follower"].id, "push"),
        (p["follower_digest"].id, "digest"),
    }
    # Two devices, two push rows for the follower.
    pushes = db.session.scalars(select(Delivery.device_id).join(Delivery.notification).where(
        Notification.kind == "alert_update", Delivery.user_id == p["follower"].id,
        Delivery.channel == "push")).all()
    assert len(pushes) == 2
    told = {u for u, _ in rows}
    assert not told & {p["stopped"].id, p["bystander"].id, p["elsewhere"].id}


def test_an_urgent_update_skips_the_digest_and_email_off_means_no_email(people):
    p = people
    alert = _alert(p["officer"])
    incidents.set_following(p["follower_digest"], alert, True)
    db.session.commit()
    p["email"].email_frequency = "off"  # changed their mind since the alert
    db.session.commit()
    incidents.add_update(p["officer"], alert, incidents.UpdateInput(
        body="Urgent: avoid Jermyn Street, police are searching the area.", urgent=True))
    db.session.commit()
    rows = _update_rows(alert.id)
    assert (p["digest"].id, "email") in rows and (p["digest"].id, "digest") not in rows
    assert (p["follower_digest"].id, "email") in rows
    assert (p["email"].id, "email") not in rows and (p["email"].id, "push") in rows
    notification = db.session.scalar(select(Notification).where(Notification.kind == "alert_update"))
    assert notification.urgent and notification.url == f"/alerts/{alert.id}#update-{incidents.updates_for(alert)[0].id}"


def test_each_update_is_its_own_message_and_the_digest_gathers_them(people, mail):
    from datetime import datetime, timedelta

    from webapp.delivery.digest import send_digests
    from webapp.delivery.worker import deliver_due
    from webapp.platform.timeutil import london_to_utc
    p = people
    alert = _alert(p["officer"])
    for text in ("First update.", "Second update."):
        incidents.add_update(p["officer"], alert, incidents.UpdateInput(body=text))
        db.session.commit()
    digest_rows = db.session.scalars(select(Delivery).join(Delivery.notification).where(
        Notification.kind == "alert_update", Delivery.user_id == p["digest"].id)).all()
    assert [d.channel for d in digest_rows] == ["digest", "digest"]
    assert len(incidents.updates_for(alert)) == 2
    assert incidents.updates_for(alert)[0].body == "Second update."  # newest first
    day = london_to_utc(datetime(2026, 6, 1, 12))
    db.session.execute(Delivery.__table__.update().values(created_at=day, next_attempt_at=day))
    db.session.commit()
    seven = london_to_utc(datetime(2026, 6, 2, 7, 0))
    assert send_digests(now=seven) >= 1
    deliver_due(now=seven + timedelta(minutes=1))
    digest = next(m for m in mail.wait_for(1) if m["To"] == p["digest"].email)
    text = digest.get_body(("plain",)).get_content()
    assert "First update." in text and "Second update." in text


def test_follow_and_stop_following_on_the_page_with_and_without_htmx(client, login, people):
    p = people
    alert = _alert(p["officer"], category="prevention")  # the follower did choose this: a receiver
    resident = p["bystander"]
    page = client.get(f"/alerts/{alert.id}")
    assert b"to follow this incident" in page.data  # a visitor is asked to sign in
    login(client, p["elsewhere"])
    assert b"Follow this" in client.get(f"/alerts/{alert.id}").data
    login(client, resident)
    assert b"Stop following" in client.get(f"/alerts/{alert.id}").data  # received it: told
    response = client.post(f"/alerts/{alert.id}/unfollow")
    assert response.status_code == 303
    assert db.session.get(IncidentFollow, (alert.id, resident.id)).following is False
    response = client.post(f"/alerts/{alert.id}/follow", headers={"HX-Request": "true"})
    assert response.status_code == 200 and b'id="follow"' in response.data
    assert b"Stop following" in response.data and b"<html" not in response.data
    db.session.expire_all()
    assert db.session.get(IncidentFollow, (alert.id, resident.id)).following is True
    # Settings lists what the resident follows, with a Stop following button.
    settings = client.get("/settings").get_data(as_text=True)
    assert "Incidents you follow" in settings and alert.title in settings
    # CSRF is required.
    assert client.post(f"/alerts/{alert.id}/unfollow", csrf=False).status_code == 400
    # Officers and visitors cannot follow.
    login(client, p["officer"])
    assert client.post(f"/alerts/{alert.id}/follow").status_code == 403


def test_the_update_email_has_a_signed_stop_following_link(app, client, people, mail):
    from webapp.delivery.worker import deliver_due
    p = people
    alert = _alert(p["officer"])
    incidents.add_update(p["officer"], alert, incidents.UpdateInput(body="A man has been arrested."))
    db.session.commit()
    deliver_due()
    mails = [m for m in mail.wait_for(1) if m["To"] == p["email"].email
             and "Update:" in str(m["Subject"])]
    assert mails
    text = mails[0].get_body(("plain",)).get_content()
    assert "A man has been arrested." in text
    link = re.search(r"Stop following it: (\S+)", text).group(1)
    path = link.split("://", 1)[1].split("/", 1)[1]
    page = client.get("/" + path)  # no sign-in; the GET changes nothing (link scanners)
    assert page.status_code == 200 and b"Stop following" in page.data
    assert db.session.get(IncidentFollow, (alert.id, p["email"].id)) is None
    assert client.post("/" + path).status_code == 200
    db.session.expire_all()
    assert db.session.get(IncidentFollow, (alert.id, p["email"].id)).following is False
    assert client.get("/incidents/stop/forged").status_code == 400
    # The next update does not reach them.
    incidents.add_update(p["officer"], alert, incidents.UpdateInput(body="Second update."))
    db.session.commit()
    second = db.session.scalar(select(Notification.id).where(Notification.body == "Second update."))
    assert not db.session.scalars(select(Delivery).where(
        Delivery.notification_id == second, Delivery.user_id == p["email"].id)).all()


def test_closing_with_an_outcome_sends_the_outcomes_alert_linked_to_the_incident(client, login, people, make_resident):
    p = people
    outcomes_only = make_resident(ST_JAMES, categories=("outcomes",))
    no_outcomes = make_resident(ST_JAMES, categories=("appeals",))
    alert = _alert(p["officer"])
    login(client, p["officer"])
    page = client.get(f"/officer/alerts/{alert.id}/updates")
    assert page.status_code == 200 and b"Send the update" in page.data
    response = client.post(f"/officer/alerts/{alert.id}/updates", data={
        "body": "A man has been charged with robbery.", "close": "outcome",
        "outcome_title": "Man charged after Jermyn Street robbery",
        "outcome_body": "Thank you to everyone who came forward."})
    assert response.status_code == 303
    db.session.expire_all()
    incident = db.session.get(Incident, alert.id)
    assert incident.state == "outcome"
    outcome = db.session.get(Alert, incident.outcome_alert_id)
    assert (outcome.category, outcome.state, outcome.title) == (
        "outcomes", "sent", "Man charged after Jermyn Street robbery")
    assert f"/alerts/{alert.id}" in outcome.body
    told = set(db.session.scalars(select(Delivery.user_id).join(Delivery.notification).where(
        Notification.source_type == "alert", Notification.source_id == outcome.id)))
    assert outcomes_only.id in told and no_outcomes.id not in told
    # The pages link both ways; the timeline shows the state.
    page = client.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert "Outcome" in page and outcome.title in page and "A man has been charged" in page
    assert f"/alerts/{alert.id}" in client.get(f"/alerts/{outcome.id}").get_data(as_text=True)
    # A closed incident takes no more updates.
    response = client.post(f"/officer/alerts/{alert.id}/updates", data={"body": "More."})
    assert response.status_code == 422
    from webapp.platform.audit import AuditEvent
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "incident.update"))


def test_update_form_limits_and_scope(client, login, people, make_staff):
    p = people
    alert = _alert(p["officer"])
    login(client, p["officer"])
    empty = client.post(f"/officer/alerts/{alert.id}/updates", data={"body": ""})
    assert empty.status_code == 422 and b"Write the update." in empty.data
    long = client.post(f"/officer/alerts/{alert.id}/updates", data={"body": "x" * 2001})
    assert long.status_code == 422 and b"x" * 2001 in long.data  # the text is kept
    no_title = client.post(f"/officer/alerts/{alert.id}/updates", data={"body": "Done", "close": "outcome"})
    assert no_title.status_code == 422 and b"Give the outcome alert a title." in no_title.data
    htmx = client.post(f"/officer/alerts/{alert.id}/updates", data={"body": ""},
                       headers={"HX-Request": "true"})
    assert htmx.status_code == 422 and b'id="update-form"' in htmx.data and b"<html" not in htmx.data
    assert client.post(f"/officer/alerts/{alert.id}/updates", data={"body": "x"}, csrf=False).status_code == 400
    other = make_staff("officer", wards=[HERNE_HILL])
    login(client, other)
    assert client.get(f"/officer/alerts/{alert.id}/updates").status_code == 404
    assert client.post(f"/officer/alerts/{alert.id}/updates", data={"body": "x"}).status_code == 404
    assert incidents.updates_for(alert) == []


def test_reply_to_an_alert_opens_a_tagged_conversation_shown_with_the_alert(client, login, people):
    from webapp.threads.models import Conversation
    p = people
    alert = _alert(p["officer"])
    login(client, p["email"])
    assert b"Reply to your ward team about this" in client.get(f"/alerts/{alert.id}").data
    form = client.get(f"/alerts/{alert.id}/reply")
    assert form.status_code == 200 and b"Re: Appeal: Appeal: witnesses" in form.data
    response = client.post(f"/alerts/{alert.id}/reply",
                           data={"body": "I saw a red moped speeding away towards Piccadilly."})
    assert response.status_code == 303
    conversation = db.session.scalar(select(Conversation).where(Conversation.resident_id == p["email"].id))
    assert conversation.subject == "Re: Appeal: Appeal: witnesses to a robbery"
    [tag] = db.session.scalars(select(ConversationTag).where(
        ConversationTag.conversation_id == conversation.id)).all()
    assert (tag.tag, tag.alert_id) == ("appeal_info", alert.id)
    assert response.location.endswith(f"/messages/{conversation.id}")
    login(client, p["officer"])
    page = client.get(f"/officer/messages/{conversation.id}").get_data(as_text=True)
    assert "Information offered on an appeal" in page and "In reply to the alert" in page
    assert "Did you see anything?" in page  # the alert beside it
    # A resident of another ward cannot reply to it.
    login(client, p["elsewhere"])
    assert client.post(f"/alerts/{alert.id}/reply", data={"body": "Hello"}).status_code == 403


def test_officer_one_tap_needs_reporting_reply_tags_the_conversation(client, login, people, make_staff):
    from webapp.threads import services as threads
    from webapp.threads.models import Message
    p = people
    conversation = threads.start_conversation(p["email"], get_ward(ST_JAMES), "Bike",
                                              "Someone took my bike from the rack")
    db.session.commit()
    login(client, p["officer"])
    page = client.get(f"/officer/messages/{conversation.id}")
    assert b"This needs reporting" in page.data
    response = client.post(f"/officer/messages/{conversation.id}/needs-reporting", data={"route": "crime"})
    assert response.status_code == 303
    reply = db.session.scalar(select(Message).where(Message.conversation_id == conversation.id,
                                                    Message.from_officer.is_(True)))
    assert "101" in reply.body and "met.police.uk/ro/report" in reply.body
    assert db.session.scalars(select(ConversationTag.tag).where(
        ConversationTag.conversation_id == conversation.id)).all() == ["needs_reporting"]
    assert "Needs reporting" in client.get("/officer/inbox").get_data(as_text=True)  # the inbox shows it
    # The resident is told of the reply like any other.
    assert db.session.scalars(select(Delivery).where(Delivery.user_id == p["email"].id)).all()
    assert client.post(f"/officer/messages/{conversation.id}/needs-reporting",
                       data={"route": "nonsense"}).status_code == 303
    login(client, make_staff("officer", wards=[HERNE_HILL]))
    assert client.post(f"/officer/messages/{conversation.id}/needs-reporting",
                       data={"route": "crime"}).status_code == 404


def test_follows_join_export_and_deletion(client, login, people):
    p = people
    alert = _alert(p["officer"])
    incidents.set_following(p["follower"], alert, True)
    db.session.commit()
    login(client, p["follower"])
    data = client.get("/settings/export").get_json()
    assert data["incident_follows"][0]["alert_id"] == alert.id
    from webapp.accounts.services import delete_account
    delete_account(p["follower"])
    db.session.commit()
    assert db.session.scalars(select(IncidentFollow)).all() == []


def test_the_timeline_is_rendered_once_for_everyone_and_shows_an_update_at_once(app, login, people):
    """The incident's timeline is the same for every reader: kept per alert (the page cache),
    so another resident's page runs neither its incident nor its updates statement, while
    their own standing (Follow this) is still theirs; a new update shows at the next page."""
    from tests.support.queries import QueryGuard
    p = people
    alert = _alert(p["officer"], category="prevention")
    incidents.add_update(p["officer"], alert, incidents.UpdateInput(body="Road reopened at 14:10."))
    db.session.commit()
    first, second = app.test_client(), app.test_client()
    login(first, p["bystander"])
    login(second, p["elsewhere"])
    assert "Road reopened at 14:10." in first.get(f"/alerts/{alert.id}").text
    with QueryGuard(app) as guard:
        db.session.remove()
        page = second.get(f"/alerts/{alert.id}").text
    assert "Road reopened at 14:10." in page and "Follow this" in page
    assert not [s for s in guard.statements if "FROM incident_updates" in s or "FROM incidents" in s]
    incidents.add_update(p["officer"], alert, incidents.UpdateInput(body="A man was arrested."))
    db.session.commit()
    db.session.remove()
    page = second.get(f"/alerts/{alert.id}").text
    assert "A man was arrested." in page and "Road reopened at 14:10." in page
