"""Signing out ends the session on the server (issue 9, point 4): saved session and
remember cookies replayed after sign-out sign nobody in; "Sign out of all devices";
staff sessions end after 30 minutes idle and 12 hours in all (configurable)."""
from __future__ import annotations

from tests.accounts.helpers import officer_signed_in, signin_path
from webapp.extensions import db


def _cookies(client) -> dict[str, str]:
    return {name: client.get_cookie(name).value
            for name in ("session", "remember_token") if client.get_cookie(name) is not None}


def _replay(app, cookies: dict[str, str]):
    """A new browser holding only ``cookies`` (copied from another one)."""
    other = app.test_client()
    for name, value in cookies.items():
        other.set_cookie(name, value)
    return other


def _resident_signed_in(app, mail, resident, n=1):
    client = app.test_client()
    client.post("/login", data={"email": resident.email})
    path = signin_path(mail.wait_for(n)[-1])
    assert client.post(path).status_code == 303
    assert client.get("/settings").status_code == 200
    return client


def _signed_in(client) -> bool:
    return client.get("/settings").status_code == 200


def test_resident_cookies_saved_before_sign_out_no_longer_work(app, mail, make_resident):
    resident = make_resident()
    client = _resident_signed_in(app, mail, resident)
    saved = _cookies(client)
    assert set(saved) == {"session", "remember_token"}
    # Both copies work before sign-out (so the checks below mean something).
    assert _signed_in(_replay(app, saved))
    assert _signed_in(_replay(app, {"remember_token": saved["remember_token"]}))

    assert client.post("/logout").status_code == 303
    assert not _signed_in(client)
    assert not _signed_in(_replay(app, saved))
    assert not _signed_in(_replay(app, {"session": saved["session"]}))
    assert not _signed_in(_replay(app, {"remember_token": saved["remember_token"]}))


def test_signing_out_on_one_device_keeps_the_others(app, mail, make_resident):
    resident = make_resident()
    phone = _resident_signed_in(app, mail, resident, 1)
    laptop = _resident_signed_in(app, mail, resident, 2)
    laptop.post("/logout")
    assert not _signed_in(laptop) and _signed_in(phone)


def test_sign_out_of_all_devices(app, mail, make_resident):
    resident = make_resident()
    phone = _resident_signed_in(app, mail, resident, 1)
    laptop = _resident_signed_in(app, mail, resident, 2)
    saved = _cookies(laptop)
    client = app.test_client()
    client.post("/login", data={"email": resident.email})
    unused_link = signin_path(mail.wait_for(3)[-1])

    page = phone.get("/settings")
    assert 'action="/settings/sign-out-everywhere"' in page.text
    assert "Sign out of all devices" in page.text
    # CSRF is required (a plain form, no JavaScript needed).
    assert phone.post("/settings/sign-out-everywhere", csrf=False).status_code == 400
    assert _signed_in(laptop)
    response = phone.post("/settings/sign-out-everywhere")
    assert response.status_code == 303
    for browser in (phone, laptop, _replay(app, saved),
                    _replay(app, {"remember_token": saved["remember_token"]})):
        assert not _signed_in(browser)
    assert client.post(unused_link).status_code == 400  # the emailed link died too


def test_officer_cookie_saved_before_sign_out_no_longer_works(app, enrolled_officer):
    client = officer_signed_in(app, enrolled_officer)
    saved = _cookies(client)
    assert _replay(app, saved).get("/officer/inbox").status_code == 200
    assert client.post("/officer/logout").status_code == 303
    assert client.get("/officer/inbox").status_code == 302
    assert _replay(app, saved).get("/officer/inbox").status_code == 302


def _age_staff_session(client, *, since=0, seen=0):
    with client.session_transaction() as sess:
        sess["staff_since"] -= since
        sess["staff_seen"] -= seen


def test_staff_session_ends_after_30_minutes_idle(app, enrolled_officer):
    client = officer_signed_in(app, enrolled_officer)
    _age_staff_session(client, since=29 * 60, seen=29 * 60)
    assert client.get("/officer/inbox").status_code == 200  # activity: the clock restarts
    _age_staff_session(client, seen=29 * 60)
    assert client.get("/officer/inbox").status_code == 200
    _age_staff_session(client, seen=31 * 60)
    response = client.get("/officer/inbox")
    assert response.status_code == 302 and "/officer/login" in response.headers["Location"]
    with client.session_transaction() as sess:
        assert "mfa_user_id" not in sess and "_user_id" not in sess


def test_staff_session_ends_after_12_hours_however_active(app, enrolled_officer):
    client = officer_signed_in(app, enrolled_officer)
    _age_staff_session(client, since=12 * 3600 - 60)
    assert client.get("/officer/inbox").status_code == 200
    _age_staff_session(client, since=120)
    assert client.get("/officer/inbox").status_code == 302


def test_staff_session_limits_are_settings(app, enrolled_officer):
    app.config.update(STAFF_IDLE_TIMEOUT=60, STAFF_SESSION_MAX_AGE=600)
    try:
        client = officer_signed_in(app, enrolled_officer)
        _age_staff_session(client, seen=61)
        assert client.get("/officer/inbox").status_code == 302
        client = officer_signed_in(app, enrolled_officer, step=1)
        _age_staff_session(client, since=601)
        assert client.get("/officer/inbox").status_code == 302
    finally:
        app.config.update(STAFF_IDLE_TIMEOUT=30 * 60, STAFF_SESSION_MAX_AGE=12 * 3600)


def test_polling_is_not_activity(app, enrolled_officer, make_resident):
    from webapp.threads import services as threads
    resident = make_resident(ward="E05013806")
    conversation = threads.start_conversation(resident, resident.home_ward, "Bins",
                                              "The bins were not emptied.")
    db.session.commit()
    client = officer_signed_in(app, enrolled_officer)
    _age_staff_session(client, seen=20 * 60)
    poll = client.get(f"/officer/messages/{conversation.id}/poll?after=0")
    assert poll.status_code in (200, 204)
    _age_staff_session(client, seen=11 * 60)  # 31 minutes since the last real request
    assert client.get("/officer/inbox").status_code == 302
