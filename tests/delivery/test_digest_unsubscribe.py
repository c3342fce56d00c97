"""Daily digest, the scheduler registry, one-click unsubscribe, push subscriptions and
VAPID keys."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from webapp.delivery import Event, notify
from webapp.delivery.digest import send_digests
from webapp.delivery.models import Delivery, PushSubscription
from webapp.delivery.scheduler import TICKS, build_scheduler, resolve
from webapp.delivery.subscriptions import EndpointTaken, SubscriptionError, remove_subscription, save_subscription, subscriptions_for, vapid_public_key
from webapp.delivery.worker import deliver_due
from webapp.extensions import db
from webapp.platform.timeutil import london_to_utc
from tests.conftest import run_at_once


def alert(n, **kw):
    return Event(kind="alert", source_type="alert", source_id=n, title=f"Alert number {n}",
                 body=f"Details of alert {n}", url=f"/alerts/{n}", category="prevention", **kw)


def at_london(y, m, d, hh, mm=0):
    return london_to_utc(datetime(y, m, d, hh, mm))


def test_digest_gathers_a_days_alerts_into_one_email_at_seven(app, make_resident, mail):
    digest_user = make_resident(email_frequency="digest")
    other = make_resident(email_frequency="digest")
    immediate = make_resident(email_frequency="immediate")
    day1 = at_london(2026, 6, 1, 12)
    for n in (1, 2, 3):
        notify(digest_user, alert(n))
        notify(immediate, alert(n))
    notify(other, alert(1))
    db.session.execute(Delivery.__table__.update().values(created_at=day1, next_attempt_at=day1))
    db.session.commit()
    # Before 07:00 the next morning: nothing yet.
    assert send_digests(now=at_london(2026, 6, 2, 6, 59)) == 0
    # At 07:00: one digest email per digest-chooser, even if the tick runs again.
    seven = at_london(2026, 6, 2, 7, 0)
    assert send_digests(now=seven) == 2
    assert send_digests(now=seven + timedelta(minutes=1)) == 0
    deliver_due(now=seven + timedelta(minutes=1))
    messages = mail.wait_for(5)  # 3 immediate alerts + 2 digests
    digests = [m for m in messages if m["To"] in (digest_user.email, other.email)]
    assert len(digests) == 2
    mine = next(m for m in digests if m["To"] == digest_user.email)
    text = mine.get_body(("plain",)).get_content()
    assert all(f"Alert number {n}" in text for n in (1, 2, 3))
    assert mine["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert {d.state for d in db.session.scalars(
        select(Delivery).where(Delivery.channel == "digest"))} == {"sent"}


def test_digest_rows_after_the_digest_went_wait_for_tomorrow(app, make_resident, mail):
    user = make_resident(email_frequency="digest")
    notify(user, alert(1))
    db.session.commit()
    db.session.execute(Delivery.__table__.update().values(created_at=at_london(2026, 6, 1, 12),
                                                           next_attempt_at=at_london(2026, 6, 1, 12)))
    db.session.commit()
    seven = at_london(2026, 6, 2, 7)
    send_digests(now=seven)
    deliver_due(now=seven)
    mail.wait_for(1)
    notify(user, alert(2))  # arrives after the digest went
    db.session.commit()
    db.session.execute(Delivery.__table__.update().where(Delivery.channel == "digest",
                                                         Delivery.state == "queued")
                       .values(created_at=at_london(2026, 6, 2, 6, 59),
                               next_attempt_at=at_london(2026, 6, 2, 6, 59)))
    db.session.commit()
    assert send_digests(now=seven + timedelta(minutes=5)) == 0
    assert db.session.scalar(select(Delivery.state).where(Delivery.channel == "digest",
                                                          Delivery.notification.has(source_id=2))) == "queued"
    assert send_digests(now=at_london(2026, 6, 3, 7)) == 1
    deliver_due(now=at_london(2026, 6, 3, 7))
    assert "Alert number 2" in mail.wait_for(2)[1].get_body(("plain",)).get_content()


def test_two_schedulers_running_digest_ticks_at_once_make_one_email(app, make_resident, mail):
    users = [make_resident(email_frequency="digest") for _ in range(5)]
    for u in users:
        notify(u, alert(1))
        notify(u, alert(2))
    db.session.commit()
    db.session.execute(Delivery.__table__.update().values(created_at=at_london(2026, 6, 1, 9),
                                                           next_attempt_at=at_london(2026, 6, 1, 9)))
    db.session.commit()
    now = at_london(2026, 6, 2, 7, 1)
    results = run_at_once(app, lambda: send_digests(now=now))
    assert sum(results) == 5
    deliver_due(now=now)
    assert len(mail.wait_for(5)) == 5
    assert sorted(m["To"] for m in mail.messages) == sorted(u.email for u in users)


def test_scheduler_registry_resolves_and_builds(app):
    assert ("webapp.delivery.digest:send_digests", 60) in TICKS
    for path, seconds in TICKS:
        assert callable(resolve(path)) and seconds > 0
    scheduler = build_scheduler(app)
    assert {job.id for job in scheduler.get_jobs()} == {path for path, _ in TICKS}


# --------------------------------------------------------------------------- unsubscribe
def unsubscribe_link(mail):
    msg = mail.wait_for(1)[0]
    return re.search(r"<http://wardline.test(/unsubscribe/[^>]+)>", msg["List-Unsubscribe"]).group(1)


def test_unsubscribe_link_works_signed_out(app, client, make_resident, mail):
    user = make_resident()
    notify(user, alert(1))
    notify(user, alert(2))
    db.session.commit()
    deliver_due(batch_size=1)
    path = unsubscribe_link(mail)
    page = client.get(path)
    assert page.status_code == 200 and user.email in page.get_data(as_text=True)
    db.session.refresh(user)
    assert user.email_frequency == "immediate"  # GET changes nothing
    done = client.post(path, csrf=False)
    assert done.status_code == 200 and "won't email" in done.get_data(as_text=True)
    db.session.refresh(user)
    assert user.email_frequency == "off"
    assert deliver_due()["sent"] == 0  # the queued second alert is dropped
    assert len(mail.messages) == 1


def test_one_click_unsubscribe_post_rfc8058(app, client, make_resident, mail):
    user = make_resident(email_frequency="digest")
    notify(user, alert(1, urgent=True))
    db.session.commit()
    deliver_due()
    response = client.post(unsubscribe_link(mail), data={"List-Unsubscribe": "One-Click"},
                           csrf=False)
    assert response.status_code == 204
    db.session.refresh(user)
    assert user.email_frequency == "off"


def test_tampered_unsubscribe_token_is_refused(app, client, make_resident, mail):
    user = make_resident()
    notify(user, alert(1))
    db.session.commit()
    deliver_due()
    path = unsubscribe_link(mail)
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert client.get(tampered).status_code == 404
    assert client.post(tampered, csrf=False).status_code == 404
    from webapp.delivery.emails import unsubscribe_token
    forged = unsubscribe_token(user).replace(".", ".x", 1)
    assert client.post(f"/unsubscribe/{forged}", csrf=False).status_code == 404
    db.session.refresh(user)
    assert user.email_frequency == "immediate"


# --------------------------------------------------------------------------- subscriptions
def test_save_subscription_upserts_by_endpoint_and_validates(app, make_resident, push_service):
    alice, bob = make_resident(), make_resident()
    agent = push_service.agent()
    save_subscription(alice, agent.subscription, "Firefox on Android")
    db.session.commit()
    # Another account cannot take the endpoint (issue 9): a shared device signs out first,
    # which removes its subscription, then subscribes for the next person.
    with pytest.raises(EndpointTaken):
        save_subscription(bob, agent.subscription, "x" * 500)
    db.session.rollback()
    assert remove_subscription(alice, agent.endpoint) is True
    save_subscription(bob, agent.subscription, "x" * 500)
    save_subscription(bob, agent.subscription, "x" * 500)  # the same device again: an update
    db.session.commit()
    [sub] = db.session.scalars(select(PushSubscription)).all()
    assert sub.user_id == bob.id and len(sub.user_agent) == 300
    assert subscriptions_for(bob) == [sub] and subscriptions_for(alice) == []
    bad = [None, {}, {"endpoint": "ftp://x", "keys": agent.subscription["keys"]},
           {"endpoint": agent.endpoint, "keys": {"p256dh": "abc", "auth": "def"}},
           {"endpoint": agent.endpoint + "x" * 1000, "keys": agent.subscription["keys"]},
           {"endpoint": agent.endpoint, "keys": {**agent.subscription["keys"], "auth": "!!"}}]
    for data in bad:
        with pytest.raises(SubscriptionError):
            save_subscription(alice, data)
    assert remove_subscription(alice, agent.endpoint) is False
    assert remove_subscription(bob, agent.endpoint) is True
    db.session.commit()
    assert subscriptions_for(bob) == []


def test_vapid_key_is_generated_once_and_printed_by_flask_vapid(app, runner):
    import base64
    from pathlib import Path
    key = vapid_public_key()
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(raw) == 65 and raw[0] == 4
    assert (Path(app.instance_path) / "vapid_private.pem").exists()
    result = runner.invoke(args=["vapid"])
    assert result.exit_code == 0 and result.output.strip() == key


def test_vapid_key_from_the_environment_is_used_and_signs_pushes(app, make_resident, push_service,
                                                                 monkeypatch):
    """VAPID_PRIVATE_KEY (PEM, as an operator sets it in the environment) wins over the
    generated instance/ key: the public key served and the key pushes are signed with."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from py_vapid import Vapid

    import webapp.delivery.worker as worker
    operator = Vapid()
    operator.generate_keys()
    raw = operator.public_key.public_bytes(serialization.Encoding.X962,
                                           serialization.PublicFormat.UncompressedPoint)
    expected = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    generated = vapid_public_key()
    monkeypatch.setitem(app.config, "VAPID_PRIVATE_KEY", operator.private_pem().decode())
    monkeypatch.setattr(worker, "_push_client", None)
    assert vapid_public_key() == expected != generated
    user = make_resident(email_frequency="off")
    save_subscription(user, push_service.agent().subscription)
    notify(user, alert(1))
    db.session.commit()
    assert deliver_due()["sent"] == 1
    assert len(push_service.messages(expected_key=expected)) == 1
