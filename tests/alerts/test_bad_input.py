"""Nasty input on alert pages: a 422 with the message next to the field and the text kept,
or a 404, never a 500 (on SQLite and PostgreSQL), and never an alert sent by mistake."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from webapp.alerts.models import Alert
from webapp.delivery.models import Delivery
from webapp.extensions import db
from webapp.wards.services import get_ward

A = "E05013806"
HUGE = "99999999999999999999"


def _form(**kw):
    data = {"title": "Bike marking", "body": "Bring your bike.", "category": "events",
            "scope": "wards", "wards": [str(get_ward(A).id)], "channels": ["email"], "when": "now"}
    data.update(kw)
    return data


def _count(model):
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def test_later_without_a_time_is_refused_not_sent_now(client, login, make_staff, make_resident):
    login(client, make_staff("officer", wards=[A]))
    make_resident(A)
    response = client.post("/officer/alerts/new",
                           data=_form(when="later", send_at="", title="Kept title"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'id="send_at-error">Enter the date and time to send it\.<', html)
    assert 'value="Kept title"' in html
    assert _count(Alert) == 0 and _count(Delivery) == 0


def test_out_of_range_ids_are_a_422_or_404_not_a_500(client, login, make_staff, htmx_headers):
    login(client, make_staff("officer", wards=[A]))
    for data in (_form(wards=[HUGE]), _form(wards=["-1"]), _form(wards=["abc"]),
                 _form(scope="borough", borough=HUGE)):
        assert client.post("/officer/alerts/new", data=data).status_code == 422, data
        assert client.post("/officer/alerts/preview", data=data,
                           headers=htmx_headers).status_code == 200, data
    for url in (f"/alerts/{HUGE}", f"/officer/alerts/{HUGE}", f"/officer/alerts/{HUGE}/edit"):
        assert client.get(url).status_code == 404, url
    for url in (f"/alerts/{HUGE}/useful", f"/officer/alerts/{HUGE}/cancel"):
        assert client.post(url, data={"useful": "yes"}).status_code == 404, url
    assert _count(Alert) == 0


def test_nul_bytes_and_bad_times_never_500(client, login, make_staff):
    login(client, make_staff("officer", wards=[A]))
    for send_at in ("9999-12-31T23:59", "0001-01-01T00:00", "2099-13-45T99:99", "soon\x00"):
        response = client.post("/officer/alerts/new", data=_form(when="later", send_at=send_at))
        assert response.status_code == 422, send_at
    response = client.post("/officer/alerts/new",
                           data=_form(title="Bike\x00 marking", body="Bring\x00 it"))
    assert response.status_code == 303
    alert = db.session.scalar(select(Alert))
    assert (alert.title, alert.body) == ("Bike marking", "Bring it")


def test_a_line_break_in_the_title_is_no_header_break(client, login, make_staff, make_resident, mail):
    from webapp.delivery.worker import deliver_due
    login(client, make_staff("officer", wards=[A]))
    resident = make_resident(A)
    response = client.post("/officer/alerts/new",
                           data=_form(title="Bike marking\r\nBcc: evil@example.org"))
    assert response.status_code == 303
    assert db.session.scalar(select(Alert.title)) == "Bike marking Bcc: evil@example.org"
    assert deliver_due()["sent"] == 1
    [msg] = mail.wait_for(1)
    assert msg["To"] == resident.email and msg["Bcc"] is None
    assert msg["Subject"] == "Bike marking Bcc: evil@example.org"
