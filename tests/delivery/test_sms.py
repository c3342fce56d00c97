"""Issue 16: text messages through GOV.UK Notify behind the same outbox.

Every text goes through the real client library (``notifications-python-client``) to the
fake Notify API on loopback (``tests/support/fake_notify.py``), which checks the endpoint,
the JWT (PyJWT: iss = service id, iat within 30 s, HS256 with the key's secret) and the
payload as Notify documents them. Receipts and received texts are posted to our callbacks
as Notify posts them (bearer token)."""
from __future__ import annotations

from datetime import timedelta

import jwt
from sqlalchemy import func, select

from webapp.accounts.phone import SmsCategory, SmsNumber
from webapp.alerts.services import AlertInput, create_alert, resolve_target
from webapp.delivery.digest import send_digests
from webapp.delivery.models import Delivery
from webapp.delivery.notify_client import sms_personalisation
from webapp.delivery.worker import deliver_due
from webapp.extensions import db
from webapp.platform.timeutil import utcnow
from webapp.wards.services import get_ward

ST_JAMES = "E05013806"
MOBILE = "07911 123456"
E164 = "+447911123456"


def _confirm_by_text(client, fake, resident):
    """The resident adds and confirms their number through the pages (code read off the
    text the fake Notify received)."""
    assert client.post("/settings/phone", data={"phone": MOBILE}).status_code == 303
    code = fake.sms()[-1]["payload"]["personalisation"]["code"]
    assert client.post("/settings/phone/confirm", data={"code": code}).status_code == 303
    db.session.expire_all()
    assert db.session.get(SmsNumber, resident.id).phone == E164


def _text_resident(resident, phone=E164, categories=()):
    db.session.add(SmsNumber(user_id=resident.id, phone=phone, confirmed_at=utcnow()))
    db.session.add_all(SmsCategory(user_id=resident.id, category=c) for c in categories)
    db.session.commit()


def _alert(officer, *, urgent=False, category="prevention", channels=("email", "push", "sms"),
           title="Car break-ins on Vincent Square", body="Three cars broken into overnight.\n"
           "Keep valuables out of sight."):
    alert = create_alert(officer, AlertInput(
        title=title, body=body, category=category, channels=list(channels), urgent=urgent,
        target=resolve_target(officer, "wards", [get_ward(ST_JAMES).id])))
    db.session.commit()
    return alert


def _sms_rows():
    return list(db.session.scalars(select(Delivery).where(Delivery.channel == "sms")
                                   .order_by(Delivery.id)))


def _receipt(client, app, body, token=None):
    token = token or app.config["NOTIFY_RECEIPT_TOKEN"]
    return client.post("/notify/receipts", json=body, csrf=False,
                       headers={"Authorization": f"Bearer {token}"})


# --------------------------------------------------------------------------- done when
def test_confirmed_resident_gets_an_urgent_alert_by_text_and_the_receipt_marks_it_delivered(
        app, client, login, make_resident, make_staff, notify_api, mail):
    resident = make_resident()  # follows the ward and the category; chose nothing by text:
    login(client, resident)
    _confirm_by_text(client, notify_api, resident)
    officer = make_staff("officer", wards=[ST_JAMES])
    alert = _alert(officer, urgent=True)  # urgent alerts go by text to every confirmed number

    [row] = _sms_rows()
    assert row.user_id == resident.id and row.state == "queued"
    notify_api.reset()
    result = deliver_due()
    assert result["sent"] == 2  # the email and the text
    [text] = notify_api.sms()
    payload = text["payload"]
    # As Notify's API documents a text: the number, the template, its placeholders, our reference.
    assert payload["phone_number"] == E164
    assert payload["template_id"] == app.config["NOTIFY_SMS_TEMPLATE_ID"]
    assert payload["reference"] == f"delivery-{row.id}"
    assert payload["personalisation"] == {
        "title": "Car break-ins on Vincent Square",
        "line": "Three cars broken into overnight.",
        "link": f"http://wardline.test/alerts/{alert.id}"}
    # The JWT the real client signed: checked again here, independently of the fake.
    assert text["claims"]["iss"] == notify_api.service_id
    assert abs(text["claims"]["iat"] - utcnow().timestamp()) < 30
    assert notify_api.problems == []
    db.session.expire_all()
    assert db.session.get(Delivery, row.id).state == "sent"  # accepted by Notify

    answer = _receipt(client, app, notify_api.receipt(text, "delivered"))
    assert answer.status_code == 200 and answer.get_json()["result"] == "updated"
    db.session.expire_all()
    assert db.session.get(Delivery, row.id).state == "delivered"
    # The officer's delivery table counts it as sent, on the text-message row.
    login(client, officer)
    page = client.get(f"/officer/alerts/{alert.id}").get_data(as_text=True)
    assert 'data-channel="sms" data-state="sent">1<' in page


