"""Fixtures shared by the accounts tests."""
from __future__ import annotations

import pyotp
import pytest

from tests.accounts.helpers import STAFF_PASSWORD
from webapp.accounts.passwords import hash_password
from webapp.extensions import db
from webapp.platform.timeutil import utcnow


@pytest.fixture
def enrolled_officer(make_staff):
    """Officer jane@police.example, fully set up: password ``STAFF_PASSWORD``
    (``tests/accounts/helpers.py``) and a confirmed authenticator app (TOTP). Sign in with
    ``helpers.officer_signed_in``."""
    user = make_staff("officer", wards=["E05013806"], email_address="jane@police.example")
    user.password_hash = hash_password(STAFF_PASSWORD)
    user.totp_secret = pyotp.random_base32()
    user.totp_confirmed_at = utcnow()
    db.session.commit()
    return user
