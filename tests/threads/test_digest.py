"""Officers' digest of conversations awaiting reply: at most one an hour, only when
something new is waiting, sent through the outbox and the real SMTP server."""
from __future__ import annotations

from datetime import timedelta

from webapp.delivery.worker import deliver_due
from webapp.extensions import db
from webapp.threads import services
from webapp.platform.timeutil import utcnow

ST_JAMES = "E05013806"
BRIXTON = "E05014095"


def _to_officers(mail):
    return [m for m in mail.messages if m["To"].endswith("@police.example")]


def _text(msg):
    return msg.get_body(preferencelist=("plain",)).get_content()


def test_one_digest_per_hour_listing_awaiting_conversations(app, make_resident, make_staff,
                                                            start_conversation, reply, mail):
    officer = make_staff("officer", wards=[ST_JAMES], email_address="jane@police.example")
    make_staff("officer", wards=[BRIXTON], email_address="other@police.example")
    resident = make_resident(ST_JAMES)
    resident_id = resident.id
    start_conversation(resident, subject="Noise on the estate")
    start_conversation(resident, subject="Parked cars on the corner")
    reply(start_conversation(resident, subject="Already answered"), officer)
    now = utcnow() + timedelta(minutes=1)
    assert services.send_officer_digests(now) == 1
    assert services.send_officer_digests(now) == 0  # idempotent: a second run sends nothing
    deliver_due(now=now + timedelta(seconds=1))
    mail.wait_for(2)  # the resident's reply email and the digest
    digests = _to_officers(mail)
    assert len(digests) == 1
    msg = digests[0]
    assert msg["To"] == "jane@police.example"
    body = _text(msg)
    assert "Noise on the estate" in body and "Parked cars on the corner" in body
    assert "Already answered" not in body
    assert "/officer/inbox" in body
    # More messages within the hour: still no second email, never one per message.
    # Fetch again: the worker may detach what this session had loaded.
    from webapp.accounts.models import User
    resident = db.session.get(User, resident_id)
    for i in range(3):
        services.start_conversation(resident, resident.home_ward, f"Later topic {i}", "More",
                                    now=now + timedelta(minutes=10 + i))
        db.session.commit()
    assert services.send_officer_digests(now + timedelta(minutes=30)) == 0
    # After an hour, the new ones bring one more digest.
    assert services.send_officer_digests(now + timedelta(minutes=61)) == 1
    # Nothing new since: no reminder every hour about the same conversations.
    assert services.send_officer_digests(now + timedelta(hours=3)) == 0
    deliver_due(now=now + timedelta(hours=3))
    mail.wait_for(3)
    assert [m["To"] for m in _to_officers(mail)] == ["jane@police.example"] * 2


def test_no_digest_when_nothing_awaits(app, make_resident, make_staff, start_conversation, reply, mail):
    officer = make_staff("officer", wards=[ST_JAMES], email_address="jane@police.example")
    reply(start_conversation(make_resident(ST_JAMES)), officer)
    assert services.send_officer_digests(utcnow() + timedelta(minutes=1)) == 0
    deliver_due()
    assert [m for m in mail.messages if m["To"] == "jane@police.example"] == []


def test_digest_tick_is_registered():
    from webapp.delivery.scheduler import TICKS, resolve
    paths = dict(TICKS)
    assert "webapp.threads.services:send_officer_digests" in paths
    assert resolve("webapp.threads.services:send_officer_digests") is services.send_officer_digests
