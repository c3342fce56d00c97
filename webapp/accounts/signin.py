"""Residents' sign-up and sign-in by emailed link (a signed, single-use, 30-minute token).

Email goes out only after the commit (:func:`send_signin_email`), so a rolled-back sign-up
never mails a link."""
from __future__ import annotations

import logging
from urllib.parse import urljoin

from flask import current_app, url_for

from webapp.accounts.models import User
from webapp.platform.mail import send_email
from webapp.extensions import db
from webapp.platform.security import safe_next
from webapp.platform.timeutil import utcnow
from webapp.platform.tokens import TokenError, consume, is_used, make_token, read_token

from webapp.accounts.identity import find_user_by_email

log = logging.getLogger("wardline.accounts")

SIGNIN_PURPOSE = "signin"


# --------------------------------------------------------------------------- sign-up, sign-in
def register_resident(email: str, display_name: str) -> User:
    """Return the account for ``email``, creating an unconfirmed resident if there is none.

    An existing confirmed account is left as it is (someone else typing your address must
    not rename you); an unconfirmed one takes the newest name. The caller commits (before
    sending the sign-in email).
    """
    user = find_user_by_email(email)
    if user is None:
        user = User(email=email, display_name=display_name, role="resident")
        db.session.add(user)
    elif user.is_resident and user.confirmed_at is None:
        user.display_name = display_name
    db.session.flush()
    return user


def signin_token(user: User, next_path: str | None = None) -> str:
    """A signed, single-use sign-in token tied to the user's current session version,
    optionally remembering the page to open after signing in."""
    payload = {"uid": user.id, "sv": user.session_version}
    if safe_next(next_path):
        payload["next"] = next_path
    return make_token(SIGNIN_PURPOSE, payload, single_use=True)


def absolute_url(endpoint: str, **values) -> str:
    """An absolute link on ``BASE_URL`` (what emails carry)."""
    base = current_app.config["BASE_URL"].rstrip("/") + "/"
    return urljoin(base, url_for(endpoint, **values).lstrip("/"))


def send_signin_email(user: User, next_path: str | None = None) -> None:
    """Email ``user`` what they need to sign in. Call after the commit.

    Residents get a sign-in link; officers and admins get a pointer to the officer sign-in
    page instead, so the resident flow never gives staff access (and the page shown to the
    requester is the same either way). Raises ``smtplib.SMTPException``/``OSError`` if the
    mail server fails.
    """
    if user.is_staff:
        send_email(user.email, "Signing in to Wardline", "accounts/staff_signin",
                   user=user, officer_login_url=absolute_url("accounts.officer_login"))
        return
    minutes = current_app.config["SIGNIN_LINK_MAX_AGE"] // 60
    link = absolute_url("accounts.signin_link", token=signin_token(user, next_path))
    send_email(user.email, "Your Wardline sign-in link", "accounts/signin",
               user=user, link=link, minutes=minutes, first_time=user.confirmed_at is None)


def send_no_account_email(email: str) -> None:
    """Tell someone who asked for a sign-in link that the address has no account yet, with
    a sign-up link. Sent so the requester sees the same page (and waits the same time)
    whether or not the address is registered. Raises like :func:`send_signin_email`."""
    send_email(email, "Signing in to Wardline", "accounts/no_account",
               signup_url=absolute_url("accounts.signup"))


def check_signin_token(token: str, *, max_age: int | None = None) -> tuple[User, dict]:
    """Return ``(user, payload)`` for a usable sign-in token, without using it up.

    Raises :class:`TokenError` with reason "invalid" (tampered, unknown user, signed out
    everywhere since, staff account), "expired" or "used".
    """
    if max_age is None:
        max_age = current_app.config["SIGNIN_LINK_MAX_AGE"]
    if not token or len(token) > 1000:
        raise TokenError("invalid")
    payload = read_token(SIGNIN_PURPOSE, token, max_age=max_age)
    jti = payload.get("jti")
    uid = payload.get("uid")
    if not isinstance(jti, str) or not isinstance(uid, int):
        raise TokenError("invalid")
    user = db.session.get(User, uid)
    if user is None or user.session_version != payload.get("sv") or user.is_staff:
        raise TokenError("invalid")
    if is_used(SIGNIN_PURPOSE, jti):
        raise TokenError("used")
    return user, payload


def complete_signin(token: str, *, max_age: int | None = None) -> tuple[User, str | None]:
    """Use a sign-in token: record it as used, confirm the address, note the sign-in.
    Returns ``(user, page to open next or None)``.

    The caller commits. Raises :class:`TokenError` as :func:`check_signin_token` does; a race between
    two uses is caught by the unique ``used_tokens`` row ("used").
    """
    user, payload = check_signin_token(token, max_age=max_age)
    consume(SIGNIN_PURPOSE, payload["jti"])
    now = utcnow()
    if user.confirmed_at is None:
        user.confirmed_at = now
    user.last_login_at = now
    db.session.flush()
    return user, safe_next(payload.get("next"))
