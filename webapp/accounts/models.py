"""Users (residents, officers, admins), their ward choices, categories and concerns."""
from __future__ import annotations

import secrets
from datetime import datetime

from flask import session
from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.accounts.crypto import EncryptedString
from webapp.extensions import db
from webapp.platform.states import one_of
from webapp.platform.timeutil import utcnow

ROLES = ("resident", "officer", "admin")
# The survey has SURVEY_STEPS steps; users.survey_step is the next one, SURVEY_DONE after the last.
SURVEY_STEPS = 3
SURVEY_DONE = SURVEY_STEPS + 1
OFFICER_RANKS = {"PC": "PC", "PCSO": "PCSO", "Sergeant": "Sergeant", "Inspector": "Inspector",
                 "Staff": "Police staff"}


EMAIL_MAX = 254  # RFC 5321's limit on a whole address


def normalise_email(raw: str | None) -> str:
    """An address as stored in ``users.email`` and looked up: stripped, lower case, at most
    EMAIL_MAX characters. The one normaliser (sign-up validates with it, sign-in, staff
    look-ups, throttles and rate limits key on it)."""
    return (raw or "").strip().lower()[:EMAIL_MAX]


def _new_respondent_key() -> str:
    return secrets.token_hex(12)


def officer_label(name: str | None, rank: str | None, shoulder_number: str | None) -> str:
    """How residents see an officer: "PC Jane Smith (1234)" (:attr:`User.officer_label`)."""
    label = " ".join(p for p in (OFFICER_RANKS.get(rank or "", ""), name) if p)
    return f"{label} ({shoulder_number})" if shoulder_number else label


class User(UserMixin, db.Model):
    """Anyone who signs in. ``role`` decides what they may see.

    Residents sign in by emailed link; officers and admins by password plus TOTP
    (``password_hash``/``totp_secret`` stay empty for residents).
    """

    __tablename__ = "users"
    __table_args__ = (one_of("role", ROLES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True)  # see normalise_email
    display_name: Mapped[str] = mapped_column(String(60), default="")
    role: Mapped[str] = mapped_column(String(16), default="resident", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    # Bumped to invalidate every remembered session and outstanding sign-in link.
    session_version: Mapped[int] = mapped_column(default=1)

    # Resident preferences
    email_frequency: Mapped[str] = mapped_column(String(16), default="immediate")
    survey_step: Mapped[int] = mapped_column(default=1)  # where to resume the survey
    survey_completed_at: Mapped[datetime | None]
    # When the resident answered "Turn on notifications?" on the ward home (issue 13).
    push_prompt_answered_at: Mapped[datetime | None]
    # Opaque id that groups a resident's concerns; survives account deletion anonymously.
    respondent_key: Mapped[str] = mapped_column(String(32), default=_new_respondent_key)

    # Officers and admins
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # A one-time password (set by an admin) must be replaced at the first sign-in and
    # stops working at ``password_expires_at``.
    password_must_change: Mapped[bool] = mapped_column(default=False)
    password_expires_at: Mapped[datetime | None]
    # Encrypted at rest (Fernet, key from TOTP_ENCRYPTION_KEY); Python sees the clear value.
    totp_secret: Mapped[str | None] = mapped_column(EncryptedString(255))
    totp_confirmed_at: Mapped[datetime | None]
    rank: Mapped[str | None] = mapped_column(String(16))  # see OFFICER_RANKS
    shoulder_number: Mapped[str | None] = mapped_column(String(16))

    teams: Mapped[list["Team"]] = relationship(  # noqa: F821
        secondary="team_members", back_populates="members")

    wards: Mapped[list["UserWard"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="UserWard.position")
    categories: Mapped[list["UserCategory"]] = relationship(
        back_populates="user", cascade="all, delete-orphan")

    #: The id of the browser session this object was signed in or loaded for (not stored
    #: here; see :mod:`webapp.accounts.sessions`).
    session_id = None  # a plain attribute, not a column
    #: What :func:`webapp.accounts.add_user_flag` conditions said when this user was signed
    #: in for the request (empty otherwise).
    flags: dict = {}

    def get_id(self) -> str:
        # The session version: bumping it signs the user out everywhere. The session id:
        # revoking it signs out this one session (cookies saved before included).
        if self.session_id:
            return f"{self.id}:{self.session_version}:{self.session_id}"
        return f"{self.id}:{self.session_version}"

    @property
    def is_resident(self) -> bool:
        return self.role == "resident"

    @property
    def is_staff(self) -> bool:
        return self.role in ("officer", "admin")

    @property
    def is_fully_authenticated(self) -> bool:
        """Residents: signed in. Officers/admins: also passed TOTP in this session."""
        if not self.is_staff:
            return True
        return session.get("mfa_user_id") == self.id

    @property
    def officer_label(self) -> str:
        """How residents see an officer: "PC Jane Smith (1234)"."""
        return officer_label(self.display_name, self.rank, self.shoulder_number)

    @property
    def home_ward(self):
        for link in self.wards:
            if link.is_home:
                return link.ward
        return None

    @property
    def ward_list(self):
        """Home ward first, then the extra wards, in the order chosen."""
        return [link.ward for link in sorted(self.wards, key=lambda w: (not w.is_home, w.position))]

    @property
    def category_codes(self) -> set[str]:
        return {c.category for c in self.categories}


class UserWard(db.Model):
    """A ward a resident follows: their home ward, plus up to two more."""

    __tablename__ = "user_wards"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    ward_id: Mapped[int] = mapped_column(ForeignKey("wards.id"), primary_key=True, index=True)
    is_home: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)
    # "Stop updates about this ward" (the unsubscribe page): still followed, no alerts or
    # posts about it reach the resident until they turn it back on in Settings.
    muted: Mapped[bool] = mapped_column(default=False, server_default=false())

    user: Mapped[User] = relationship(back_populates="wards")
    ward: Mapped["Ward"] = relationship()  # noqa: F821


class UserCategory(db.Model):
    """An alert category a resident wants (see :data:`webapp.platform.taxonomy.CATEGORIES`)."""

    __tablename__ = "user_categories"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    category: Mapped[str] = mapped_column(String(16), primary_key=True, index=True)

    user: Mapped[User] = relationship(back_populates="categories")


class Concern(db.Model):
    """One "what matters most" answer, for a ward, from the survey or a meeting.

    ``user_id`` is cleared (and ``text`` erased) when the resident deletes their account;
    the topic and ``respondent_key`` stay so the ward's anonymous counts do not change.
    """

    __tablename__ = "concerns"
    __table_args__ = (UniqueConstraint("respondent_key", "source", "source_id", "topic"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True)
    respondent_key: Mapped[str] = mapped_column(String(32))
    ward_id: Mapped[int] = mapped_column(ForeignKey("wards.id"), index=True)
    topic: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="survey")  # survey | meeting
    source_id: Mapped[int] = mapped_column(default=0)  # the meeting's id for meeting concerns
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ward: Mapped["Ward"] = relationship()  # noqa: F821
from webapp.accounts import phone as _phone  # noqa: E402,F401  (sms_numbers, phone_codes, sms_categories)
