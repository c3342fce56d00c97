"""Issue 13 point 16: only an alert's audience can say whether it was useful."""
from __future__ import annotations

from sqlalchemy import delete, select

from webapp.accounts.models import UserWard
from webapp.alerts.models import AlertAnswer
from webapp.alerts.services import create_alert, resolve_target, send_alert
from webapp.extensions import db
from webapp.wards.services import get_ward
from tests.alerts.test_alerts import A, C, alert_input, ward_id


def _sent_alert(make_staff, **kw):
    officer = make_staff("officer", wards=[A])
    alert = create_alert(officer, alert_input(resolve_target(officer, "wards", [ward_id(A)]), **kw))
    db.session.commit()
    send_alert(alert.id)
    return alert


def test_a_resident_outside_the_audience_cannot_rate(client, login, make_staff, make_resident):
    alert = _sent_alert(make_staff)
    elsewhere = make_resident(C)
    login(client, elsewhere)
    page = client.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert "Was this useful?" not in page
    assert client.post(f"/alerts/{alert.id}/useful", data={"useful": "yes"}).status_code == 403
    # Following the ward but not the alert's category: not its audience either.
    other_topics = make_resident(A, categories=("events",))
    login(client, other_topics)
    assert client.post(f"/alerts/{alert.id}/useful", data={"useful": "no"}).status_code == 403
    assert db.session.scalars(select(AlertAnswer)).all() == []


def test_the_audience_can_rate_even_after_moving_ward(client, login, make_staff, make_resident):
    reached = make_resident(A)
    alert = _sent_alert(make_staff)
    login(client, reached)
    assert "Was this useful?" in client.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert client.post(f"/alerts/{alert.id}/useful", data={"useful": "yes"}).status_code == 303
    # They were sent it: moving to another ward later does not take the answer away.
    db.session.execute(delete(UserWard).where(UserWard.user_id == reached.id))
    db.session.add(UserWard(user_id=reached.id, ward=get_ward(C), is_home=True, position=0))
    db.session.commit()
    assert client.post(f"/alerts/{alert.id}/useful", data={"useful": "no"}).status_code == 303
    assert [a.useful for a in db.session.scalars(select(AlertAnswer))] == [False]