def test_the_fake_refuses_a_token_not_signed_with_the_keys_secret(notify_api):
    """The fake really checks the JWT: a token signed with another secret, or too old, or
    for another service, is refused as Notify refuses it."""
    import requests
    now = int(utcnow().timestamp())
    body = {"phone_number": E164, "template_id": notify_api.sms_template}
    for claims, secret in (({"iss": notify_api.service_id, "iat": now}, "not-the-secret-of-this-service-at-all"),
                           ({"iss": notify_api.service_id, "iat": now - 60}, notify_api.secret),
                           ({"iss": "another-service", "iat": now}, notify_api.secret)):
        token = jwt.encode(claims, secret, algorithm="HS256")
        answer = requests.post(notify_api.base_url + "/v2/notifications/sms", json=body,
                               headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert answer.status_code == 403
        assert answer.json()["errors"][0]["error"] == "AuthError"
    good = jwt.encode({"iss": notify_api.service_id, "iat": now}, notify_api.secret,
                      algorithm="HS256")
    answer = requests.post(notify_api.base_url + "/v2/notifications/sms", json=body,
                           headers={"Authorization": f"Bearer {good}"}, timeout=5)
    assert answer.status_code == 201 and answer.json()["template"]["id"] == notify_api.sms_template


# --------------------------------------------------------------------------- who is texted
def test_non_urgent_alerts_text_only_the_residents_who_chose_the_category(
        app, client, login, make_resident, make_staff, notify_api, htmx_headers):
    chose = make_resident()
    _text_resident(chose, categories=("prevention",))
    other = make_resident()
    _text_resident(other, "+447911123457", categories=("events",))
    make_resident()  # no number
    officer = make_staff("officer", wards=[ST_JAMES])

    login(client, officer)
    form = {"title": "Bike marking", "body": "Bring your bike.", "category": "prevention",
            "scope": "wards", "wards": [str(get_ward(ST_JAMES).id)],
            "channels": ["email", "sms"], "when": "now"}
    preview = client.post("/officer/alerts/preview", data=form, headers=htmx_headers)
    assert "1 by text message" in preview.get_data(as_text=True)
    urgent = client.post("/officer/alerts/preview", headers=htmx_headers,
                         data={**form, "urgent": "y"}).get_data(as_text=True)
    assert "2 by text message" in urgent
    no_sms = client.post("/officer/alerts/preview", headers=htmx_headers,
                         data={**form, "channels": ["email"]}).get_data(as_text=True)
    assert "0 by text message" in no_sms

    _alert(officer)
    assert [r.user_id for r in _sms_rows()] == [chose.id]  # the preview's number
    deliver_due()
    assert [t["payload"]["phone_number"] for t in notify_api.sms()] == [E164]


def test_digests_never_go_by_text(app, make_resident, make_staff, notify_api, mail):
    digest = make_resident(email_frequency="digest")
    _text_resident(digest)  # no text categories: only urgent alerts would be texted
    officer = make_staff("officer", wards=[ST_JAMES])
    _alert(officer)
    assert _sms_rows() == []
    assert db.session.scalar(select(func.count()).select_from(Delivery)
                             .where(Delivery.channel == "digest")) == 1
    from webapp.platform.timeutil import london_to_utc
    from datetime import datetime
    tomorrow = (datetime.now() + timedelta(days=1)).replace(hour=7, minute=0, second=0,
                                                           microsecond=0)
    assert send_digests(now=london_to_utc(tomorrow)) == 1
    deliver_due(now=london_to_utc(tomorrow) + timedelta(minutes=1))
    assert _sms_rows() == [] and notify_api.sms() == []
    assert len(mail.wait_for(1)) == 1


def test_a_text_is_short(app):
    long_title = "A very long title " * 10
    values = sms_personalisation(long_title, "**Bold** first line that goes on and on and on and "
                                 "on and on and on and on and on\nsecond line", "/alerts/9",
                                 "https://wardline.example/")
    assert len(values["title"]) <= 50 and values["title"].endswith("...")
    assert len(values["line"]) <= 60 and "second" not in values["line"]
    assert "*" not in values["line"]
    assert values["link"] == "https://wardline.example/alerts/9"
    assert len("\n".join(values.values())) <= 160  # one text-message part


# --------------------------------------------------------------------------- retry rules
def test_notify_429_and_5xx_are_retried_and_400_is_final(app, client, login, make_resident,
                                                         make_staff, notify_api):
    resident = make_resident()
    _text_resident(resident)
    officer = make_staff("officer", wards=[ST_JAMES])
    _alert(officer, urgent=True, channels=("sms",))
    [row] = _sms_rows()
    now = utcnow()
    notify_api.fail_next(429)
    assert deliver_due(now=now)["retry"] == 1
    db.session.expire_all()
    row = db.session.get(Delivery, row.id)
    assert row.state == "queued" and "Notify 429" in row.last_error
    notify_api.fail_next(503)
    assert deliver_due(now=row.next_attempt_at)["retry"] == 1
    db.session.expire_all()
    row = db.session.get(Delivery, row.id)
    assert row.state == "queued" and "Notify 503" in row.last_error
    assert deliver_due(now=row.next_attempt_at)["sent"] == 1
    assert len(notify_api.sms()) == 1

    # A 400 is final: dead at once, listed for admins with Notify's message.
    _alert(officer, urgent=True, channels=("sms",), title="Second alert")
    notify_api.fail_next(400)
    assert deliver_due()["dead"] == 1
    dead = db.session.scalar(select(Delivery).where(Delivery.state == "dead"))
    assert dead.user_id == resident.id and dead.attempts == 1
    assert "Notify 400" in dead.last_error and "team-only API key" in dead.last_error
    login(client, make_staff("admin"))
    html = client.get("/admin/deliveries").get_data(as_text=True)
    assert "Notify 400" in html and "Second alert" in html


def test_a_removed_number_is_not_texted(app, make_resident, make_staff, notify_api):
    resident = make_resident()
    _text_resident(resident)
    officer = make_staff("officer", wards=[ST_JAMES])
    _alert(officer, urgent=True, channels=("sms",))
    from webapp.accounts.phone import remove_number
    remove_number(resident)
    db.session.commit()
    assert deliver_due()["gone"] == 1
    assert notify_api.sms() == []


# --------------------------------------------------------------------------- receipts
def test_receipts_need_the_bearer_token_and_failures_are_recorded(
        app, client, make_resident, make_staff, notify_api):
    resident = make_resident()
    _text_resident(resident)
    officer = make_staff("officer", wards=[ST_JAMES])
    _alert(officer, urgent=True, channels=("sms",))
    deliver_due()
    [text] = notify_api.sms()
    [row] = _sms_rows()
    body = notify_api.receipt(text, "delivered")
    assert _receipt(client, app, body, token="wrong-token").status_code == 401
    assert client.post("/notify/receipts", json=body, csrf=False).status_code == 401
    assert _receipt(client, app, ["not", "an", "object"]).status_code == 400
    db.session.expire_all()
    assert db.session.get(Delivery, row.id).state == "sent"

    # permanent-failure: dead, with the reason, on the admins' page.
    assert _receipt(client, app, notify_api.receipt(text, "permanent-failure")).status_code == 200
    db.session.expire_all()
    dead = db.session.get(Delivery, row.id)
    assert dead.state == "dead" and "permanent-failure" in dead.last_error
    # A late "delivered" never moves it back; an unknown reference is acknowledged.
    assert _receipt(client, app, body).get_json()["result"] == "unchanged"
    assert _receipt(client, app, {**body, "reference": None}).get_json()["result"] == "ignored"


def test_a_temporary_failure_receipt_queues_a_retry(app, client, make_resident, make_staff,
                                                    notify_api):
    resident = make_resident()
    _text_resident(resident)
    _alert(make_staff("officer", wards=[ST_JAMES]), urgent=True, channels=("sms",))
    deliver_due()
    [text] = notify_api.sms()
    assert _receipt(client, app, notify_api.receipt(text, "temporary-failure")).status_code == 200
    [row] = _sms_rows()
    assert row.state == "queued" and "temporary-failure" in row.last_error
    deliver_due(now=row.next_attempt_at)
    assert len(notify_api.sms()) == 2


def test_receipts_are_off_without_a_token(app, client, notify_api):
    app.config["NOTIFY_RECEIPT_TOKEN"] = None
    assert client.post("/notify/receipts", json={}, csrf=False,
                       headers={"Authorization": "Bearer None"}).status_code == 404


# --------------------------------------------------------------------------- STOP
def test_stop_from_a_number_turns_texts_off(app, client, login, make_resident, make_staff,
                                            notify_api):
    resident = make_resident()
    _text_resident(resident, categories=("prevention",))
    officer = make_staff("officer", wards=[ST_JAMES])
    _alert(officer, urgent=True, channels=("sms",))  # waiting in the outbox
    inbound = {"id": "d8b0a8a2-6a37-4b63-9a5c-1c1f2e6b1a11", "source_number": "447911123456",
               "destination_number": "07700900000", "message": "Stop",
               "date_received": "2026-11-26T12:00:00.000000Z"}
    token = app.config["NOTIFY_INBOUND_TOKEN"]
    assert client.post("/notify/inbound", json=inbound, csrf=False,
                       headers={"Authorization": "Bearer nope"}).status_code == 401
    answer = client.post("/notify/inbound", json=inbound, csrf=False,
                         headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.get_json() == {"result": "stopped", "accounts": 1}
    db.session.expire_all()
    assert db.session.get(SmsNumber, resident.id).stopped_at is not None
    [row] = _sms_rows()
    assert row.state == "gone" and row.last_error == "STOP received"
    _alert(officer, urgent=True, channels=("sms",), title="After STOP")
    assert len(_sms_rows()) == 1  # no new text row
    deliver_due()
    assert notify_api.sms() == []
    login(client, resident)
    assert "You replied STOP" in client.get("/settings/phone").get_data(as_text=True)
    # START turns them on again.
    client.post("/notify/inbound", json={**inbound, "message": "START"}, csrf=False,
                headers={"Authorization": f"Bearer {token}"})
    db.session.expire_all()
    assert db.session.get(SmsNumber, resident.id).stopped_at is None


# --------------------------------------------------------------------------- email by Notify
def test_email_can_go_through_notify_instead_of_smtp(app, make_resident, notify_api, mail):
    from webapp.delivery import Event, notify
    app.config["NOTIFY_EMAIL_TEMPLATE_ID"] = notify_api.email_template
    resident = make_resident()
    notify(resident, Event(kind="reply", source_type="message", source_id=3,
                           title="Your ward team replied", body="We will patrol there.",
                           url="/messages/3"))
    db.session.commit()
    assert deliver_due()["sent"] == 1
    [email] = notify_api.emails()
    payload = email["payload"]
    assert payload["email_address"] == resident.email
    assert payload["template_id"] == notify_api.email_template
    assert payload["personalisation"]["subject"]
    assert "We will patrol there." in payload["personalisation"]["body"]
    assert payload["reference"].startswith("delivery-")
    assert notify_api.problems == [] and mail.messages == []  # not by SMTP
