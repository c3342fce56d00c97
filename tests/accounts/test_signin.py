"""Residents sign up and sign in by emailed link: double opt-in, single use, no leaks."""
import re

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import func, select

from tests.accounts.helpers import sign_up_and_confirm, signin_path, text_of
from webapp.accounts.models import Concern, User
from webapp.extensions import db
from webapp.platform.tokens import make_token


def _user(email):
    return db.session.scalar(select(User).where(User.email == email))


def _signed_in(client) -> bool:
    """True if the client's session is a signed-in resident (the survey answers 200)."""
    return client.get("/survey").status_code == 200


def test_signup_link_survey_ward_home_with_plain_forms(client, mail):
    page = client.get("/signup").get_data(as_text=True)
    assert 'name="email"' in page and 'name="display_name"' in page and 'maxlength="60"' in page

    response = client.post("/signup", data={"email": "  Sam@Example.ORG ", "display_name": "Sam"}, follow_redirects=True)
    assert response.status_code == 200
    assert "Check your email" in response.get_data(as_text=True)
    user = _user("sam@example.org")
    assert user is not None and user.confirmed_at is None and user.display_name == "Sam"
    assert not _signed_in(client)  # double opt-in: nothing until the link is used

    msg = mail.wait_for(1)[0]
    assert msg["To"] == "sam@example.org"
    assert "text/html" in {part.get_content_type() for part in msg.walk()}
    path = signin_path(msg)

    page = client.get(path)
    assert page.status_code == 200 and "Continue" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    response = client.post(path)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    # Flask-Login "remember me": signed in on this device beyond the browser session
    assert "remember_token" in response.headers.get("Set-Cookie", "") or any(
        "remember_token" in h for h in response.headers.getlist("Set-Cookie"))
    db.session.refresh(user)
    assert user.confirmed_at is not None

    assert client.get("/").headers["Location"] == "/survey"
    assert client.post("/survey/ward?next=survey",
                       data={"ward": "E05014104", "role": "home"}).status_code == 303
    response = client.post("/survey", data={"step": "1"})
    assert response.status_code == 303 and response.headers["Location"] == "/survey?step=2"
    response = client.post("/survey", data={"step": "2", "categories": ["prevention", "events"],
                                            "email_frequency": "digest"})
    assert response.headers["Location"] == "/survey?step=3"
    response = client.post("/survey", data={"step": "3", "concerns": ["burglary", "asb"]})
    assert response.status_code == 303
    assert response.headers["Location"] == "/wards/E05014104"
    home = client.get("/wards/E05014104").get_data(as_text=True)
    assert "Herne Hill &amp; Loughborough Junction" in home and "Your ward" in home

    db.session.refresh(user)
    assert user.home_ward.code == "E05014104"
    assert user.category_codes == {"prevention", "events"}
    assert user.email_frequency == "digest"
    assert user.survey_completed_at is not None
    assert {c.topic for c in db.session.scalars(select(Concern))} == {"burglary", "asb"}
    assert client.get("/").headers["Location"] == "/wards/E05014104"


def test_same_flow_with_htmx_returns_fragments(client, mail, htmx_headers):
    response = client.post("/signup", data={"email": "", "display_name": ""},
                           headers=htmx_headers)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "<html" not in body and "Enter your email address." in body
    assert "HX-Request" in response.headers["Vary"]

    response = client.post("/signup", data={"email": "kim@example.org", "display_name": "Kim"},
                           headers=htmx_headers)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and "Check your email" in body
    path = signin_path(mail.wait_for(1)[0])
    assert client.post(path).status_code == 303

    response = client.get("/wards/search?q=herne&pick=survey", headers=htmx_headers)
    body = response.get_data(as_text=True)
    assert "<html" not in body and 'value="E05014104"' in body and 'hx-post="/survey/ward' in body
    response = client.post("/survey/ward?next=survey", data={"ward": "E05014104", "role": "home"},
                           headers=htmx_headers)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert "Herne Hill" in body and "Where you live" in body

    response = client.post("/survey", data={"step": "1"}, headers=htmx_headers)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and "Step 2 of 3" in body
    assert response.headers["HX-Push-Url"] == "/survey?step=2"

    response = client.post("/survey", data={"step": "2", "email_frequency": "weekly"},
                           headers=htmx_headers)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "<html" not in body and "Not a valid choice" in body or "Choose how often" in body
    response = client.post("/survey", data={"step": "2", "categories": ["appeals"],
                                            "email_frequency": "immediate"}, headers=htmx_headers)
    assert "Step 3 of 3" in response.get_data(as_text=True)

    response = client.post("/survey", data={"step": "3", "concerns": ["asb", "drugs", "fraud",
                                                                      "youth"]},
                           headers=htmx_headers)
    assert response.status_code == 422 and "<html" not in response.get_data(as_text=True)
    response = client.post("/survey", data={"step": "3", "concerns": ["asb"]},
                           headers=htmx_headers)
    assert response.status_code == 204
    assert response.headers["HX-Location"] == "/wards/E05014104"


