"""The outbox: notify's channel rules, the worker (claims, leases, retries, dead rows),
email over real SMTP and web push to a loopback push service that decrypts and checks
VAPID."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from webapp.delivery import Event, notify
from webapp.delivery.models import Delivery, PushSubscription
from webapp.delivery.subscriptions import save_subscription, vapid_public_key
from webapp.delivery.worker import MIN_ATTEMPTS, claim, deliver_due
from webapp.extensions import db
from webapp.platform.timeutil import utcnow


def reply_event(n=1, **kw):
    return Event(**{"kind": "reply", "source_type": "message", "source_id": n,
                    "title": "PC Smith replied", "body": "Thanks, we will patrol tonight.",
                    "url": f"/messages/{n}", "tag": "conversation-1", **kw})


def alert_event(n=1, **kw):
    return Event(**{"kind": "alert", "source_type": "alert", "source_id": n,
                    "title": f"Alert {n}", "body": f"Body of alert {n}", "url": f"/alerts/{n}",
                    "category": "prevention", **kw})


def rows(**filters):
    return list(db.session.scalars(select(Delivery).filter_by(**filters).order_by(Delivery.id)))


def subscribe(user, push_service):
    agent = push_service.agent()
    save_subscription(user, agent.subscription, "Firefox")
    db.session.commit()
    return agent


def drain(now=None, rounds=10):
    total = {}
    for _ in range(rounds):
        result = deliver_due(now=now)
        for k, v in result.items():
            total[k] = total.get(k, 0) + v
        if not result["claimed"]:
            break
    return total


# --------------------------------------------------------------------------- notify rules
def test_notify_writes_email_and_one_push_per_device_idempotently(app, make_resident, push_service):
    user = make_resident()
    subscribe(user, push_service)
    subscribe(user, push_service)
    assert notify(user, reply_event()) == 3
    db.session.commit()
    assert notify(user, reply_event()) == 0  # same event again: nothing new
    db.session.commit()
    assert sorted(d.channel for d in rows()) == ["email", "push", "push"]
    assert len({d.device_id for d in rows(channel="push")}) == 2


@pytest.mark.parametrize("frequency,event,expected", [
    ("immediate", alert_event(), ["email"]),
    ("digest", alert_event(), ["digest"]),
    ("digest", alert_event(urgent=True), ["email"]),      # urgent skips the digest
    ("digest", reply_event(), ["email"]),                 # personal replies never wait
    ("off", reply_event(), []),
    ("off", alert_event(), []),
])
def test_notify_email_rules(app, make_resident, frequency, event, expected):
    user = make_resident(email_frequency=frequency)
    notify(user, event)
    db.session.commit()
    assert [d.channel for d in rows()] == expected


def test_notify_is_in_callers_transaction(app, make_resident):
    user = make_resident()
    notify(user, reply_event())
    db.session.rollback()
    assert rows() == []


# --------------------------------------------------------------------------- sending
def test_worker_sends_multipart_email_with_one_click_unsubscribe_and_push(
        app, make_resident, mail, push_service):
    users = [make_resident() for _ in range(3)]
    agents = [subscribe(u, push_service) for u in users]
    for u in users:
        notify(u, reply_event(title="PC Smith replied"))
    db.session.commit()
    result = deliver_due()
    assert result["sent"] == 6 and result["claimed"] == 6
    messages = mail.wait_for(3)
    assert mail.connections == 1  # one SMTP connection for the whole batch
    assert sorted(m["To"] for m in messages) == sorted(u.email for u in users)
    msg = messages[0]
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["List-Unsubscribe"].startswith("<http://wardline.test/unsubscribe/")
    assert "Thanks, we will patrol tonight." in msg.get_body(("plain",)).get_content()
    assert "Read it on Wardline" in msg.get_body(("html",)).get_content()
    # Push: decrypted with each device's private key; VAPID signature and claims verified.
    pushed = push_service.messages(expected_key=vapid_public_key())
    assert sorted(p["endpoint"] for p in pushed) == sorted(a.endpoint for a in agents)
    assert pushed[0]["payload"] == {"title": "PC Smith replied",
                                    "body": "Thanks, we will patrol tonight.",
                                    "url": "/messages/1", "tag": "conversation-1"}
    assert int(pushed[0]["headers"]["Ttl"]) > 0
    # One VAPID header for this push-service origin, reused for every message.
    assert len({p["headers"]["Authorization"] for p in pushed}) == 1
    assert {d.state for d in rows()} == {"sent"}
    assert all(s.last_success_at for s in db.session.scalars(select(PushSubscription)))
    assert deliver_due()["claimed"] == 0  # nothing is sent twice


def test_push_payload_stays_under_4kb(app, make_resident, push_service):
    user = make_resident(email_frequency="off")
    subscribe(user, push_service)
    notify(user, reply_event(title="T" * 200, body="word " * 1000))
    db.session.commit()
    deliver_due()
    [msg] = push_service.messages()
    assert len(push_service.received[0]["body"]) < 4096
    assert len(msg["payload"]["body"]) <= 240


def test_gone_subscription_is_removed(app, make_resident, push_service):
    user = make_resident(email_frequency="off")
    agent = subscribe(user, push_service)
    keep = subscribe(user, push_service)
    push_service.respond(agent, 410)
    notify(user, reply_event())
    db.session.commit()
    result = deliver_due()
    assert result["gone"] == 1 and result["sent"] == 1
    assert [s.endpoint for s in db.session.scalars(select(PushSubscription))] == [keep.endpoint]
    assert sorted(d.state for d in rows()) == ["gone", "sent"]


def test_rows_waiting_for_a_removed_device_go_without_a_request(app, make_resident,
                                                                push_service):
    """A device removed (410) while more rows wait for it: each is marked gone when a
    batch claims it, and the push service is not asked again."""
    user = make_resident(email_frequency="off")
    agent = subscribe(user, push_service)
    push_service.respond(agent, 410)
    notify(user, reply_event(1))
    notify(user, reply_event(2))
    db.session.commit()
    assert deliver_due(batch_size=1)["gone"] == 1
    assert len(push_service.received) == 1 and not db.session.scalars(
        select(PushSubscription)).all()
    result = deliver_due()
    assert result["gone"] == 1 and result["sent"] == 0
    assert len(push_service.received) == 1
    assert [(d.state, d.last_error) for d in rows()][1] == ("gone", "subscription removed")


def test_429_retry_after_is_honoured(app, make_resident, push_service):
    user = make_resident(email_frequency="off")
    agent = subscribe(user, push_service)
    push_service.respond(agent, 429, retry_after=600, times=1)
    notify(user, reply_event())
    db.session.commit()
    start = utcnow()
    assert deliver_due(now=start)["retry"] == 1
    [delivery] = rows()
    assert delivery.state == "queued" and delivery.attempts == 1
    assert delivery.next_attempt_at >= start + timedelta(seconds=600)
    assert "429" in delivery.last_error
    assert deliver_due(now=start + timedelta(seconds=590))["claimed"] == 0  # not before asked
    assert deliver_due(now=start + timedelta(seconds=601))["sent"] == 1
    assert len(push_service.accepted()) == 1


def test_5xx_retries_with_backoff_until_a_day_old_then_dead(app, make_resident, push_service):
    user = make_resident(email_frequency="off")
    agent = subscribe(user, push_service)
    push_service.respond(agent, 503)
    notify(user, reply_event())
    db.session.commit()
    created = rows()[0].created_at
    now = utcnow()
    gaps = []
    while True:
        result = deliver_due(now=now)
        assert result["claimed"] == 1
        [delivery] = rows()
        if delivery.state != "queued":
            break
        gaps.append((delivery.next_attempt_at - now).total_seconds())
        now = delivery.next_attempt_at
    assert delivery.state == "dead" and "503" in delivery.last_error
    # Given up by age (a day, DELIVERY_GIVE_UP_HOURS), not after a fixed number of tries.
    assert now - created >= timedelta(hours=24)
    assert now - created < timedelta(hours=24) + timedelta(seconds=max(gaps))
    assert delivery.attempts > 8 >= MIN_ATTEMPTS
    assert gaps[5] > gaps[0] * 8  # exponential
    assert deliver_due(now=now + timedelta(days=2))["claimed"] == 0


def test_smtp_refusing_for_a_while_then_accepting_delivers_all(app, make_resident, mail):
    users = [make_resident() for _ in range(4)]
    for u in users:
        notify(u, reply_event())
    db.session.commit()
    mail.refuse = True
    now = utcnow()
    assert deliver_due(now=now)["retry"] == 4
    assert deliver_due(now=now)["claimed"] == 0  # backing off
    now += timedelta(hours=1)
    assert deliver_due(now=now)["retry"] == 4  # still down
    mail.refuse = False
    now += timedelta(hours=2)
    assert deliver_due(now=now)["sent"] == 4
    assert sorted(m["To"] for m in mail.wait_for(4)) == sorted(u.email for u in users)
    assert {d.state for d in rows()} == {"sent"}


def test_worker_killed_mid_batch_loses_nothing_and_sends_once(app, make_resident, mail,
                                                               push_service):
    users = [make_resident() for _ in range(5)]
    for u in users:
        subscribe(u, push_service)
        notify(u, reply_event())
    db.session.commit()
    now = utcnow()
    # A worker claims 6 of the 10 deliveries and dies before sending them.
    token, claimed = claim(batch_size=6, now=now, token="dead-worker")
    assert len(claimed) == 6
    # Another worker sends the rest, but cannot take the dead worker's leased rows yet.
    assert drain(now=now)["sent"] == 4
    assert len(mail.messages) + len(push_service.received) == 4
    later = now + timedelta(seconds=app.config["DELIVERY_LEASE_SECONDS"] + 1)
    assert drain(now=later)["sent"] == 6
    mail.wait_for(5)
    assert sorted(m["To"] for m in mail.messages) == sorted(u.email for u in users)
    assert len(push_service.accepted()) == 5
    assert {d.state for d in rows()} == {"sent"}
    assert drain(now=later + timedelta(hours=1))["claimed"] == 0


def test_late_result_of_an_expired_claim_does_not_overwrite(app, make_resident, mail):
    from webapp.delivery.worker import Outcome, record
    user = make_resident()
    notify(user, reply_event())
    db.session.commit()
    now = utcnow()
    token, [delivery_id] = claim(now=now, token="slow-worker")
    assert deliver_due(now=now + timedelta(seconds=app.config["DELIVERY_LEASE_SECONDS"] + 1))["sent"] == 1
    late = Outcome()
    late.fail(delivery_id, 1, "timeout")
    record(late, token, now)
    assert rows()[0].state == "sent"


def test_concurrent_workers_send_each_delivery_once(app, make_resident, mail, push_service):
    import threading
    users = [make_resident() for _ in range(12)]
    for u in users:
        subscribe(u, push_service)
        notify(u, reply_event())
    db.session.commit()
    flask_app = app
    errors = []

    def work():
        try:
            with flask_app.app_context():
                while deliver_due(batch_size=3)["claimed"]:
                    pass
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert not errors
    mail.wait_for(12)
    assert len(mail.messages) == 12 and len(push_service.accepted()) == 12
    assert {d.state for d in rows()} == {"sent"}


def test_development_copies_are_written_with_their_links(app, make_resident, caplog,
                                                         monkeypatch):
    """In development (no SMTP_HOST), outbox emails land in instance/mail/ and their links
    are logged, like sign-in emails."""
    import email
    import email.policy
    import logging
    from pathlib import Path
    user = make_resident()
    notify(user, reply_event(title="Zoë’s reply — non-ASCII subject"))
    db.session.commit()
    monkeypatch.setitem(app.config, "SMTP_HOST", None)
    monkeypatch.setitem(app.config, "MAIL_WRITE_FILES", True)
    with caplog.at_level(logging.INFO, logger="wardline.mail"):
        assert deliver_due()["sent"] == 1
    assert "link: http://wardline.test/unsubscribe/" in caplog.text
    newest = max((Path(app.instance_path) / "mail").glob("*.eml"), key=lambda p: p.stat().st_mtime)
    msg = email.message_from_bytes(newest.read_bytes(), policy=email.policy.default)
    assert msg["Subject"] == "Zoë’s reply — non-ASCII subject"


def test_vapid_subject_must_be_a_contact_url(app, make_resident, push_service, monkeypatch):
    import webapp.delivery.worker as worker
    user = make_resident(email_frequency="off")
    subscribe(user, push_service)
    notify(user, reply_event())
    db.session.commit()
    monkeypatch.setitem(app.config, "VAPID_SUBJECT", "neighbourhoods@wardline.example")
    monkeypatch.setattr(worker, "_push_client", None)
    with pytest.raises(ValueError, match="VAPID_SUBJECT"):
        deliver_due()
    monkeypatch.setitem(app.config, "VAPID_SUBJECT", "mailto:neighbourhoods@wardline.example")
    assert deliver_due()["sent"] == 1  # nothing was left claimed
    assert push_service.messages()[0]["claims"]["sub"] == "mailto:neighbourhoods@wardline.example"


def test_urgent_events_are_pushed_with_high_urgency(app, make_resident, push_service):
    user = make_resident(email_frequency="off")
    subscribe(user, push_service)
    notify(user, alert_event(1, urgent=True))
    notify(user, alert_event(2))
    db.session.commit()
    deliver_due()
    urgency = {m["payload"]["url"]: m["headers"]["Urgency"] for m in push_service.messages()}
    assert urgency == {"/alerts/1": "high", "/alerts/2": "normal"}


def test_429_retry_after_as_an_http_date_is_honoured(app, make_resident, push_service):
    from email.utils import format_datetime
    from datetime import timezone
    user = make_resident(email_frequency="off")
    agent = subscribe(user, push_service)
    notify(user, reply_event())
    db.session.commit()
    start = utcnow()
    when = (start + timedelta(minutes=20)).replace(tzinfo=timezone.utc)
    push_service.respond(agent, 429, retry_after=format_datetime(when, usegmt=True), times=1)
    assert deliver_due(now=start)["retry"] == 1
    [delivery] = rows()
    assert delivery.next_attempt_at >= start + timedelta(minutes=19)
    assert deliver_due(now=start + timedelta(minutes=18))["claimed"] == 0


def test_absurd_retry_after_is_capped_not_a_crash(app, make_resident, push_service):
    """A push service answering Retry-After: 10**15 must not overflow the worker's date
    arithmetic (killing every batch) nor park the delivery for ever."""
    user = make_resident(email_frequency="off")
    agent = subscribe(user, push_service)
    push_service.respond(agent, 429, retry_after=10**15, times=1)
    notify(user, reply_event())
    db.session.commit()
    start = utcnow()
    assert deliver_due(now=start)["retry"] == 1
    [delivery] = rows()
    assert start < delivery.next_attempt_at <= start + timedelta(days=1)
    assert deliver_due(now=start + timedelta(days=1, seconds=1))["sent"] == 1


def test_one_unsendable_email_does_not_hold_up_the_batch(app, make_resident, mail, monkeypatch):
    """An email that cannot be flattened (here: a header the email package refuses) is
    dead at once with its error; the others in the batch are sent."""
    import webapp.platform.mail as mail_builder
    users = [make_resident() for _ in range(3)]
    for n, u in enumerate(users):
        notify(u, reply_event(n + 1, title=f"Reply {n + 1}"))
    db.session.commit()
    build = mail_builder.build_message

    def poisoned(to, subject, template, **context):
        msg = build(to, subject, template, **context)
        if subject == "Reply 2":
            msg["X-Broken"] = "a\r\nInjected: yes"
        return msg

    monkeypatch.setattr(mail_builder, "build_message", poisoned)
    result = deliver_due()
    assert result["sent"] == 2
    assert sorted(m["Subject"] for m in mail.wait_for(2)) == ["Reply 1", "Reply 3"]
    dead = [d for d in rows() if d.state == "dead"]
    assert len(dead) == 1 and "building the email failed" in dead[0].last_error
    assert deliver_due()["claimed"] == 0


def test_vapid_header_is_signed_once_per_origin_and_renewed_before_it_expires(app):
    import base64
    import json as jsonlib

    from webapp.delivery.push import VAPID_LIFETIME, VAPID_RENEW_BEFORE, VapidHeaders
    from webapp.delivery.subscriptions import vapid
    now = [1_000_000.0]
    headers = VapidHeaders(vapid(), "mailto:team@wardline.example", clock=lambda: now[0])

    def claims(header):
        token = header.split("t=", 1)[1].split(",")[0]
        part = token.split(".")[1]
        return jsonlib.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))

    first = headers.for_endpoint("https://fcm.googleapis.com/fcm/send/abc")
    assert headers.for_endpoint("https://fcm.googleapis.com/fcm/send/def") == first
    other = headers.for_endpoint("https://updates.push.services.mozilla.com/wpush/v2/x")
    assert headers.signed == 2 and other != first
    assert claims(first)["aud"] == "https://fcm.googleapis.com"
    assert claims(other)["aud"] == "https://updates.push.services.mozilla.com"
    assert claims(first)["exp"] == int(now[0]) + VAPID_LIFETIME
    now[0] += VAPID_LIFETIME - VAPID_RENEW_BEFORE - 1  # still valid long enough: reused
    assert headers.for_endpoint("https://fcm.googleapis.com/x") == first and headers.signed == 2
    now[0] += 2  # about to expire: signed afresh
    renewed = headers.for_endpoint("https://fcm.googleapis.com/x")
    assert renewed != first and headers.signed == 3 and claims(renewed)["exp"] > claims(first)["exp"]


def test_flask_deliver_claims_the_configured_batch_size(app, runner, make_resident,
                                                        push_service):
    """``flask deliver`` claims ``DELIVERY_BATCH_SIZE`` rows a batch unless told
    otherwise (``--batch-size``)."""
    before = app.config["DELIVERY_BATCH_SIZE"]
    app.config["DELIVERY_BATCH_SIZE"] = 3
    try:
        for _ in range(5):
            user = make_resident(email_frequency="off")
            subscribe(user, push_service)
            notify(user, reply_event())
        db.session.commit()
        result = runner.invoke(args=["deliver", "--once", "--loops", "1"])
        assert result.exit_code == 0, result.output
        assert len(push_service.received) == 3
        result = runner.invoke(args=["deliver", "--once", "--loops", "1", "--batch-size", "1"])
        assert result.exit_code == 0, result.output
        assert len(push_service.received) == 4
    finally:
        app.config["DELIVERY_BATCH_SIZE"] = before
