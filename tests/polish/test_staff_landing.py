"""Issue 13 point 11: staff land on the inbox after signing in, and an officer already signed
in who opens the sign-in page goes there too. Point 19: the staff sign-in pages do not offer
residents' "Sign in / Sign up"."""
from __future__ import annotations

import pyotp

from tests.accounts.test_officer_login import PASSWORD


def test_sign_in_lands_on_the_inbox(client, enrolled):
    client.post("/officer/login", data={"email": enrolled.email, "password": PASSWORD})
    response = client.post("/officer/login/verify",
                           data={"code": pyotp.TOTP(enrolled.totp_secret).now()})
    assert response.status_code == 303
    assert response.headers["Location"] == "/officer/inbox"
    assert client.get("/").headers["Location"] == "/officer/inbox"


def test_signed_in_officer_opening_the_login_page_goes_to_the_inbox(client, make_staff, login):
    officer = make_staff("officer", wards=["E05013806"])
    login(client, officer)
    response = client.get("/officer/login")
    assert response.status_code == 303 and response.headers["Location"] == "/officer/inbox"
    # ... or to where they were going
    response = client.get("/officer/login?next=/officer/alerts")
    assert response.headers["Location"] == "/officer/alerts"


def test_officer_without_second_factor_still_sees_the_login_form(client, make_staff, login):
    officer = make_staff("officer", wards=["E05013806"])
    login(client, officer, mfa=False)
    assert client.get("/officer/login").status_code == 200


def test_staff_sign_in_pages_do_not_offer_resident_sign_up(client):
    def nav(path):
        page = client.get(path).text
        return page[page.index('<nav class="site-nav"'):page.index("</nav>")]
    assert 'href="/signup"' not in nav("/officer/login")
    assert 'href="/login"' not in nav("/officer/login")
    assert 'href="/signup"' in nav("/wards")