def test_link_get_shows_continue_and_does_not_use_it(client, mail):
    client.post("/signup", data={"email": "lee@example.org", "display_name": "Lee"}, follow_redirects=True)
    path = signin_path(mail.wait_for(1)[0])
    # a link scanner fetches the link (several times): nothing is used up, nobody signed in
    for _ in range(3):
        page = client.get(path).get_data(as_text=True)
        assert re.search(r'<form method="post"[^>]*>', page) and ">Continue</button>" in page
    assert not _signed_in(client)
    assert _user("lee@example.org").confirmed_at is None
    assert client.post(path).status_code == 303
    assert _signed_in(client)


def test_continue_needs_csrf(client, mail):
    client.post("/signup", data={"email": "lee@example.org", "display_name": "Lee"}, follow_redirects=True)
    path = signin_path(mail.wait_for(1)[0])
    assert client.post(path, csrf=False).status_code == 400
    assert not _signed_in(client)


def test_expired_link_offers_a_new_one(client, mail, monkeypatch):
    client.post("/signup", data={"email": "ann@example.org", "display_name": "Ann"}, follow_redirects=True)
    path = signin_path(mail.wait_for(1)[0])
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) + 31 * 60)
    for response in (client.get(path), client.post(path)):
        body = response.get_data(as_text=True)
        assert response.status_code == 400 and "has expired" in body
        assert 'action="/login"' in body and "Email me a new link" in body
    assert not _signed_in(client)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", real)
    # still valid at 29 minutes
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) + 29 * 60)
    assert client.post(path).status_code == 303


def test_reused_link_is_refused(client, mail, app):
    client.post("/signup", data={"email": "ann@example.org", "display_name": "Ann"}, follow_redirects=True)
    path = signin_path(mail.wait_for(1)[0])
    assert client.post(path).status_code == 303
    other = app.test_client()
    for response in (other.get(path), other.post(path)):
        assert response.status_code == 400
        assert "already been used" in response.get_data(as_text=True)
    assert not _signed_in(other)


@pytest.mark.parametrize("change", ["flip", "truncate", "other_purpose", "garbage"])
def test_tampered_link_is_refused(client, mail, change):
    client.post("/signup", data={"email": "ann@example.org", "display_name": "Ann"}, follow_redirects=True)
    path = signin_path(mail.wait_for(1)[0])
    token = path.rsplit("/", 1)[1]
    user = _user("ann@example.org")
    bad = {
        "flip": token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:],
        "truncate": token[:-5],
        "other_purpose": make_token("unsubscribe", {"uid": user.id, "sv": 1}, single_use=True),
        "garbage": "not-a-token",
    }[change]
    for response in (client.get(f"/signin/{bad}"), client.post(f"/signin/{bad}")):
        assert response.status_code == 400
        assert "isn't valid" in response.get_data(as_text=True)
    assert not _signed_in(client)


def test_signing_out_everywhere_invalidates_outstanding_links(client, mail):
    client.post("/signup", data={"email": "ann@example.org", "display_name": "Ann"}, follow_redirects=True)
    path = signin_path(mail.wait_for(1)[0])
    user = _user("ann@example.org")
    user.session_version += 1
    db.session.commit()
    assert client.post(path).status_code == 400
    assert not _signed_in(client)


def page_text(response) -> str:
    """The page without its request id (random per request, for the log lines of its htmx
    requests): two answers are the same page when all else is equal."""
    return re.sub(r'"X-Parent-Request-ID": "[^"]*"', '"X-Parent-Request-ID": ""',
                  response.get_data(as_text=True))


