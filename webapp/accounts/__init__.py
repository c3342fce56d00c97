"""Accounts: residents (email links), officers and admins (password + TOTP), settings."""
from flask import Blueprint

from webapp.accounts.audience import residents_following, ward_team_members  # noqa: F401  (public)
from webapp.extensions import db, login_manager
from sqlalchemy import bindparam, exists, select
from sqlalchemy.orm import joinedload

from webapp.accounts.models import User, UserWard
from webapp.wards.models import Ward
from webapp.accounts.sessions import check_staff_session, staff_session_left
from webapp.accounts.sessions import RevokedSession, parse_user_id
from webapp.platform.pagestore import depends_on_the_session, limit_session_age

bp = Blueprint("accounts", __name__)

login_manager.login_view = "accounts.login"
login_manager.login_message = "Please sign in to see that page."
login_manager.login_message_category = "warning"
login_manager.session_protection = "basic"


# One statement, built once (its SQL is compiled once per process): the user, the wards
# every page's navigation shows, whether this session was signed out, and the flags layers
# above register (add_user_flag). Building the query with its options on each request cost
# about as much as running it.
_FLAGS: dict[str, object] = {}
_load_user_statement = None


# What the statement below reads: a signed-in page stored for its session (pagestore's
# for_each_session) is answered again only while none of these changed.
depends_on_the_session("users", "user_wards", "wards", "boroughs", "revoked_sessions")
limit_session_age(staff_session_left)


def add_user_flag(name: str, condition, *tables: str) -> None:
    """Load ``condition`` (a boolean SQL expression about ``users.id``, e.g. an EXISTS, over
    ``tables``) with the signed-in user, as ``user.flags[name]``: a page that asks it on
    every view (the ward home's push prompt) then pays no statement of its own. At import
    time."""
    global _load_user_statement
    _FLAGS[name] = condition
    depends_on_the_session(*tables)
    _load_user_statement = None


def _statement():
    global _load_user_statement
    if _load_user_statement is None:
        _load_user_statement = select(
            User, exists().where(RevokedSession.session_id == bindparam("sid")),
            *_FLAGS.values()).options(
            joinedload(User.wards).joinedload(UserWard.ward).joinedload(Ward.borough)).where(
            User.id == bindparam("uid"))
    return _load_user_statement


@login_manager.user_loader
def load_user(user_id: str):
    """Load a user from ``"<id>:<session_version>[:<session id>]"``; a stale version or a
    signed-out session id signs them out (see :mod:`webapp.accounts.sessions`)."""

    parsed = parse_user_id(user_id)
    if parsed is None:
        return None
    uid, version, session_id = parsed
    row = db.session.execute(_statement(), {"uid": uid, "sid": session_id[:43] if session_id
                                            else None}).unique().first()
    if row is None:
        return None
    user, revoked, *flags = row
    if user.session_version != version or revoked:
        return None
    user.session_id = session_id
    user.flags = dict(zip(_FLAGS, flags, strict=True))
    return user


@bp.before_app_request
def _end_stale_staff_sessions():
    check_staff_session()


from webapp.accounts import sessions, throttle  # noqa: E402,F401  (their tables)
from webapp.accounts import signin_routes, settings_routes  # noqa: E402,F401  (the views)
from webapp.accounts import officer  # noqa: E402,F401  (officer sign-in, engineer B)
from webapp.accounts import follow  # noqa: E402,F401  (follow a ward from its page)
from webapp.accounts import export_page  # noqa: E402,F401  (my data as a page)
from webapp.accounts import ward_chart  # noqa: E402,F401  (the ward home's chart)
from webapp.accounts import phone_routes  # noqa: E402,F401  (text-message settings)
from webapp.accounts import email_change  # noqa: E402,F401  (changing the email address)
