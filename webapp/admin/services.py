"""Officers, teams and the audit log: plain functions used by the admin pages and the CLI.

Functions add to the session and write the audit log; the caller commits.
"""
from __future__ import annotations

import re
import secrets

from datetime import timedelta

from flask import current_app
from sqlalchemy import func, or_, select

from webapp.accounts import mfa, throttle
from webapp.accounts.models import OFFICER_RANKS, User, normalise_email
from webapp.accounts.passwords import hash_password
from webapp.platform.account_data import Gathered, register_account_data
from webapp.platform.audit import AuditEvent, record
from webapp.threads.models import Conversation, Message
from webapp.extensions import db
from webapp.platform.timeutil import utcnow
from webapp.wards.models import Team, Ward
from sqlalchemy.orm import joinedload
from sqlalchemy.orm import selectinload

AUDIT_PAGE_SIZE = 50
WARD_CODE_RE = re.compile(r"E05\d{6}", re.IGNORECASE)


class AdminError(Exception):
    """A request an admin made that cannot be done; the message is safe to show."""


def one_time_password() -> str:
    """A random first password (the officer signs in with it, then enrols TOTP)."""
    return secrets.token_urlsafe(12)


def _set_one_time_password(user: User, password: str) -> None:
    """Give ``user`` a password they must replace at their first sign-in, which stops
    working after ``ONE_TIME_PASSWORD_MAX_AGE`` seconds."""
    user.password_hash = hash_password(password)
    user.password_must_change = True
    user.password_expires_at = utcnow() + timedelta(
        seconds=current_app.config["ONE_TIME_PASSWORD_MAX_AGE"])


def list_staff() -> list[User]:
    """Officers and admins, by name, with their teams."""
    stmt = (select(User).where(User.role.in_(("officer", "admin")))
            .options(selectinload(User.teams)).order_by(User.display_name, User.id))
    return list(db.session.scalars(stmt))


def get_staff(user_id: int) -> User | None:
    user = db.session.get(User, user_id, options=[joinedload(User.teams)])
    return user if user is not None and user.is_staff else None


def create_officer(actor, *, email: str, name: str, rank: str | None, shoulder_number: str | None = None,
                   admin: bool = False, password: str | None = None, teams=(),
                   one_time: bool = True) -> tuple[User, str]:
    """Create an officer (or admin) account. Returns the user and their first password
    (``password`` if given, else a generated one, shown once), a one-time password unless
    ``one_time`` is False (the CLI's ``--prompt-password``, typed by the officer). Raises
    :class:`AdminError` for a taken email or an unknown rank."""
    email = normalise_email(email)
    if not email or "@" not in email or len(email) > 254:
        raise AdminError("Enter a valid email address.")
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise AdminError("An account with that email already exists.")
    name = (name or "").strip()[:60]
    if not name:
        raise AdminError("Enter the officer's name.")
    if rank and rank not in OFFICER_RANKS:
        raise AdminError(f"Rank must be one of: {', '.join(OFFICER_RANKS)}.")
    if not admin and not rank:
        raise AdminError("Choose the officer's rank or role.")
    password = password or one_time_password()
    user = User(email=email, display_name=name, role="admin" if admin else "officer",
                rank=rank or None, shoulder_number=(shoulder_number or "").strip()[:16] or None,
                password_hash=hash_password(password), confirmed_at=utcnow())
    if one_time:
        _set_one_time_password(user, password)
    db.session.add(user)
    db.session.flush()
    for team in teams:
        team.members.append(user)
    record(actor, "officer.create", user, f"{user.role} {email}")
    return user, password


def update_officer(actor, user: User, *, name: str, rank: str | None, shoulder_number: str | None,
                   admin: bool, teams=None) -> None:
    """Change an officer's name, rank, shoulder number, admin flag and teams."""
    if rank and rank not in OFFICER_RANKS:
        raise AdminError(f"Rank must be one of: {', '.join(OFFICER_RANKS)}.")
    user.display_name = (name or "").strip()[:60] or user.display_name
    user.rank = rank or None
    user.shoulder_number = (shoulder_number or "").strip()[:16] or None
    new_role = "admin" if admin else "officer"
    if new_role != user.role:
        user.role = new_role
        user.session_version += 1  # a change of role signs them out everywhere
    if teams is not None:
        user.teams = list(teams)
    record(actor, "officer.update", user,
           f"{user.role} {user.officer_label}; teams: {', '.join(t.name for t in user.teams)}")


def reset_password(actor, user: User) -> str:
    """Give ``user`` a new one-time password and sign them out everywhere; return it."""
    password = one_time_password()
    _set_one_time_password(user, password)
    user.session_version += 1
    throttle.forget_account(user.email)
    record(actor, "officer.reset_password", user)
    return password


def reset_second_factor(actor, user: User) -> None:
    """Forget ``user``'s authenticator (lost phone): they enrol again at next sign-in."""
    user.totp_secret = None
    user.totp_confirmed_at = None
    user.session_version += 1
    # Old backup codes stop working; new ones come with the new enrolment.
    db.session.query(mfa.BackupCode).filter_by(user_id=user.id).delete()
    record(actor, "officer.reset_2fa", user)


