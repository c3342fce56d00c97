"""Residents change their email address: a link to the new address confirms it, and the
old address is told once it is done."""
from __future__ import annotations

import re

from webapp.accounts.models import User
from webapp.extensions import db

LINK = re.compile(r"http://wardline\.test(/settings/email/confirm/[A-Za-z0-9._\-]+)")


def _text(msg):
    return msg.get_body(preferencelist=("plain",)).get_content()


def test_change_is_confirmed_by_the_new_address_and_the_old_one_is_told(
        client, login, make_resident, mail, htmx_headers):
    user = make_resident(email_address="old@example.org", name="Sam")
    login(client, user)
    assert "Your email address" in client.get("/settings").get_data(as_text=True)
    response = client.post("/settings/email", data={"email": " New@Example.org "}, headers=htmx_headers)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "sent a link to <strong>new@example.org</strong>" in body
    msg = mail.wait_for(1)[0]
    assert msg["To"] == "new@example.org" and msg["Subject"] == "Confirm your new email address"
    path = LINK.search(_text(msg)).group(1)
    db.session.expire_all()
    assert user.email == "old@example.org"  # nothing changes until confirmed
    # The link works on any device (it proves the new address); a GET only asks.
    other = client.application.test_client()
    page = other.get(path)
    assert page.status_code == 200 and b"Confirm the change" in page.data
    assert page.headers["Cache-Control"] == "no-store"
    done = other.post(path)
    assert done.status_code == 200 and b"Email address changed" in done.data
    db.session.expire_all()
    assert user.email == "new@example.org"
    notice = mail.wait_for(2)[1]
    assert notice["To"] == "old@example.org"
    assert notice["Subject"] == "Your Wardline email address was changed"
    assert "n**@example.org" in _text(notice)
    # Single use.
    again = other.post(path)
    assert again.status_code == 400 and b"no longer works" in again.data


def test_mistakes_and_taken_addresses(client, login, make_resident, mail, htmx_headers):
    user = make_resident(email_address="me@example.org")
    make_resident(email_address="taken@example.org")
    login(client, user)
    for value, message in (("", "Enter your email address"), ("nope", "Enter an email address like"),
                           ("me@example.org", "already your email address")):
        response = client.post("/settings/email", data={"email": value}, headers=htmx_headers)
        assert response.status_code == 422 and message in response.get_data(as_text=True)
        assert f'value="{value}"' in response.get_data(as_text=True)
    plain = client.post("/settings/email", data={"email": "nope"})
    assert plain.status_code == 422 and "<html" in plain.get_data(as_text=True)
    # A taken address: the same answer on the page, and its owner is told (no link).
    response = client.post("/settings/email", data={"email": "taken@example.org"}, headers=htmx_headers)
    assert response.status_code == 200 and "sent a link to" in response.get_data(as_text=True)
    msg = mail.wait_for(1)[0]
    assert msg["To"] == "taken@example.org" and not LINK.search(_text(msg))
    db.session.expire_all()
    assert user.email == "me@example.org"


def test_link_dies_when_the_address_changed_meanwhile_or_after_sign_out_everywhere(
        client, login, make_resident, mail):
    from webapp.accounts.email_change import change_token
    user = make_resident(email_address="a@example.org")
    first = change_token(user, "b@example.org")
    second = change_token(user, "c@example.org")
    assert client.post(f"/settings/email/confirm/{second}").status_code == 200
    response = client.post(f"/settings/email/confirm/{first}")
    assert response.status_code == 400  # the address it was for is gone
    db.session.expire_all()
    assert user.email == "c@example.org"
    third = change_token(user, "d@example.org")
    user.session_version += 1
    db.session.commit()
    assert client.get(f"/settings/email/confirm/{third}").status_code == 400
    assert client.get("/settings/email/confirm/forged").status_code == 400
    assert db.session.get(User, user.id).email == "c@example.org"
