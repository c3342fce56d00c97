"""Helpers for the accounts tests: read sign-in links out of emails, sign up by link, sign
an officer in through both steps."""
from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pyotp

STAFF_PASSWORD = "correct horse battery staple"  # the ``enrolled_officer`` fixture's
LINK = re.compile(r"http://wardline\.test(/signin/[A-Za-z0-9._\-]+)")


def text_of(msg) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


def signin_path(msg) -> str:
    """The path of the sign-in link in ``msg`` (asserting the HTML part has it too)."""
    match = LINK.search(text_of(msg))
    assert match, text_of(msg)
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert match.group(1) in html
    return urlsplit(match.group(0)).path


def sign_up_and_confirm(client, mail, email="sam@example.org", name="Sam", *, count=1):
    """Sign up through the pages, follow the emailed link, press Continue."""
    response = client.post("/signup", data={"email": email, "display_name": name}, follow_redirects=True)
    assert response.status_code == 200, response.get_data(as_text=True)
    path = signin_path(mail.wait_for(count)[-1])
    assert client.get(path).status_code == 200
    response = client.post(path)
    assert response.status_code == 303
    return response


def officer_signed_in(app, officer, step=0):
    """A new browser signed in as ``officer`` (the ``enrolled_officer`` fixture) through the
    real two steps: the password, then the authenticator code ``step`` periods ahead (each
    sign-in of a test needs its own code: a code is accepted once)."""
    client = app.test_client()
    client.post("/officer/login", data={"email": officer.email, "password": STAFF_PASSWORD})
    code = pyotp.TOTP(officer.totp_secret).at(int(time.time()) + 30 * step)
    assert client.post("/officer/login/verify", data={"code": code}).status_code == 303
    assert client.get("/officer/inbox").status_code == 200
    return client
