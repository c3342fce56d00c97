"""A notification's identity is everything it says, to whom and on which occasion: two
different messages never share a row, the same message written twice is one row, and
personal messages belong to their reader alone."""
from __future__ import annotations

from sqlalchemy import func, select

from webapp.delivery import Event, notify
from webapp.delivery.models import Delivery, Notification
from webapp.delivery.services import notification_for
from webapp.delivery.worker import deliver_due
from webapp.extensions import db


def event(**kw):
    return Event(**{"kind": "reply", "source_type": "message", "source_id": 7,
                    "title": "Reply from your ward team", "body": "We will patrol tonight.",
                    "url": "/messages/3", "email_template": "threads/reply",
                    "email_context": {"conversation_subject": "Bikes", "officer": "PC Smith",
                                      "body": "We will patrol tonight.", "url": "/messages/3",
                                      "ward_name": "St James's", "resident_name": "Sam"},
                    **kw})


def _notifications():
    db.session.rollback()
    return list(db.session.scalars(select(Notification).order_by(Notification.id)))


def test_different_words_for_the_same_source_are_different_notifications(app, make_resident, mail):
    user = make_resident(email_address="sam@example.org")
    assert notify(user, event()) == 1
    changed = dict(event().email_context, body="Sorry, tonight's patrol is off.")
    assert notify(user, event(body="Sorry, tonight's patrol is off.", email_context=changed)) == 1
    db.session.commit()
    assert [n.body for n in _notifications()] == ["We will patrol tonight.",
                                                  "Sorry, tonight's patrol is off."]
    deliver_due()
    texts = sorted(m.get_body(preferencelist=("plain",)).get_content() for m in mail.wait_for(2))
    assert "patrol is off" in texts[0] and "patrol is off" not in texts[1]


def test_the_same_message_written_twice_is_one_notification(app, make_resident):
    user = make_resident()
    assert notify(user, event()) == 1
    # The same words again, even with the context's keys in another order: nothing new.
    reordered = dict(reversed(list(event().email_context.items())))
    assert notify(user, event(email_context=reordered)) == 0
    # The caller's occasion makes the same words a new telling (a second promotion).
    assert notify(user, event(occasion="second")) == 1
    assert notify(user, event(occasion="second")) == 0
    db.session.commit()
    assert len(_notifications()) == 2


def test_personal_notifications_are_per_recipient_and_go_with_the_account(app, make_resident):
    from webapp.accounts.services import delete_account
    sam, kim = make_resident(), make_resident()
    kim_id = kim.id
    notify(sam, event())
    notify(kim, event())
    db.session.commit()
    assert sorted(n.recipient_id for n in _notifications()) == sorted([sam.id, kim.id])
    delete_account(sam)
    db.session.commit()  # the view commits
    assert [n.recipient_id for n in _notifications()] == [kim_id]
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == 1
    # Nothing to send (email off, no device): no copy of the text is kept either.
    assert notify(make_resident(email_frequency="off"), event(title="Not for anyone")) == 0
    db.session.commit()
    assert [n.recipient_id for n in _notifications()] == [kim_id]


def test_a_broadcast_is_one_notification_for_its_whole_audience(app, make_resident):
    """Set-based fan-outs (alerts, invitations, the daily digest email) share one row: it
    holds nothing personal. Writing it again finds the same row."""
    alert = Event(kind="alert", source_type="alert", source_id=1, title="Phone thefts",
                  body="Keep phones out of sight.", url="/alerts/1", category="prevention")
    first = notification_for(alert)
    assert notification_for(alert) == first
    assert notification_for(Event(**{**alert.__dict__, "title": "Phone thefts (update)"})) != first
    db.session.commit()
    assert [n.recipient_id for n in _notifications()] == [None, None]
