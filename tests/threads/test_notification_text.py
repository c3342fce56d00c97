"""Each notification of the threads domain says its own words to its own reader: the
officers' digests of two teams written on one tick, and replies (also when SQLite hands
out the id of a deleted message again)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from webapp.delivery.models import Delivery, Notification
from webapp.delivery.worker import deliver_due
from webapp.extensions import db
from webapp.threads import services
from webapp.platform.timeutil import utcnow

ST_JAMES = "E05013806"
BRIXTON = "E05014095"


def _text(msg):
    return msg.get_body(preferencelist=("plain",)).get_content()


def test_two_teams_officer_digests_on_the_same_tick_list_only_their_own_conversations(
        app, make_resident, make_staff, start_conversation, mail):
    """Both officers' first digest is their digest number 1: that number once named the
    notification, so the second officer was sent the first one's digest."""
    make_staff("officer", wards=[ST_JAMES], email_address="westminster@police.example")
    make_staff("officer", wards=[BRIXTON], email_address="lambeth@police.example", rank="PS")
    start_conversation(make_resident(ST_JAMES), subject="Scooters on Victoria Street")
    start_conversation(make_resident(BRIXTON), subject="Streetlight out on Acre Lane")
    start_conversation(make_resident(BRIXTON), subject="Shoplifting at the market")
    now = utcnow() + timedelta(minutes=1)
    assert services.send_officer_digests(now) == 2
    deliver_due(now=now + timedelta(seconds=1))
    digests = {m["To"]: m for m in mail.wait_for(2)}
    westminster, lambeth = (digests["westminster@police.example"],
                            digests["lambeth@police.example"])
    assert westminster["Subject"] == "1 conversation awaiting reply"
    assert "Scooters on Victoria Street" in _text(westminster)
    assert "Acre Lane" not in _text(westminster) and "Shoplifting" not in _text(westminster)
    assert lambeth["Subject"] == "2 conversations awaiting reply"
    assert "Streetlight out on Acre Lane" in _text(lambeth)
    assert "Shoplifting at the market" in _text(lambeth)
    assert "Scooters" not in _text(lambeth)
    # Each officer's digest is a notification of their own.
    db.session.rollback()
    rows = db.session.execute(select(Notification.recipient_id, Delivery.user_id)
                              .join(Delivery, Delivery.notification_id == Notification.id)
                              .where(Notification.kind == "officer_digest")).all()
    assert len(rows) == 2 and all(recipient == user for recipient, user in rows)


def test_two_replies_in_one_conversation_each_carry_their_own_text(
        app, make_resident, make_staff, start_conversation, reply, mail):
    """A reply's notification was named by its message id alone. SQLite gives a new row
    the id of a deleted last row, so after a resident deleted their account the next
    resident's reply was announced with the first resident's name and the officer's
    words to them. (PostgreSQL never reuses ids; the words and the reader are now part of
    the notification's identity on both.)"""
    from webapp.accounts.services import delete_account
    officer = make_staff("officer", wards=[ST_JAMES])
    earlier = make_resident(ST_JAMES, name="Alice Earlier")
    reply(start_conversation(earlier, subject="Dealing outside number 4"), officer,
          "Alice, we will knock at number 4 tonight.")
    delete_account(earlier)
    db.session.commit()  # the view commits
    resident = make_resident(ST_JAMES, name="Bob Later", email_address="bob@example.org")
    conversation = start_conversation(resident, subject="Bikes on the pavement")
    first = reply(conversation, officer, "First answer: we will patrol on Monday.")
    second = reply(conversation, officer, "Second answer: the patrol stopped two riders.")
    deliver_due()
    texts = [_text(m) for m in mail.wait_for(2)]
    assert [m["To"] for m in mail.messages] == ["bob@example.org"] * 2
    assert sorted("First answer" in t for t in texts) == [False, True]
    assert sorted("Second answer" in t for t in texts) == [False, True]
    for text in texts:
        assert "Bob Later" in text and "Bikes on the pavement" in text
        assert "Alice" not in text and "number 4" not in text
    db.session.rollback()
    notes = db.session.execute(
        select(Notification.source_id, Notification.body, Notification.recipient_id)
        .join(Delivery, Delivery.notification_id == Notification.id)
        .where(Delivery.user_id == resident.id, Delivery.channel == "email")
        .order_by(Notification.id)).all()
    assert [(n.source_id, n.body, n.recipient_id) for n in notes] == [
        (first.id, first.body, resident.id), (second.id, second.body, resident.id)]
    # The deleted resident's own notification went with their account.
    assert db.session.scalar(select(Notification.id).where(
        Notification.body.contains("number 4"))) is None
