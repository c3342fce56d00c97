"""Delivery under faults: a mail server that refuses for hours delays mail but does not lose
it (give up by age, not by tries); a batch slower than its lease keeps its rows
(heartbeat); admins see "the outbox is stuck" while it is."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import select, update

from webapp.delivery import Event, notify
from webapp.delivery.models import Delivery
from webapp.delivery.worker import deliver_due
from webapp.extensions import db
from webapp.platform.timeutil import utcnow


def reply_event(n: int = 1) -> Event:
    return Event(kind="reply", source_type="message", source_id=n, title="A reply",
                 body="We will look into it.", url=f"/messages/{n}")


def states() -> set[str]:
    db.session.rollback()
    return {d.state for d in db.session.scalars(select(Delivery))}


def run_outage(now, until, mail):
    """Run the worker at every retry time while the sink refuses, up to ``until``."""
    while True:
        db.session.rollback()
        due = db.session.scalar(select(Delivery.next_attempt_at)
                                .where(Delivery.state == "queued")
                                .order_by(Delivery.next_attempt_at).limit(1))
        if due is None or due > until:
            return now
        now = max(now, due)
        deliver_due(now=now)


def test_smtp_outage_of_six_hours_delays_but_loses_nothing(app, make_resident, mail):
    users = [make_resident() for _ in range(3)]
    for u in users:
        notify(u, reply_event())
    db.session.commit()
    mail.refuse = True  # the real aiosmtpd sink answers 451 to every recipient
    start = utcnow()
    run_outage(start, start + timedelta(hours=6), mail)
    assert states() == {"queued"}  # still retrying after many tries, not "dead"
    assert min(d.attempts for d in db.session.scalars(select(Delivery))) >= 8
    assert not mail.messages
    mail.refuse = False
    assert deliver_due(now=start + timedelta(hours=12))["sent"] == 3
    assert sorted(m["To"] for m in mail.wait_for(3)) == sorted(u.email for u in users)
    assert states() == {"sent"}


def test_smtp_outage_longer_than_the_give_up_age_ends_dead(app, make_resident, mail):
    user = make_resident()
    notify(user, reply_event())
    db.session.commit()
    mail.refuse = True
    start = utcnow()
    run_outage(start, start + timedelta(hours=23), mail)
    assert states() == {"queued"}
    run_outage(start, start + timedelta(days=3), mail)
    [delivery] = db.session.scalars(select(Delivery)).all()
    assert delivery.state == "dead" and "451" in delivery.last_error
    assert delivery.next_attempt_at - delivery.created_at >= timedelta(hours=18)


def test_give_up_age_is_configurable(app, make_resident, mail):
    user = make_resident()
    notify(user, reply_event())
    db.session.commit()
    mail.refuse = True
    app.config["DELIVERY_GIVE_UP_HOURS"] = 1
    try:
        start = utcnow()
        run_outage(start, start + timedelta(hours=5), mail)
    finally:
        app.config["DELIVERY_GIVE_UP_HOURS"] = 24
    assert states() == {"dead"}


def test_heartbeat_keeps_a_slow_batch_from_being_sent_twice(app, make_resident, mail):
    """A batch that takes several leases to send (a slow mail server) keeps its rows: a
    second worker polling all the while claims nothing, and every email goes once."""
    users = [make_resident() for _ in range(8)]
    for u in users:
        notify(u, reply_event())
    db.session.commit()
    app.config["DELIVERY_LEASE_SECONDS"] = 1
    mail.delay = 0.4  # 8 messages: 3.2 s, over three leases
    results, errors = [], []

    def slow_worker():
        try:
            with app.app_context():
                results.append(deliver_due(batch_size=8))
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    try:
        thread = threading.Thread(target=slow_worker)
        thread.start()
        assert mail.wait_for(1, timeout=10)
        other_claims = 0
        while thread.is_alive():
            other_claims += deliver_due()["claimed"]
            time.sleep(0.2)
        thread.join()
    finally:
        app.config["DELIVERY_LEASE_SECONDS"] = 60
    assert not errors, errors
    assert other_claims == 0
    assert results[0]["sent"] == 8
    assert sorted(m["To"] for m in mail.messages) == sorted(u.email for u in users)
    assert states() == {"sent"}


def test_outbox_stuck_banner_for_admins_on_staff_pages(app, client, login, make_staff,
                                                       make_resident, mail, htmx_headers):
    admin = make_staff("admin")
    officer = make_staff("officer", wards=["E05013806"])
    users = [make_resident() for _ in range(3)]
    login(client, admin)
    assert "outbox is stuck" not in client.get("/admin").get_data(as_text=True)

    # The mail server refuses: every delivery waits for a retry.
    for u in users:
        notify(u, reply_event())
    db.session.commit()
    mail.refuse = True
    assert deliver_due()["retry"] == 3
    app.config["OUTBOX_STUCK_RETRYING"] = 3
    try:
        for path in ("/admin", "/admin/deliveries", "/officer/inbox", "/officer/alerts"):
            html = client.get(path).get_data(as_text=True)
            assert "The outbox is stuck." in html, path
            assert "3 deliveries are waiting to be retried" in html and "451" in html
        # The banner is server-rendered, and htmx refreshes it alone.
        fragment = client.get("/admin/outbox-status", headers=htmx_headers)
        assert fragment.status_code == 200 and "The outbox is stuck." in fragment.get_data(as_text=True)
        assert 'hx-trigger="every 60s"' in fragment.get_data(as_text=True)
        # Residents' pages and other roles never show it.
        assert "outbox is stuck" not in client.get("/privacy").get_data(as_text=True)
        login(client, officer)
        assert "outbox is stuck" not in client.get("/officer/inbox").get_data(as_text=True)
        assert client.get("/admin/outbox-status").status_code == 403
        login(client, admin)
    finally:
        app.config["OUTBOX_STUCK_RETRYING"] = 20

    # Below the retry threshold, but a due delivery waiting for 20 minutes (no worker
    # running) is stuck too.
    mail.refuse = False
    db.session.execute(update(Delivery).values(state="sent", attempts=1))
    notify(users[0], reply_event(2))
    db.session.commit()
    assert "outbox is stuck" not in client.get("/admin").get_data(as_text=True)
    db.session.execute(update(Delivery).where(Delivery.state == "queued")
                       .values(next_attempt_at=utcnow() - timedelta(minutes=20)))
    db.session.commit()
    html = client.get("/admin").get_data(as_text=True)
    assert "The outbox is stuck." in html and "1 delivery is due, the oldest since" in html
    # Once the worker catches up, the banner goes away.
    assert deliver_due()["sent"] == 1
    assert "outbox is stuck" not in client.get("/admin/outbox-status").get_data(as_text=True)