def test_duplicate_signup_same_answer_and_no_second_account(client, mail, make_resident):
    existing = make_resident(email_address="jo@example.org", name="Jo")
    first = client.post("/signup", data={"email": "new@example.org", "display_name": "New"}, follow_redirects=True)
    again = client.post("/signup", data={"email": " JO@example.org", "display_name": "Mallory"}, follow_redirects=True)
    strip = lambda r: page_text(r).replace("new@example.org", "X").replace(  # noqa: E731
        "jo@example.org", "X")
    assert first.status_code == again.status_code == 200
    assert strip(first) == strip(again)
    assert db.session.scalar(select(func.count()).select_from(User)
                             .where(User.email == "jo@example.org")) == 1
    db.session.refresh(existing)
    assert existing.display_name == "Jo"  # someone typing your address can't rename you
    messages = mail.wait_for(2)
    to_jo = [m for m in messages if m["To"] == "jo@example.org"][0]
    assert "sign in" in text_of(to_jo).lower()
    path = signin_path(to_jo)
    assert client.post(path).status_code == 303
    assert client.get("/").headers["Location"] == "/wards/E05013806"


def test_login_never_reveals_whether_an_address_is_registered(client, mail, make_resident):
    make_resident(email_address="jo@example.org")
    known = client.post("/login", data={"email": "jo@example.org"}, follow_redirects=True)
    unknown = client.post("/login", data={"email": "nobody@example.org"}, follow_redirects=True)
    assert known.status_code == unknown.status_code == 200
    assert page_text(known).replace("jo@example.org", "X") == \
        page_text(unknown).replace("nobody@example.org", "X")
    messages = {m["To"]: text_of(m) for m in mail.wait_for(2)}
    assert "/signin/" in messages["jo@example.org"]
    # the unknown address is told, by email only, how to sign up (and gets no account)
    assert "/signin/" not in messages["nobody@example.org"]
    assert "http://wardline.test/signup" in messages["nobody@example.org"]
    assert _user("nobody@example.org") is None


def test_sign_in_returns_to_the_page_that_asked_for_it(client, mail, make_resident):
    make_resident(email_address="jo@example.org")
    response = client.get("/settings")
    assert response.status_code == 302
    login_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'name="next" type="hidden" value="/settings?"' in login_page
    client.post("/login", data={"email": "jo@example.org", "next": "/settings?"}, follow_redirects=True)
    response = client.post(signin_path(mail.wait_for(1)[0]))
    assert response.status_code == 303 and response.headers["Location"].startswith("/settings")


@pytest.mark.parametrize("next_path", ["//evil.example/x", "https://evil.example/",
                                       "/\\evil.example", "javascript:alert(1)"])
def test_sign_in_never_sends_elsewhere(client, mail, make_resident, next_path):
    make_resident(email_address="jo@example.org")
    client.post("/login", data={"email": "jo@example.org", "next": next_path}, follow_redirects=True)
    response = client.post(signin_path(mail.wait_for(1)[0]))
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("email, message", [
    ("", "Enter your email address."),
    ("not-an-email", "Enter an email address like name@example.com."),
    ("a@b", "Enter an email address like name@example.com."),
    ("sam@exa mple.org", "Enter an email address like name@example.com."),
    ("x" * 250 + "@example.org", "at most 254 characters"),
])
def test_invalid_email_is_refused_with_text_kept(client, mail, email, message):
    response = client.post("/signup", data={"email": email, "display_name": "Sam"}, follow_redirects=True)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert message in body and 'class="error"' in body and 'aria-invalid="true"' in body
    assert 'value="Sam"' in body
    if email:
        assert f'value="{email.strip()}"' in body
    assert db.session.scalar(select(func.count()).select_from(User)) == 0
    assert mail.messages == []


@pytest.mark.parametrize("name, message", [("", "Enter the name"), ("x" * 61, "at most 60")])
def test_display_name_is_required_and_limited(client, mail, name, message):
    response = client.post("/signup", data={"email": "sam@example.org", "display_name": name}, follow_redirects=True)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert _user("sam@example.org") is None


