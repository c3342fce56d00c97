"""Sessions that end when people sign out, on the server and not only in the browser.

Every sign-in gets a random session id, carried in Flask-Login's user id
(``"<user id>:<session version>:<session id>"``, see :meth:`User.get_id`), so both the
session cookie and the remember cookie hold it. Signing out records the id in
``revoked_sessions``: a saved copy of either cookie no longer signs anyone in. "Sign out of
all devices" bumps ``users.session_version``, which every session and remember cookie and
every unused sign-in link carries.

Staff sessions (after the second factor) also end after ``STAFF_IDLE_TIMEOUT`` seconds
without a request and ``STAFF_SESSION_MAX_AGE`` seconds in all; both times are kept in the
signed session cookie, so a replayed copy of an old cookie is just as expired.
"""
from __future__ import annotations

import secrets
import time
from datetime import datetime, timedelta

from flask import current_app, flash, request, session
from flask_login import login_user, logout_user
from sqlalchemy import String, delete
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.platform.timeutil import utcnow

STAFF_SINCE = "staff_since"  # epoch seconds of the second-factor sign-in
STAFF_SEEN = "staff_seen"    # epoch seconds of the last request (polls excluded)
STAFF_SEEN_STEP = 60  # seconds: activity is noted at most this often (the idle time's precision)


class RevokedSession(db.Model):
    """The id of a session that was signed out. Holds nothing about the person: the id is
    random. Kept until every cookie that could carry it has expired."""

    __tablename__ = "revoked_sessions"

    session_id: Mapped[str] = mapped_column(String(43), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


def new_session_id() -> str:
    return secrets.token_urlsafe(24)  # 32 characters


def parse_user_id(value: str | None) -> tuple[int, int, str | None] | None:
    """``(user id, session version, session id or None)`` from Flask-Login's user id."""
    try:
        parts = (value or "").split(":")
        if len(parts) not in (2, 3):
            return None
        return int(parts[0]), int(parts[1]), (parts[2] or None) if len(parts) == 3 else None
    except ValueError:
        return None


def current_session_id() -> str | None:
    parsed = parse_user_id(session.get("_user_id"))
    return parsed[2] if parsed else None


def sign_in(user, *, remember: bool) -> None:
    """Sign ``user`` in on this browser with a new session id (Flask-Login's ``login_user``)."""
    user.session_id = new_session_id()
    login_user(user, remember=remember, fresh=True)


def revoke(session_id: str | None) -> None:
    """Record ``session_id`` as signed out (the caller commits); drop long-expired ids."""
    if not session_id:
        return
    now = utcnow()
    db.session.execute(delete(RevokedSession).where(RevokedSession.expires_at < now))
    if db.session.get(RevokedSession, session_id) is None:
        lifetime = max(current_app.config["REMEMBER_COOKIE_DURATION"],
                       int(current_app.permanent_session_lifetime.total_seconds()))
        db.session.add(RevokedSession(session_id=session_id,
                                      expires_at=now + timedelta(seconds=lifetime + 86400)))


def sign_out() -> None:
    """End this browser's session for good: revoke its id (so saved session and remember
    cookies stop working), empty the session and remove the remember cookie. Commits."""
    revoke(current_session_id())
    db.session.commit()
    session.clear()
    logout_user()  # after clear(): it marks the remember cookie for removal


def sign_out_everywhere(user) -> None:
    """End every session of ``user`` on every device, and every unused sign-in link.
    Commits."""
    user.session_version = (user.session_version or 0) + 1
    revoke(current_session_id())
    db.session.commit()
    session.clear()
    logout_user()


# --------------------------------------------------------------------------- staff sessions
def start_staff_session() -> None:
    now = int(time.time())
    session[STAFF_SINCE] = now
    session[STAFF_SEEN] = now


def staff_session_expired(now: float | None = None) -> bool:
    """True when this browser's staff session has been idle or open for too long."""
    now = time.time() if now is None else now
    config = current_app.config
    try:
        since = float(session.get(STAFF_SINCE, 0))
        seen = float(session.get(STAFF_SEEN, 0))
    except (TypeError, ValueError):
        return True
    return now - since > config["STAFF_SESSION_MAX_AGE"] or now - seen > config["STAFF_IDLE_TIMEOUT"]


def staff_session_left() -> float | None:
    """Seconds until this browser's staff session ends (idle or too old), if it is one: a
    page stored for it (pagestore) is not answered for longer."""
    if "mfa_user_id" not in session:
        return None
    config = current_app.config
    try:
        since = float(session.get(STAFF_SINCE, 0))
        seen = float(session.get(STAFF_SEEN, 0))
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, min(since + config["STAFF_SESSION_MAX_AGE"],
                        seen + config["STAFF_IDLE_TIMEOUT"]) - time.time())


def check_staff_session() -> None:
    """Before each request: end a staff session that is idle or too old; otherwise note the
    activity. Polls (``…poll`` endpoints, which htmx sends by itself) are not activity. The
    activity is noted at most once every ``STAFF_SEEN_STEP`` seconds: noting it changes the
    session cookie, and a page whose response sets a cookie cannot be stored for the
    session (pagestore), so an officer's page stays storable for that long."""
    if "mfa_user_id" not in session or request.endpoint in (None, "static"):
        return
    if staff_session_expired():
        session.clear()
        logout_user()
        flash("You were signed out because the session was idle or open for too long. "
              "Please sign in again.", "warning")
        return
    now = int(time.time())
    if not request.endpoint.endswith("poll") and \
            now - float(session.get(STAFF_SEEN, 0)) >= STAFF_SEEN_STEP:
        session[STAFF_SEEN] = now
