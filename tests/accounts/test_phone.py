"""Issue 16: a resident adds a UK mobile number, confirms it with a six-digit code texted
through GOV.UK Notify (the real client library against the fake API on loopback), chooses
which categories come by text, and can remove it. Bad numbers, wrong codes and expired
codes get clear messages next to the field (422), the text typed kept."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from webapp.accounts.phone import (PhoneCode, PhoneError, SmsCategory, SmsNumber,
                                   normalise_mobile)
from webapp.extensions import db
from webapp.platform.timeutil import utcnow

MOBILE = "07911 123456"
E164 = "+447911123456"


def _code_sent(fake, index: int = -1) -> str:
    """The code in the text the fake Notify received (as the phone would show it)."""
    texts = [r for r in fake.sms() if r["payload"]["template_id"] == fake.code_template]
    assert texts, f"no code text reached Notify ({fake.problems})"
    return texts[index]["payload"]["personalisation"]["code"]


def _add(client, number=MOBILE, **kwargs):
    return client.post("/settings/phone", data={"phone": number}, **kwargs)


# --------------------------------------------------------------------------- numbers
@pytest.mark.parametrize("typed", ["07911 123456", "+44 7911 123456", "+44 (0)7911-123456",
                                   "447911123456", " 07911123456 "])
def test_uk_mobiles_are_normalised_to_e164(app, typed):
    assert normalise_mobile(typed) == E164


@pytest.mark.parametrize("typed, message", [
    ("", "Enter your mobile number"),
    ("call me maybe", "using only numbers"),
    ("020 7946 0000", "not a mobile number"),
    ("+33 6 12 34 56 78", "We can only send texts to UK mobiles"),
    ("07911 12345", "not a complete UK mobile number"),
    ("0" * 40, "too long"),
])
def test_bad_numbers_get_a_clear_message_next_to_the_field(client, login, make_resident,
                                                           notify_api, typed, message):
    login(client, make_resident())
    response = _add(client, typed)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'<p class="error" id="phone-error">[^<]*' + re.escape(message), html)
    assert f'value="{typed}"' in html or typed == ""  # the text typed is kept
    with pytest.raises(PhoneError):
        normalise_mobile(typed)
    assert notify_api.received == []  # nothing was texted
    assert db.session.scalar(select(PhoneCode.id)) is None


# --------------------------------------------------------------------------- the code
def test_a_code_is_texted_through_notify_and_confirms_the_number(client, login, make_resident,
                                                                 notify_api):
    resident = make_resident()
    login(client, resident)
    response = _add(client)
    assert response.status_code == 303 and response.headers["Location"].endswith("/settings/phone")
    page = client.get("/settings/phone").get_data(as_text=True)
    assert "We have texted a 6-digit code to 07911 123456" in page
    assert 'name="code"' in page

    [text] = notify_api.sms()
    assert text["payload"]["phone_number"] == E164
    assert text["payload"]["template_id"] == notify_api.code_template
    code = text["payload"]["personalisation"]["code"]
    assert re.fullmatch(r"\d{6}", code)
    # Stored hashed: the code is in no column.
    row = db.session.scalar(select(PhoneCode))
    assert row.phone == E164 and code not in row.code_hash and len(row.code_hash) == 64
    # Not the resident's number until confirmed.
    assert db.session.get(SmsNumber, resident.id) is None

    confirmed = client.post("/settings/phone/confirm", data={"code": code[:3] + " " + code[3:]})
    assert confirmed.status_code == 303
    db.session.expire_all()
    number = db.session.get(SmsNumber, resident.id)
    assert number.phone == E164 and number.stopped_at is None
    assert "is confirmed" in client.get("/settings/phone").get_data(as_text=True)

    # Single use: the same code again is refused.
    again = client.post("/settings/phone/confirm", data={"code": code})
    assert again.status_code == 422
    assert "already been used" in again.get_data(as_text=True)


def test_wrong_codes_are_counted_and_limited(client, login, make_resident, notify_api, app):
    login(client, make_resident())
    _add(client)
    code = _code_sent(notify_api)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    first = client.post("/settings/phone/confirm", data={"code": wrong})
    assert first.status_code == 422
    assert "That code is wrong. Check the text message and try again (4 tries left)." \
        in first.get_data(as_text=True)
    malformed = client.post("/settings/phone/confirm", data={"code": "12ab"})
    assert "Enter the 6-digit code from the text message" in malformed.get_data(as_text=True)
    for _ in range(app.config["SMS_CODE_ATTEMPTS"] - 1):
        last = client.post("/settings/phone/confirm", data={"code": wrong})
    assert "that was the last try" in last.get_data(as_text=True)
    # Even the right code no longer works: a new code is needed.
    right = client.post("/settings/phone/confirm", data={"code": code})
    assert right.status_code == 422
    assert "Too many wrong codes. Send a new code" in right.get_data(as_text=True)
    assert db.session.scalar(select(SmsNumber.user_id)) is None


def test_an_expired_code_is_refused_with_a_clear_message(client, login, make_resident,
                                                         notify_api):
    resident = make_resident()
    login(client, resident)
    _add(client)
    code = _code_sent(notify_api)
    db.session.execute(update(PhoneCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    response = client.post("/settings/phone/confirm", data={"code": code},
                           headers={"HX-Request": "true"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "That code has expired. Codes last 10 minutes: send a new code." in html
    assert html.lstrip().startswith('<div id="phone-section">')  # the fragment for htmx
    assert db.session.get(SmsNumber, resident.id) is None


def test_sending_codes_is_rate_limited_per_account_and_per_number(client, login, make_resident,
                                                                  notify_api, app):
    login(client, make_resident())
    limit = app.config["SMS_CODES_PER_HOUR"]
    for _ in range(limit):
        assert _add(client).status_code == 303
    refused = _add(client)
    assert refused.status_code == 422
    assert f"We have sent {limit} codes in the last hour" in refused.get_data(as_text=True)
    assert len(notify_api.sms()) == limit
    # Only the newest code works.
    first = _code_sent(notify_api, 0)
    if first != _code_sent(notify_api):
        assert client.post("/settings/phone/confirm", data={"code": first}).status_code == 422
    # Another account cannot flood the same phone either.
    client2 = app.test_client()
    login(client2, make_resident())
    assert _add(client2).status_code == 422
    assert len(notify_api.sms()) == limit


def test_notify_refusing_the_number_or_failing_gets_a_message(client, login, make_resident,
                                                              notify_api):
    login(client, make_resident())
    notify_api.fail_next(400)
    refused = _add(client)
    assert refused.status_code == 422
    assert "We could not send a text to that number" in refused.get_data(as_text=True)
    notify_api.fail_next(500)
    down = _add(client, "07911 123457")
    assert down.status_code == 503
    assert "We could not send the text just now" in down.get_data(as_text=True)
    notify_api.fail_next(500)
    swapped = _add(client, "07911 123458", headers={"HX-Request": "true"})
    assert swapped.status_code == 422  # htmx swaps it in place
    assert "We could not send the text just now" in swapped.get_data(as_text=True)


# --------------------------------------------------------------------------- categories, removal
def _confirm(client, notify_api, resident):
    _add(client)
    assert client.post("/settings/phone/confirm",
                       data={"code": _code_sent(notify_api)}).status_code == 303
    db.session.expire_all()
    return db.session.get(SmsNumber, resident.id)


def test_categories_by_text_and_removing_the_number(client, login, make_resident, notify_api,
                                                    htmx_headers):
    resident = make_resident()
    login(client, resident)
    assert _confirm(client, notify_api, resident) is not None
    saved = client.post("/settings/phone/categories",
                        data={"sms_categories": ["appeals", "events"]},
                        headers=htmx_headers)
    assert saved.status_code == 200 and "Saved." in saved.get_data(as_text=True)
    assert sorted(db.session.scalars(select(SmsCategory.category))) == ["appeals", "events"]
    settings = client.get("/settings").get_data(as_text=True)
    assert 'id="text-messages"' in settings and "07911 123456" in settings

    removed = client.post("/settings/phone/remove")
    assert removed.status_code == 303
    db.session.expire_all()
    assert db.session.get(SmsNumber, resident.id) is None
    assert db.session.scalar(select(SmsCategory.user_id)) is None
    assert db.session.scalar(select(PhoneCode.id)) is None
    assert "Your mobile number is removed" in client.get("/settings/phone").get_data(as_text=True)


def test_categories_need_a_confirmed_number(client, login, make_resident, notify_api):
    login(client, make_resident())
    response = client.post("/settings/phone/categories", data={"sms_categories": ["appeals"]})
    assert response.status_code == 422
    assert "Add and confirm a mobile number first." in response.get_data(as_text=True)


def test_the_survey_offers_text_messages(client, login, make_resident):
    resident = make_resident(completed=False)
    resident.survey_step = 2  # the wards are chosen
    db.session.commit()
    login(client, resident)
    page = client.get("/survey?step=2").get_data(as_text=True)
    assert 'href="/settings/phone"' in page and "by text message" in page
    phone_page = client.get("/settings/phone").get_data(as_text=True)
    assert "Back to the survey" in phone_page


def test_privacy_page_names_who_sends_texts(client):
    page = client.get("/privacy").get_data(as_text=True)
    assert 'id="text-messages"' in page
    assert "GOV.UK Notify" in page and "Government Digital Service" in page
    assert "mobile number" in page
