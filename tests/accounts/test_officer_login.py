"""Officer and admin sign-in: password (argon2) then TOTP; enrolment with a QR code and
backup codes; per-address throttling; no officer pages without the second factor; sign
out. Failed attempts: tests/accounts/test_throttle.py."""
from __future__ import annotations

import re

import pyotp
import pytest

from webapp.accounts import mfa
from webapp.accounts.passwords import hash_password
from webapp.extensions import db
from webapp.platform.timeutil import utcnow

PASSWORD = "correct horse battery staple"


@pytest.fixture
def officer(make_staff):
    user = make_staff("officer", wards=["E05013806"], email_address="jane@police.example",
                      name="Jane Smith")
    user.password_hash = hash_password(PASSWORD)
    db.session.commit()
    return user


@pytest.fixture
def enrolled(officer):
    officer.totp_secret = pyotp.random_base32()
    officer.totp_confirmed_at = utcnow()
    db.session.commit()
    return officer


def _password_step(client, email="jane@police.example", password=PASSWORD):
    return client.post("/officer/login", data={"email": email, "password": password})


def _code_at(secret, seconds_from_now=0):
    return pyotp.TOTP(secret).at(_epoch() + seconds_from_now)


def _epoch():
    from datetime import timezone
    return int(utcnow().replace(tzinfo=timezone.utc).timestamp())


def test_first_sign_in_enrols_totp_with_inline_svg_qr_and_backup_codes(client, officer):
    response = _password_step(client)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/officer/login/enrol")
    # Not signed in yet: officer pages still refuse.
    assert client.get("/officer/inbox").status_code == 302
    page = client.get("/officer/login/enrol")
    assert page.status_code == 200
    svg = re.search(r"<svg.*?</svg>", page.text, re.S).group(0)
    assert "<path" in svg and "style" not in svg and "<script" not in svg.lower()
    assert "'unsafe-inline'" not in page.headers["Content-Security-Policy"]
    secret = re.search(r'<code class="secret"[^>]*>([A-Z2-7 ]+)</code>', page.text).group(1).replace(" ", "")
    wrong = client.post("/officer/login/enrol", data={"code": "000000"})
    assert wrong.status_code == 422
    done = client.post("/officer/login/enrol", data={"code": _code_at(secret)})
    assert done.status_code == 200
    codes = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", done.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    db.session.refresh(officer)
    assert officer.totp_confirmed_at is not None and officer.totp_secret == secret
    # Stored hashed only.
    stored = [c.code_hash for c in db.session.query(mfa.BackupCode).filter_by(user_id=officer.id)]
    assert len(stored) == 10 and not set(codes) & set(stored)
    assert client.get("/officer/inbox").status_code == 200
    # Not remembered beyond the browser session: no remember cookie, a session cookie
    # without an expiry date.
    set_cookies = done.headers.getlist("Set-Cookie")
    assert not any(c.startswith("remember_token=") for c in set_cookies)
    session_cookie = next(c for c in set_cookies if c.startswith("session="))
    assert "Expires=" not in session_cookie and "Max-Age" not in session_cookie
    with client.session_transaction() as sess:
        assert sess.get("mfa_user_id") == officer.id
        assert not sess.permanent


def test_sign_in_with_totp_and_no_replay(client, app, enrolled):
    response = _password_step(client)
    assert response.headers["Location"].endswith("/officer/login/verify")
    code = _code_at(enrolled.totp_secret)
    response = client.post("/officer/login/verify", data={"code": code})
    assert response.status_code == 303
    assert client.get("/officer/inbox").status_code == 200
    # The same code cannot be used again (another browser, same minute).
    other = app.test_client()
    _password_step(other)
    replay = other.post("/officer/login/verify", data={"code": code})
    assert replay.status_code == 422
    assert other.get("/officer/inbox").status_code == 302


def test_next_url_is_kept_but_only_local(client, enrolled):
    client.post("/officer/login?next=/officer/inbox", data={"email": enrolled.email, "password": PASSWORD})
    response = client.post("/officer/login/verify", data={"code": _code_at(enrolled.totp_secret)})
    assert response.headers["Location"].endswith("/officer/inbox")
    client.post("/officer/logout")
    client.post("/officer/login?next=//evil.example/x", data={"email": enrolled.email, "password": PASSWORD})
    response = client.post("/officer/login/verify", data={"code": _code_at(enrolled.totp_secret, 30)})
    assert "evil.example" not in response.headers["Location"]


def test_backup_code_works_once(client, app, officer):
    officer.totp_secret = pyotp.random_base32()
    officer.totp_confirmed_at = utcnow()
    codes = mfa.regenerate_backup_codes(officer)
    db.session.commit()
    _password_step(client)
    response = client.post("/officer/login/verify", data={"code": codes[0].upper()})
    assert response.status_code == 303
    assert client.get("/officer/inbox").status_code == 200
    again = app.test_client()
    _password_step(again)
    assert again.post("/officer/login/verify", data={"code": codes[0]}).status_code == 422
    assert mfa.backup_codes_left(officer) == 9


def test_wrong_password_and_unknown_email_look_the_same(client, officer, make_resident):
    resident = make_resident()
    wrong = _password_step(client, password="nope nope nope")
    unknown = _password_step(client, email="nobody@police.example")
    as_resident = _password_step(client, email=resident.email)
    for response in (wrong, unknown, as_resident):
        assert response.status_code == 422
        assert "do not match a staff account" in response.text


def test_login_posts_are_throttled_per_address(client, officer):
    codes = [client.post("/officer/login", data={"email": f"x{i}@police.example",
                                                 "password": "whatever pass"}).status_code
             for i in range(11)]
    assert codes[:10] == [422] * 10
    assert codes[10] == 429


def test_officer_without_second_factor_gets_no_officer_page(client, officer, login):
    login(client, officer, mfa=False)  # e.g. a session from a resident email link
    for url in ("/officer/inbox", "/officer/posts/new", "/staff"):
        assert client.get(url).status_code == 403


def test_a_fresh_sign_in_drops_a_stale_second_factor_flag(app, officer):
    """login_user() (the resident email-link path) never inherits ``mfa_user_id``."""
    from flask import session
    from flask_login import login_user
    with app.test_request_context("/"):
        session["mfa_user_id"] = officer.id
        login_user(officer)
        assert "mfa_user_id" not in session
        assert not officer.is_fully_authenticated


def test_sign_out_ends_officer_access(client, enrolled):
    _password_step(client)
    client.post("/officer/login/verify", data={"code": _code_at(enrolled.totp_secret)})
    assert client.get("/officer/inbox").status_code == 200
    response = client.post("/officer/logout")
    assert response.status_code == 303
    assert client.get("/officer/inbox").status_code == 302
    with client.session_transaction() as sess:
        assert "mfa_user_id" not in sess


def test_general_sign_out_also_drops_second_factor(client, enrolled):
    _password_step(client)
    client.post("/officer/login/verify", data={"code": _code_at(enrolled.totp_secret)})
    client.post("/logout")
    with client.session_transaction() as sess:
        assert "mfa_user_id" not in sess
    assert client.get("/officer/inbox").status_code == 302


def test_pending_password_step_expires(client, enrolled):
    _password_step(client)
    with client.session_transaction() as sess:
        sess["staff_pending"]["at"] -= 11 * 60
        sess.modified = True
    response = client.post("/officer/login/verify", data={"code": _code_at(enrolled.totp_secret)})
    assert response.status_code == 303 and response.headers["Location"].endswith("/officer/login")
