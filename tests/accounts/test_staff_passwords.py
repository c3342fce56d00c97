"""Staff passwords and secret pages (issue 9, point 10): one-time passwords expire and must
be changed at the first sign-in; staff can change their password; pages that show a secret
are never stored (``Cache-Control: no-store``)."""
from __future__ import annotations

import re
from datetime import timedelta

import pyotp
from sqlalchemy import select

from tests.accounts.helpers import STAFF_PASSWORD as PASSWORD, officer_signed_in
from webapp.accounts.models import User
from webapp.accounts.passwords import verify_password
from webapp.extensions import db
from webapp.platform.timeutil import utcnow

NEW_PASSWORD = "seven tired owls under a bridge"


def _secret_from(response) -> str:
    return re.search(r'<code class="secret">([^<]+)</code>', response.text).group(1)


def _admin_creates_officer(client, login, make_staff) -> tuple[User, str]:
    login(client, make_staff("admin"))
    response = client.post("/admin/officers/new", data={
        "email": "ola@police.example", "display_name": "Ola Bello", "rank": "PCSO"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    user = db.session.scalar(select(User).where(User.email == "ola@police.example"))
    return user, _secret_from(response)


def test_one_time_password_expires(app, client, login, make_staff):
    user, password = _admin_creates_officer(client, login, make_staff)
    assert user.password_must_change
    assert abs(user.password_expires_at - (utcnow() + timedelta(hours=72))) < timedelta(minutes=1)
    officer = app.test_client()
    user.password_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = officer.post("/officer/login", data={"email": user.email, "password": password})
    assert response.status_code == 422 and "expired" in response.text
    # An admin's reset gives a new one, which works.
    reset = client.post(f"/admin/officers/{user.id}/reset-password")
    assert reset.headers["Cache-Control"] == "no-store"
    response = officer.post("/officer/login", data={"email": user.email,
                                                    "password": _secret_from(reset)})
    assert response.status_code == 303


def test_one_time_password_lifetime_is_a_setting(app, client, login, make_staff):
    app.config["ONE_TIME_PASSWORD_MAX_AGE"] = 3600
    try:
        user, _ = _admin_creates_officer(client, login, make_staff)
    finally:
        app.config["ONE_TIME_PASSWORD_MAX_AGE"] = 72 * 3600
    assert abs(user.password_expires_at - (utcnow() + timedelta(hours=1))) < timedelta(minutes=1)


def test_first_sign_in_forces_a_new_password(app, client, login, make_staff):
    user, password = _admin_creates_officer(client, login, make_staff)
    officer = app.test_client()
    assert officer.post("/officer/login", data={"email": user.email, "password": password}) \
        .headers["Location"].endswith("/officer/login/enrol")
    enrol = officer.get("/officer/login/enrol")
    assert enrol.headers["Cache-Control"] == "no-store"  # shows the TOTP key
    secret = _secret_from(enrol).replace(" ", "")  # shown in groups of four
    done = officer.post("/officer/login/enrol", data={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"  # backup codes
    assert 'href="/officer/password"' in done.text
    # Nothing else opens until the one-time password is replaced.
    for url in ("/officer/inbox", "/staff", "/officer/alerts"):
        response = officer.get(url)
        assert response.status_code == 302 and response.headers["Location"] == "/officer/password"
    page = officer.get("/officer/password")
    assert page.status_code == 200 and "one-time password" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    # Mistakes are explained next to the field.
    bad = officer.post("/officer/password", data={"current_password": "not it at all",
                                                  "new_password": "short",
                                                  "confirm_password": "other"})
    assert bad.status_code == 422
    assert "Use between 12 and 256 characters." in bad.text
    assert "The two new passwords are different." in bad.text
    assert 'aria-invalid="true"' in bad.text
    wrong = officer.post("/officer/password", data={"current_password": "not it at all",
                                                    "new_password": NEW_PASSWORD,
                                                    "confirm_password": NEW_PASSWORD})
    assert wrong.status_code == 422 and "That is not your current password." in wrong.text
    same = officer.post("/officer/password", data={"current_password": password,
                                                   "new_password": password,
                                                   "confirm_password": password})
    assert same.status_code == 422
    ok = officer.post("/officer/password", data={"current_password": password,
                                                 "new_password": NEW_PASSWORD,
                                                 "confirm_password": NEW_PASSWORD})
    assert ok.status_code == 303 and ok.headers["Location"] == "/officer/inbox"
    assert officer.get("/officer/inbox").status_code == 200  # still signed in here
    db.session.expire_all()
    assert not user.password_must_change and user.password_expires_at is None
    assert verify_password(user.password_hash, NEW_PASSWORD)
    assert not verify_password(user.password_hash, password)


def test_staff_change_their_own_password_and_other_sessions_end(app, enrolled_officer):
    laptop = officer_signed_in(app, enrolled_officer)
    phone = officer_signed_in(app, enrolled_officer, step=1)
    assert 'href="/officer/password"' in laptop.get("/staff").text
    response = laptop.post("/officer/password", data={"current_password": PASSWORD,
                                                      "new_password": NEW_PASSWORD,
                                                      "confirm_password": NEW_PASSWORD})
    assert response.status_code == 303
    assert laptop.get("/officer/inbox").status_code == 200
    assert phone.get("/officer/inbox").status_code == 302
    from webapp.platform.audit import AuditEvent
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "staff.password_change"))


def test_password_page_needs_csrf_and_the_second_factor(app, enrolled_officer, login):
    client = officer_signed_in(app, enrolled_officer)
    response = client.post("/officer/password", csrf=False, data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert response.status_code in (400, 422)
    db.session.expire_all()
    assert verify_password(enrolled_officer.password_hash, PASSWORD)
    half = app.test_client()
    login(half, enrolled_officer, mfa=False)
    assert half.get("/officer/password").status_code == 403
