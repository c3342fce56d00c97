"""Issue 13 point 17: publishing a resident's question to the ward tells them (by email, with
the time until which they may withdraw it), and lets them withdraw it within a day."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from webapp.delivery.worker import deliver_due
from webapp.extensions import db
from webapp.posts import WardPost
from webapp.threads.models import PublishedQuestion
from webapp.platform.timeutil import utcnow

ST_JAMES = "E05013806"


def _publish(client, login, officer, conv):
    login(client, officer)
    return client.post(f"/officer/messages/{conv.id}/publish", data={
        "title": "E-scooters on Acre Lane", "question": "Are e-scooters legal?",
        "answer": "Private e-scooters are not legal on public roads."})


def test_resident_is_told_and_can_withdraw_within_a_day(client, app, login, make_resident, make_staff,
                                                        start_conversation, reply, mail):
    resident = make_resident(ST_JAMES, name="Priya Sharma", email_address="priya@example.org")
    officer = make_staff("officer", wards=[ST_JAMES])
    conv = start_conversation(resident)
    reply(conv, officer)
    deliver_due()
    mail.clear()
    assert _publish(client, login, officer, conv).status_code == 303
    post = db.session.scalar(select(WardPost))
    deliver_due()
    [message] = mail.wait_for(1)
    assert message["To"] == "priya@example.org"
    assert "ward page" in message["Subject"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Your name is not shown" in text and "E-scooters on Acre Lane" in text
    assert "withdraw it until" in text and f"/messages/{conv.id}" in text
    # The resident's conversation page offers to withdraw it.
    login(client, resident)
    page = client.get(f"/messages/{conv.id}").get_data(as_text=True)
    assert "Published to the ward page" in page and "Withdraw it from the ward page" in page
    action = f"/messages/{conv.id}/published/{post.id}/withdraw"
    assert f'action="{action}"' in page
    response = client.post(action)
    assert response.status_code == 303
    db.session.rollback()
    assert db.session.scalar(select(WardPost)) is None
    assert db.session.scalar(select(PublishedQuestion)) is None
    assert "no longer on the ward page" in client.get(f"/messages/{conv.id}").get_data(as_text=True)
    assert client.get(f"/wards/{ST_JAMES}/posts/{post.id}").status_code == 404


def test_after_a_day_it_can_no_longer_be_withdrawn(client, login, make_resident, make_staff,
                                                   start_conversation):
    resident = make_resident(ST_JAMES)
    officer = make_staff("officer", wards=[ST_JAMES])
    conv = start_conversation(resident)
    _publish(client, login, officer, conv)
    post = db.session.scalar(select(WardPost))
    link = db.session.scalar(select(PublishedQuestion))
    link.withdrawable_until = utcnow() - timedelta(minutes=1)
    db.session.commit()
    login(client, resident)
    page = client.get(f"/messages/{conv.id}").get_data(as_text=True)
    assert "Published to the ward page" in page and "Withdraw it from the ward page" not in page
    client.post(f"/messages/{conv.id}/published/{post.id}/withdraw")
    assert "It can no longer be withdrawn" in client.get(f"/messages/{conv.id}").get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(WardPost, post.id) is not None


def test_only_the_resident_who_asked_can_withdraw(client, login, make_resident, make_staff,
                                                 start_conversation):
    resident = make_resident(ST_JAMES)
    officer = make_staff("officer", wards=[ST_JAMES])
    conv = start_conversation(resident)
    _publish(client, login, officer, conv)
    post = db.session.scalar(select(WardPost))
    other = make_resident(ST_JAMES)
    other_conv = start_conversation(other)
    login(client, other)
    assert client.post(f"/messages/{conv.id}/published/{post.id}/withdraw").status_code == 404
    assert client.post(f"/messages/{other_conv.id}/published/{post.id}/withdraw").status_code == 404
    login(client, officer)
    assert client.post(f"/messages/{conv.id}/published/{post.id}/withdraw").status_code == 403
    db.session.rollback()
    assert db.session.get(WardPost, post.id) is not None
