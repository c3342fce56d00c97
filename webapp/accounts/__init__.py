"""Accounts: residents (email links), officers and admins (password + TOTP), settings."""
from flask import Blueprint

from webapp.extensions import db, login_manager

bp = Blueprint("accounts", __name__)

login_manager.login_view = "accounts.login"
login_manager.login_message = "Please sign in to see that page."
login_manager.login_message_category = "warning"
login_manager.session_protection = "basic"


@login_manager.user_loader
def load_user(user_id: str):
    """Load a user from ``"<id>:<session_version>"``; a stale version signs them out."""
    from webapp.accounts.models import User

    try:
        raw_id, raw_version = user_id.split(":", 1)
        user = db.session.get(User, int(raw_id))
        version = int(raw_version)
    except (ValueError, TypeError):
        return None
    if user is None or user.session_version != version:
        return None
    return user


from webapp.accounts import routes  # noqa: E402,F401
from webapp.accounts import officer  # noqa: E402,F401  (officer sign-in, engineer B)
