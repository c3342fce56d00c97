"""Failed staff sign-ins (issue 9, point 8): no account lock that anyone can trigger, but a
throttle per account and source with growing delays; the officer's own known device still
signs in; the same answer for every address; the officer is emailed when their account is
being guessed."""
from __future__ import annotations

import re
import time
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select, update

from webapp.accounts import throttle
from webapp.accounts.passwords import hash_password
from webapp.delivery.models import Delivery
from webapp.delivery.worker import deliver_due
from webapp.extensions import db, limiter
from webapp.platform.timeutil import utcnow

PASSWORD = "correct horse battery staple"
ATTACKER = "203.0.113.9"
OFFICE = "198.51.100.7"


@pytest.fixture
def officer(make_staff):
    user = make_staff("officer", wards=["E05013806"], email_address="jane@police.example",
                      name="Jane Smith")
    user.password_hash = hash_password(PASSWORD)
    user.totp_secret = pyotp.random_base32()
    user.totp_confirmed_at = utcnow()
    db.session.commit()
    return user


def browser(app, ip):
    """A browser whose requests come from ``ip``."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def password_step(client, email, password):
    return client.post("/officer/login", data={"email": email, "password": password})


def error_of(response) -> str:
    match = re.search(r'<p class="error">(.*?)</p>', response.text, re.S)
    return match.group(1) if match else ""


def full_sign_in(client, officer, step=0):
    assert password_step(client, officer.email, PASSWORD).status_code == 303
    code = pyotp.TOTP(officer.totp_secret).at(int(time.time()) + 30 * step)
    response = client.post("/officer/login/verify", data={"code": code})
    assert response.status_code == 303, error_of(response)
    return response


def end_waits():
    """Let every waiting source try again (as if the delay had passed, and the per-IP
    cap on sign-in POSTs with it)."""
    db.session.execute(update(throttle.LoginThrottle).values(
        blocked_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    limiter.reset()


def test_wrong_passwords_never_lock_the_officer_out_of_their_own_device(app, officer):
    phone = browser(app, OFFICE)
    full_sign_in(phone, officer)  # this browser is now a known device (signed cookie)
    assert phone.get_cookie("wardline_device", path="/officer") is not None
    phone.post("/officer/logout")
    # Someone behind the same office address tries wrong passwords until slowed down
    # (by the per-account throttle, then by the per-IP cap on sign-in POSTs).
    attacker = browser(app, OFFICE)
    answers = [password_step(attacker, officer.email, "wrong password!") for _ in range(12)]
    assert "Wait 1 minute" in error_of(answers[app.config["LOGIN_FREE_ATTEMPTS"] - 1])
    assert answers[-1].status_code == 429
    refused = password_step(attacker, officer.email, PASSWORD)  # even the right one, from there
    assert refused.status_code in (422, 429) and "/officer/login/verify" not in \
        refused.headers.get("Location", "")
    # The officer, on their own device, signs in at once.
    full_sign_in(phone, officer, step=1)
    assert phone.get("/officer/inbox").status_code == 200


def test_delays_grow_per_account_and_source(app, officer):
    attacker = browser(app, ATTACKER)
    free = app.config["LOGIN_FREE_ATTEMPTS"]
    for _ in range(free - 1):
        response = password_step(attacker, officer.email, "wrong password!")
        assert "do not match" in error_of(response)
    waits = []
    for _ in range(4):
        response = password_step(attacker, officer.email, "wrong password!")
        assert response.status_code == 422
        waits.append(error_of(response))
        # While waiting, nothing is checked: the right password is refused the same way.
        assert error_of(password_step(attacker, officer.email, PASSWORD)).startswith("Too many")
        end_waits()
    assert [re.search(r"Wait (\d+) minute", w).group(1) for w in waits] == ["1", "2", "4", "8"]
    # Another address from the same source, and the same account from another source,
    # are not slowed down.
    other = browser(app, "192.0.2.44")
    assert "do not match" in error_of(password_step(other, officer.email, "wrong password!"))
    assert "do not match" in error_of(password_step(attacker, "someone@police.example", "x" * 12))
    # The delays stop at LOGIN_DELAY_MAX.
    app.config["LOGIN_DELAY_MAX"] = 120
    try:
        assert "Wait 2 minutes" in error_of(password_step(attacker, officer.email, "wrong!!!!"))
    finally:
        app.config["LOGIN_DELAY_MAX"] = 3600


def test_same_answers_for_staff_residents_and_unknown_addresses(app, officer, make_resident):
    resident = make_resident(email_address="sam@example.org")
    answers = {}
    for n, email in enumerate((officer.email, resident.email, "nobody@police.example")):
        client = browser(app, f"192.0.2.{n + 1}")
        answers[email] = [(r.status_code, error_of(r)) for r in
                          (password_step(client, email, "wrong password!") for _ in range(7))]
    first, *others = answers.values()
    assert all(other == first for other in others), answers
    texts = " ".join(text for _, text in first)
    assert "locked" not in texts.lower() and "Wait 1 minute" in texts


def test_wrong_codes_are_throttled_too(app, officer):
    attacker = browser(app, ATTACKER)  # knows the password, not the phone
    assert password_step(attacker, officer.email, PASSWORD).status_code == 303
    messages = [error_of(attacker.post("/officer/login/verify", data={"code": "123456"}))
                for _ in range(app.config["LOGIN_FREE_ATTEMPTS"] + 1)]
    assert "did not match" in messages[0] and messages[-1].startswith("Too many")
    code = pyotp.TOTP(officer.totp_secret).now()
    assert attacker.post("/officer/login/verify", data={"code": code}).status_code == 422
    assert attacker.get("/officer/inbox").status_code == 302
    # The officer elsewhere is unaffected.
    phone = browser(app, OFFICE)
    full_sign_in(phone, officer, step=1)


def test_officer_is_emailed_when_their_account_is_guessed(app, mail, officer, make_resident):
    resident = make_resident(email_address="sam@example.org")
    # Five wrong passwords from five addresses: no source is slowed down, but the account
    # is being guessed.
    for n in range(app.config["LOGIN_ALERT_AFTER"]):
        password_step(browser(app, f"192.0.2.{n + 10}"), officer.email, "wrong password!")
        password_step(browser(app, f"192.0.2.{n + 10}"), resident.email, "wrong password!")
        password_step(browser(app, f"192.0.2.{n + 10}"), "nobody@police.example", "wrong!!!")
    rows = db.session.scalars(select(Delivery)).all()
    assert [(row.user_id, row.channel) for row in rows] == [(officer.id, "email")]
    deliver_due()
    message = mail.wait_for(1)[0]
    assert message["To"] == officer.email
    assert "trying to sign in" in message["Subject"]
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "5 attempts" in body and "not locked" in body
    # At most one alert an hour.
    for n in range(5):
        password_step(browser(app, f"192.0.2.{n + 30}"), officer.email, "wrong password!")
    assert db.session.query(Delivery).count() == 1
    from webapp.platform.audit import AuditEvent
    assert db.session.scalar(select(AuditEvent.action).where(
        AuditEvent.action == "staff.sign_in_guessed")) is not None


def test_admin_sees_and_clears_failed_attempts(app, officer, make_staff, login):
    attacker = browser(app, ATTACKER)
    for _ in range(6):
        password_step(attacker, officer.email, "wrong password!")
    admin = make_staff("admin")
    client = app.test_client()
    login(client, admin)
    page = client.get(f"/admin/officers/{officer.id}")
    assert "5 failed sign-in attempts" in page.text  # the 6th waited: not counted
    assert client.post(f"/admin/officers/{officer.id}/unlock").status_code == 303
    assert "do not match" in error_of(password_step(attacker, officer.email, "wrong password!"))


def test_nothing_stores_addresses_in_clear(app, officer):
    password_step(browser(app, ATTACKER), officer.email, "wrong password!")
    row = db.session.scalars(select(throttle.LoginThrottle)).one()
    assert officer.email not in row.account_key and ATTACKER not in row.source_key
    assert len(row.account_key) == len(row.source_key) == 64


def test_a_known_device_counts_only_for_its_own_officer(app, officer, make_staff):
    colleague = make_staff("officer", email_address="sam@police.example")
    colleague.password_hash = hash_password(PASSWORD)
    db.session.commit()
    phone = browser(app, OFFICE)
    full_sign_in(phone, officer)
    phone.post("/officer/logout")
    # Jane's device guessing Sam's password is an ordinary source: the per-account delays
    # and the per-IP cap both apply.
    answers = [password_step(phone, colleague.email, "wrong password!") for _ in range(11)]
    assert "Wait 1 minute" in error_of(answers[app.config["LOGIN_FREE_ATTEMPTS"] - 1])
    assert answers[-1].status_code == 429
