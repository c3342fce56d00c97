"""Retention of the outbox: finished deliveries go after RETENTION_OUTBOX_DAYS with their
counts kept (an alert's statistics stay the same, also when a resident deletes their
account), push devices unseen for RETENTION_PUSH_UNSEEN_DAYS go; batched, idempotent."""
from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event, func, select, update

from tests.alerts.test_alerts import alert_input
from tests.conftest import run_at_once
from tests.delivery.test_digest_unsubscribe import alert
from webapp.accounts.services import delete_account
from webapp.alerts.services import create_alert, resolve_target
from webapp.delivery import notify
from webapp.delivery.models import Delivery, PushSubscription
from webapp.delivery.retention import (DeliveryCount, purge_old_deliveries,
                                       purge_unseen_devices)
from webapp.delivery.scheduler import TICKS, resolve
from webapp.delivery.subscriptions import save_subscription
from webapp.delivery.worker import MIN_ATTEMPTS, deliver_due
from webapp.extensions import db
from webapp.platform.timeutil import utcnow
from webapp.wards.services import get_ward

A = "E05013806"


@contextmanager
def deletes_of(table: str):
    """The row count of every DELETE on ``table`` the block runs (a real engine event; -1
    when the statement returns its rows, as the outbox's does)."""
    counts = []

    def after(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(f"DELETE FROM {table.upper()}"):
            counts.append(cursor.rowcount)

    event.listen(db.engine, "after_cursor_execute", after)
    try:
        yield counts
    finally:
        event.remove(db.engine, "after_cursor_execute", after)


def stats_cells(client, alert_id: int) -> dict:
    html = client.get(f"/officer/alerts/{alert_id}").get_data(as_text=True)
    return {(ch, st): int(n) for ch, st, n in
            re.findall(r'data-channel="(\w+)" data-state="(\w+)">(\d+)<', html)}


def sent_alert(officer):
    alert = create_alert(officer, alert_input(resolve_target(officer, "wards", [get_ward(A).id]),
                                              channels=["email"]))
    db.session.commit()
    return alert


def age_deliveries(days: float) -> None:
    db.session.execute(update(Delivery).values(created_at=utcnow() - timedelta(days=days)))
    db.session.commit()


def test_old_finished_deliveries_go_in_batches_and_the_alert_stats_stay(
        app, client, login, make_staff, make_resident, mail, monkeypatch):
    monkeypatch.setitem(app.config, "RETENTION_BATCH", 3)
    officer = make_staff("officer", wards=[A])
    for _ in range(5):
        make_resident(A)
    alert = sent_alert(officer)
    deliver_due()  # five sent
    mail.refuse = True
    dead_alert = sent_alert(officer)
    now = utcnow()
    for _ in range(MIN_ATTEMPTS + 1):  # five dead
        deliver_due(now=now)
        now += timedelta(days=1)
    mail.refuse = False
    age_deliveries(31)
    waiting = make_resident(A)  # a row still waiting, however old, never goes
    db.session.add(Delivery(notification_id=db.session.scalar(select(Delivery.notification_id)
                                                              .limit(1)),
                            user_id=waiting.id, channel="email", state="queued",
                            created_at=utcnow() - timedelta(days=40),
                            next_attempt_at=utcnow() + timedelta(days=1)))
    db.session.commit()
    recent = sent_alert(officer)  # written today: stays
    deliver_due()
    login(client, officer)
    before = {a: stats_cells(client, a) for a in (alert.id, dead_alert.id, recent.id)}
    assert before[alert.id][("email", "sent")] == 5
    assert before[dead_alert.id][("email", "dead")] == 5
    assert before[recent.id][("email", "sent")] == 6
    old_rows = db.session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.created_at < utcnow() - timedelta(days=30), Delivery.state != "queued"))
    assert old_rows == 10

    with deletes_of("deliveries") as batches:
        assert purge_old_deliveries() == {"deliveries": 10}
    assert len(batches) == 4  # 3 + 3 + 3 + 1: RETENTION_BATCH per transaction
    left = db.session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all()
    assert dict(left) == {"queued": 1, "sent": 6}  # the waiting row and the recent alert
    assert {a: stats_cells(client, a) for a in before} == before
    assert db.session.scalar(select(func.sum(DeliveryCount.count))) == 10

    with deletes_of("deliveries") as again:
        assert purge_old_deliveries() is None  # nothing left to do
    assert len(again) == 1
    assert {a: stats_cells(client, a) for a in before} == before
    assert db.session.scalar(select(func.sum(DeliveryCount.count))) == 10


def test_deleting_an_account_keeps_the_alert_counts(app, client, login, make_staff,
                                                    make_resident, mail):
    officer = make_staff("officer", wards=[A])
    only = make_resident(A)  # the alert's one recipient: its notification goes with them
    alert = sent_alert(officer)
    deliver_due()
    login(client, officer)
    before = stats_cells(client, alert.id)
    assert before[("email", "sent")] == 1
    delete_account(db.session.get(type(only), only.id))
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0
    assert stats_cells(client, alert.id) == before


def test_push_devices_unseen_for_90_days_go(app, make_resident):
    resident = make_resident(A)
    long_ago = utcnow() - timedelta(days=91)
    for n, (created, success) in enumerate([(long_ago, None), (long_ago, utcnow()),
                                            (utcnow(), None)]):
        sub = save_subscription(resident, {
            "endpoint": f"https://fcm.googleapis.com/fcm/send/device-{n}",
            "keys": {"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1"
                               "XbjhazAkj7I99e8QcYP7DkM", "auth": "tBHItJI5svbpez7KI4CCXg"}})
        sub.created_at, sub.last_success_at = created, success
    db.session.commit()
    assert purge_unseen_devices() == {"push_devices": 1}
    left = sorted(db.session.scalars(select(PushSubscription.endpoint)))
    assert [e.rsplit("-", 1)[1] for e in left] == ["1", "2"]
    assert purge_unseen_devices() is None


def test_retention_ticks_are_registered():
    paths = {path for path, _ in TICKS}
    for name in ("webapp.delivery.retention:purge_old_deliveries",
                 "webapp.delivery.retention:purge_unseen_devices",
                 "webapp.accounts.retention:purge_unconfirmed_signups",
                 "webapp.accounts.retention:purge_used_tokens",
                 "webapp.platform.retention:purge_audit_events"):
        assert name in paths and callable(resolve(name))


def test_two_schedulers_purging_at_once_count_each_row_once(app, make_resident, monkeypatch):
    monkeypatch.setitem(app.config, "RETENTION_BATCH", 7)
    people = [make_resident(A) for _ in range(40)]
    for person in people:
        notify(person, alert(5))
    db.session.commit()
    db.session.execute(update(Delivery).values(state="sent", sent_at=utcnow()))
    db.session.commit()
    age_deliveries(31)
    results = run_at_once(app, purge_old_deliveries, n=3)
    assert sum((r or {}).get("deliveries", 0) for r in results) == 40
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0
    assert db.session.execute(select(DeliveryCount.source_id, DeliveryCount.channel,
                                     DeliveryCount.state, DeliveryCount.count)).all() \
        == [(5, "email", "sent", 40)]