def test_display_name_is_escaped(client, mail):
    sign_up_and_confirm(client, mail, name="<script>alert(1)</script>")
    page = client.get("/survey").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_sign_in_requests_are_rate_limited_per_address(client, mail, make_resident, htmx_headers):
    make_resident(email_address="jo@example.org")
    for _ in range(5):
        assert client.post("/login", data={"email": "jo@example.org"}, follow_redirects=True).status_code == 200
    # the sixth, in any letter case and through either form, is refused kindly
    response = client.post("/signup", data={"email": "JO@example.org ", "display_name": "Jo"}, follow_redirects=True)
    assert response.status_code == 429
    assert "Please wait a little" in response.get_data(as_text=True)
    response = client.post("/login", data={"email": "jo@example.org"}, headers=htmx_headers)
    assert response.status_code == 429 and response.headers["HX-Redirect"] == "/signin/slow-down"
    assert len(mail.wait_for(5)) == 5
    # other addresses are not affected
    assert client.post("/login", data={"email": "other@example.org"},
                       follow_redirects=True).status_code == 200


def test_sign_in_requests_are_rate_limited_per_ip(client, mail):
    for n in range(20):
        assert client.post("/login", data={"email": f"p{n}@example.org"}).status_code == 303
    assert client.post("/login", data={"email": "p99@example.org"},
                       follow_redirects=True).status_code == 429
    # another address (IP) still may
    response = client.post("/login", data={"email": "p98@example.org"},
                           environ_base={"REMOTE_ADDR": "10.1.2.3"}, follow_redirects=True)
    assert response.status_code == 200


def test_staff_address_gets_pointer_to_officer_sign_in_not_a_link(client, mail, make_staff):
    officer = make_staff("officer", wards=["E05013806"], email_address="pc@police.example")
    resident_like = client.post("/login", data={"email": "someone@example.org"}, follow_redirects=True)
    response = client.post("/login", data={"email": "pc@police.example"}, follow_redirects=True)
    assert response.status_code == 200
    assert page_text(response).replace("pc@police.example", "X") == \
        page_text(resident_like).replace("someone@example.org", "X")
    msg = [m for m in mail.wait_for(2) if m["To"] == "pc@police.example"][0]
    assert "/officer/login" in text_of(msg) and "/signin/" not in text_of(msg)
    # a signup with a staff address creates nothing and also only points to officer sign-in
    client.post("/signup", data={"email": "pc@police.example", "display_name": "X"}, follow_redirects=True)
    msg = mail.wait_for(3)[2]
    assert "/officer/login" in text_of(msg) and "/signin/" not in text_of(msg)
    db.session.refresh(officer)
    assert officer.role == "officer" and officer.display_name != "X"
    # even a genuine signed token for a staff account does not sign in
    from webapp.accounts.services import signin_token
    with client.application.test_request_context():
        token = signin_token(officer)
    assert client.post(f"/signin/{token}").status_code == 400
    assert client.get("/staff").status_code in (302, 303)


def test_mail_server_failure_says_so_without_revealing_anything(client, mail):
    mail.refuse = True
    response = client.post("/signup", data={"email": "sam@example.org", "display_name": "Sam"}, follow_redirects=True)
    assert response.status_code == 503
    assert "send the email just now" in response.get_data(as_text=True)


def test_sign_out_is_a_post_with_csrf(client, mail):
    sign_up_and_confirm(client, mail)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout", csrf=False).status_code == 400
    assert _signed_in(client)
    response = client.post("/logout")
    assert response.status_code == 303
    assert not _signed_in(client)
    assert client.get("/survey").headers["Location"].startswith("/login")


def test_sign_up_answer_is_post_redirect_get_and_reloading_sends_nothing(client, mail):
    response = client.post("/signup", data={"email": "prg@example.org", "display_name": "Pat"})
    assert response.status_code == 303 and response.headers["Location"] == "/signin/sent"
    page = client.get("/signin/sent")
    assert page.status_code == 200 and "prg@example.org" in page.get_data(as_text=True)
    client.get("/signin/sent")  # a reload is a GET: no second email
    assert len(mail.wait_for(1)) == 1
    import time
    time.sleep(0.3)
    assert len(mail.messages) == 1
    # without a request in this session there is nothing to show
    fresh = client.application.test_client()
    assert fresh.get("/signin/sent").headers["Location"] == "/login"
