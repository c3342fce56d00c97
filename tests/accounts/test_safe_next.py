"""One ``safe_next()`` for the whole app (issue 9, points 3 and 10): after signing in,
every route that takes ``next`` goes only to a path on this site, never to another host,
and no value is a 500."""
from __future__ import annotations

import pyotp
import pytest

from tests.accounts.helpers import STAFF_PASSWORD, signin_path
from webapp.platform.security import safe_next


# Values as they arrive in ``request.args`` (already percent-decoded).
NASTY = [
    "\t/evil.example/",          # the review's example: browsers drop the tab → //evil.example/
    "/\t/evil.example/",
    "/\n/evil.example/",
    "\n/evil.example",
    "/ok\r\nSet-Cookie: x=1",    # header injection / the 500
    "/\r/evil.example",
    "//evil.example/",
    "///evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "/ok\\..\\evil",
    " //evil.example/",
    "https://evil.example/",
    "http:/evil.example",
    "javascript:alert(1)",
    "evil.example",
    "/\x7f/evil.example",
    "/\u2028/evil.example",
    "/\u200b/evil.example",
    "/" + "a" * 600,
    "",
]


@pytest.mark.parametrize("value", NASTY)
def test_safe_next_refuses(value):
    assert safe_next(value) is None


@pytest.mark.parametrize("value", ["/", "/officer/inbox", "/alerts/3?x=1&y=%2F%2Fa#top",
                                   "/wards/E05013806"])
def test_safe_next_keeps_local_paths(value):
    assert safe_next(value) == value


def test_there_is_one_safe_next():
    """The sign-in routes use the shared function, not copies of their own."""
    import inspect

    from webapp.accounts import officer, signin, signin_routes
    for module in (officer, signin_routes, signin):
        source = inspect.getsource(module)
        assert "def safe_next" not in source and "def _safe_next" not in source
        assert module.safe_next is safe_next


def _host_a_browser_opens(location: str) -> str:
    """The host a browser goes to for ``Location: location`` on http://wardline.test/,
    read the way the WHATWG URL parser does: C0 controls and spaces trimmed, tabs and
    newlines removed, backslashes taken as slashes."""
    from urllib.parse import urljoin, urlsplit
    cleaned = location.strip("".join(chr(c) for c in range(33)))
    cleaned = "".join(ch for ch in cleaned if ch not in "\t\n\r").replace("\\", "/")
    return urlsplit(urljoin("http://wardline.test/", cleaned)).netloc


def _location_ok(response, default: str | None):
    """A 303 to this site (to ``default`` when given)."""
    assert response.status_code == 303, response.status_code
    location = response.headers["Location"]
    assert _host_a_browser_opens(location) == "wardline.test", location
    if default is not None:
        assert location == default, location


@pytest.mark.parametrize("value", NASTY)
def test_officer_sign_in_never_leaves_the_site(app, enrolled_officer, value):
    client = app.test_client()
    response = client.post("/officer/login", query_string={"next": value},
                           data={"email": enrolled_officer.email, "password": STAFF_PASSWORD})
    assert response.status_code == 303
    code = pyotp.TOTP(enrolled_officer.totp_secret).now()
    _location_ok(client.post("/officer/login/verify", data={"code": code}), "/officer/inbox")


@pytest.mark.parametrize("value", NASTY)
def test_resident_sign_in_link_never_leaves_the_site(app, mail, make_resident, value):
    resident = make_resident(email_address="sam@example.org")
    client = app.test_client()
    page = client.get("/login", query_string={"next": value})
    assert page.status_code == 200 and 'name="next"' not in page.text
    # The form's hidden field and a hand-made POST both go through the same check.
    response = client.post("/login", data={"email": resident.email, "next": value})
    assert response.status_code == 303
    path = signin_path(mail.wait_for(1)[-1])
    # The form strips spaces around the field, so "\t/evil.example/" may arrive as the
    # local path "/evil.example/": fine, as long as it stays on this site.
    _location_ok(client.post(path), None)


@pytest.mark.parametrize("value", NASTY)
def test_ward_choice_next_is_a_mode_not_a_url(client, login, make_resident, value):
    resident = make_resident()
    login(client, resident)
    response = client.post("/survey/ward", query_string={"next": value},
                           data={"ward": "E05013807", "role": "extra"})
    _location_ok(response, "/survey?step=1")
    response = client.post("/survey/ward/remove", query_string={"next": value},
                           data={"ward": "E05013807", "role": "extra"})
    _location_ok(response, "/survey?step=1")


def test_a_local_next_is_kept(app, enrolled_officer):
    client = app.test_client()
    client.post("/officer/login?next=/officer/inbox",
                data={"email": enrolled_officer.email, "password": STAFF_PASSWORD})
    code = pyotp.TOTP(enrolled_officer.totp_secret).now()
    _location_ok(client.post("/officer/login/verify", data={"code": code}), "/officer/inbox")
