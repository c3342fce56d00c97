"""``deliveries`` has no foreign keys (their per-row checks were ~40 % of a London-wide
fan-out's cost): a resident's rows still go with their account, and a fan-out part being
written while the account goes leaves none behind (webapp.delivery.services.outbox_lock)."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import exists, func, select

from tests.alerts.test_alerts import alert_input
from tests.delivery.test_outbox import reply_event
from webapp.accounts.models import User
from webapp.accounts.data_rights import delete_account
from webapp.alerts.audience import audience_of
from webapp.alerts.services import create_alert, resolve_target
from webapp.delivery import notify
from webapp.delivery.fanout import write_next_part
from webapp.delivery.models import Delivery, Notification
from webapp.delivery.services import Event, fan_out
from webapp.extensions import db
from webapp.platform.db import write_transaction
from webapp.wards.services import get_ward

ST_JAMES = "E05013806"


def orphans() -> tuple[int, int]:
    """Deliveries whose resident, and whose notification, no longer exists."""
    no_user = ~exists().where(User.id == Delivery.user_id)
    no_note = ~exists().where(Notification.id == Delivery.notification_id)
    return (db.session.scalar(select(func.count()).select_from(Delivery).where(no_user)),
            db.session.scalar(select(func.count()).select_from(Delivery).where(no_note)))


def test_account_deletion_leaves_no_delivery_without_its_user_or_notification(
        app, make_staff, make_resident):
    officer = make_staff("officer", wards=[ST_JAMES])
    leaving, staying = make_resident(ST_JAMES), make_resident(ST_JAMES)
    create_alert(officer, alert_input(resolve_target(officer, "wards", [get_ward(ST_JAMES).id])))
    notify(leaving, reply_event(7))  # a personal notification: goes with the account
    notify(staying, reply_event(8))
    db.session.commit()
    mine = db.session.scalar(select(func.count()).select_from(Delivery)
                             .where(Delivery.user_id == leaving.id))
    assert mine == 2  # the alert's email and the reply's
    leaving_id = leaving.id
    delete_account(leaving)
    db.session.commit()
    assert orphans() == (0, 0)
    assert not db.session.scalar(select(func.count()).select_from(Delivery)
                                 .where(Delivery.user_id == leaving_id))
    # The others' rows stay: the alert's and the other reply's.
    assert db.session.scalar(select(func.count()).select_from(Delivery)
                             .where(Delivery.user_id == staying.id)) == 2


def test_notify_writes_nothing_for_an_account_already_deleted(app, make_resident):
    resident = make_resident(ST_JAMES)
    db.session.commit()
    gone = User(id=resident.id, email="x@example.org", role="resident")  # a stale object
    delete_account(resident)
    db.session.commit()
    assert notify(gone, reply_event(9)) == 0
    db.session.commit()
    assert orphans() == (0, 0)


def test_deletion_waits_for_a_part_being_written_and_removes_its_rows(
        app, make_staff, make_resident, monkeypatch):
    """A part writer has written the resident's row and not committed when the account
    is deleted: the deletion waits for it (without the lock it would miss the row, which
    would then be committed without its resident), and parts written after it no longer
    find the resident."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: a write cannot overlap the deletion")
    monkeypatch.setitem(app.config, "FANOUT_PART_SIZE", 1)
    officer = make_staff("officer", wards=[ST_JAMES])
    leaving, staying = make_resident(ST_JAMES), make_resident(ST_JAMES)
    alert = create_alert(officer, alert_input(resolve_target(officer, "wards",
                                                             [get_ward(ST_JAMES).id]),
                                              channels=["email"]))
    db.session.commit()
    note_id = db.session.scalar(select(Notification.id).where(
        Notification.source_type == "alert", Notification.source_id == alert.id))
    event = Event(kind="alert", source_type="alert", source_id=alert.id, title=alert.title,
                  category=alert.category)
    leaving_id = leaving.id
    written, go = threading.Event(), threading.Event()

    def part_writer():  # a part writer's transaction, held open until told
        with app.app_context():
            with write_transaction():
                users = (leaving_id, leaving_id)
                assert fan_out(event, audience_of(alert.id, users=users), channels=("email",),
                               returning=False, notification_id=note_id, users=users) == 1
                written.set()
                go.wait(30)
            db.session.remove()

    def deleter():
        with app.app_context():
            delete_account(db.session.get(User, leaving_id))
            db.session.commit()
            db.session.remove()

    writer = threading.Thread(target=part_writer)
    writer.start()
    assert written.wait(30)
    deleting = threading.Thread(target=deleter)
    deleting.start()
    time.sleep(0.5)
    assert deleting.is_alive()  # waiting for the part's transaction
    go.set()
    writer.join(30)
    deleting.join(30)
    db.session.rollback()
    while write_next_part() is not None:  # the remaining parts (the resident's again)
        pass
    db.session.rollback()
    assert orphans() == (0, 0)
    assert db.session.scalars(select(Delivery.user_id).where(
        Delivery.notification_id == note_id)).all() == [staying.id]
