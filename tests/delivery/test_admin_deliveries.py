"""Admins see dead deliveries with their errors and can retry them; others cannot."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from webapp.platform.audit import AuditEvent
from webapp.delivery import Event, notify
from webapp.delivery.models import Delivery
from webapp.delivery.worker import MIN_ATTEMPTS, deliver_due
from webapp.extensions import db
from webapp.platform.timeutil import utcnow


def make_dead(user, mail):
    notify(user, Event(kind="reply", source_type="message", source_id=7, title="Reply",
                       body="Hello", url="/messages/7"))
    db.session.commit()
    mail.refuse = True
    now = utcnow()
    for _ in range(MIN_ATTEMPTS):
        deliver_due(now=now)
        now += timedelta(days=1)
    [delivery] = db.session.scalars(select(Delivery)).all()
    assert delivery.state == "dead" and "451" in delivery.last_error
    mail.refuse = False
    return delivery


def test_admin_sees_dead_deliveries_and_retries(app, client, login, make_staff, make_resident,
                                                 mail):
    user = make_resident()
    delivery = make_dead(user, mail)
    admin = make_staff("admin")
    login(client, admin)
    html = client.get("/admin/deliveries").get_data(as_text=True)
    assert user.email in html and "451" in html and "Reply" in html
    assert client.post(f"/admin/deliveries/{delivery.id}/retry").status_code == 303
    db.session.refresh(delivery)
    assert delivery.state == "queued" and delivery.attempts == 0
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "delivery.retry"))
    assert deliver_due()["sent"] == 1
    assert mail.wait_for(1)[0]["To"] == user.email
    assert client.post(f"/admin/deliveries/{delivery.id}/retry").status_code == 404  # not dead


def test_retry_all_and_access(app, client, login, make_staff, make_resident, mail):
    make_dead(make_resident(), mail)
    login(client, make_staff("officer", wards=["E05013806"]))
    assert client.get("/admin/deliveries").status_code == 403
    assert client.post("/admin/deliveries/retry-all").status_code == 403
    login(client, make_staff("admin"))
    assert client.post("/admin/deliveries/retry-all").status_code == 303
    assert {d.state for d in db.session.scalars(select(Delivery))} == {"queued"}