def unlock(actor, user: User) -> None:
    """Forget the failed sign-in attempts on ``user``'s account (every source)."""
    throttle.forget_account(user.email)
    record(actor, "officer.unlock", user)


# --------------------------------------------------------------------------- teams
def list_teams() -> list[Team]:
    return list(db.session.scalars(select(Team).options(
        selectinload(Team.wards), selectinload(Team.members)).order_by(Team.name)))


def team_choices() -> list[Team]:
    """Every team by name, without its wards and members (an officer's form lists names)."""
    return list(db.session.scalars(select(Team).order_by(Team.name)))


def get_team(team_id: int) -> Team | None:
    """The team with its wards (its members come with the staff list on its form)."""
    return db.session.get(Team, team_id, options=[joinedload(Team.wards)])


def get_team_by_name(name: str) -> Team | None:
    return db.session.scalar(select(Team).where(func.lower(Team.name) == (name or "").strip().lower()))


def parse_ward_codes(text: str) -> list[Ward]:
    """Wards named by ONS code in ``text`` (any separators). Raises :class:`AdminError`
    listing codes that are not London wards."""
    codes = sorted({c.upper() for c in WARD_CODE_RE.findall(text or "")})
    leftovers = WARD_CODE_RE.sub("", text or "")
    if re.search(r"\w", leftovers):
        raise AdminError("Enter ward codes like E05013806, separated by commas or new lines.")
    wards = list(db.session.scalars(select(Ward).where(Ward.code.in_(codes)))) if codes else []
    unknown = set(codes) - {w.code for w in wards}
    if unknown:
        raise AdminError(f"Unknown ward code{'s' if len(unknown) > 1 else ''}: {', '.join(sorted(unknown))}.")
    return sorted(wards, key=lambda w: w.name)


def create_team(actor, name: str, wards) -> Team:
    name = (name or "").strip()[:120]
    if not name:
        raise AdminError("Enter the team's name.")
    if get_team_by_name(name) is not None:
        raise AdminError("A team with that name already exists.")
    team = Team(name=name, wards=list(wards))
    db.session.add(team)
    db.session.flush()
    record(actor, "team.create", team, f"{name}: {', '.join(w.code for w in team.wards)}")
    return team


def update_team(actor, team: Team, *, name: str, wards, members=None) -> None:
    name = (name or "").strip()[:120]
    if not name:
        raise AdminError("Enter the team's name.")
    other = get_team_by_name(name)
    if other is not None and other.id != team.id:
        raise AdminError("A team with that name already exists.")
    team.name = name
    team.wards = list(wards)
    if members is not None:
        team.members = list(members)
    record(actor, "team.update", team, f"wards: {', '.join(w.code for w in team.wards)}; "
                                       f"members: {', '.join(str(m.id) for m in team.members)}")


def add_to_team(actor, team: Team, user: User) -> bool:
    """Add ``user`` to ``team``; False if already a member."""
    if user in team.members:
        return False
    team.members.append(user)
    record(actor, "team.add_member", team, f"user {user.id}")
    return True


# --------------------------------------------------------------------------- audit
def audit_page(action: str | None = None, page: int = 1, per_page: int = AUDIT_PAGE_SIZE
               ) -> tuple[list[AuditEvent], bool]:
    """A page of the audit log, newest first (optionally one action), and whether more."""
    stmt = (select(AuditEvent).options(joinedload(AuditEvent.actor))
            .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
            .limit(per_page + 1).offset((max(page, 1) - 1) * per_page))
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    rows = list(db.session.scalars(stmt))
    return rows[:per_page], len(rows) > per_page


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))


# --------------------------------------------------------------------------- account data
def _audit_parts(user) -> dict:
    """For "Download my data": the audit events about the resident (their account, their
    conversations and messages): what staff did, when, and the recorded reason."""
    convs = select(Conversation.id).where(Conversation.resident_id == user.id)
    msgs = select(Message.id).where(Message.conversation_id.in_(convs))
    return {"events": (select(AuditEvent.id, AuditEvent.action, AuditEvent.created_at,
                              AuditEvent.target_type, AuditEvent.target_id, AuditEvent.detail)
                       .where(or_(
                           (AuditEvent.target_type == "users") & (AuditEvent.target_id == user.id),
                           (AuditEvent.target_type == "conversations") & AuditEvent.target_id.in_(convs),
                           (AuditEvent.target_type == "messages") & AuditEvent.target_id.in_(msgs))),
                       ("id",))}


def _audit_section(user, rows) -> tuple[str, list]:
    return "audit_events_about_you", [
        {"action": e["action"], "at": e["created_at"].isoformat() + "Z",
         "about": f"{e['target_type']} {e['target_id']}", "detail": e["detail"] or None}
        for e in rows["events"]]


register_account_data(export=Gathered(_audit_parts, _audit_section))
