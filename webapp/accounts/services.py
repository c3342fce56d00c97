"""Residents' accounts: sign-up and sign-in by emailed link, the survey's answers, export
and deletion.

Plain functions with explicit arguments; none of them reads ``request``. Functions that
change data say whether they commit. Email goes out only after the commit
(:func:`send_signin_email`), so a rolled-back sign-up never mails a link.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import urljoin

from email_validator import EmailNotValidError, validate_email
from flask import current_app, url_for
from sqlalchemy import delete, select, update

from webapp.accounts.models import Concern, User, UserCategory, UserWard
from webapp.platform.mail import send_email
from webapp.accounts.personal_data import erase_traces
from webapp.extensions import db
from webapp.platform.account_data import DELETERS, EXPORTERS
from webapp.platform.security import safe_next
from webapp.platform.taxonomy import (CATEGORIES, CONCERN_TEXT_MAX, CONCERN_TOPICS, EMAIL_FREQUENCIES,
                             MAX_CONCERNS, MAX_EXTRA_WARDS)
from webapp.platform.timeutil import utcnow
from webapp.platform.tokens import TokenError, consume, is_used, make_token, read_token
from webapp.wards.models import Ward
from webapp.wards.services import get_ward
import unicodedata

log = logging.getLogger("wardline.accounts")

SIGNIN_PURPOSE = "signin"
DISPLAY_NAME_MAX = 60
EMAIL_MAX = 254
SURVEY_STEPS = 3
SURVEY_DONE = SURVEY_STEPS + 1


class AnswerError(ValueError):
    """An answer the resident must correct. ``field`` names the form field it belongs to."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


# --------------------------------------------------------------------------- email addresses
def normalise_email(raw: str | None) -> str:
    """Return ``raw`` stripped and lower-cased if it is a valid address.

    Raises :class:`AnswerError` (field ``email``) when it is empty, too long or not an email
    address. No DNS lookups: deliverability is proven by the link in the email.
    """
    value = (raw or "").strip().lower()
    if not value:
        raise AnswerError("email", "Enter your email address.")
    if len(value) > EMAIL_MAX:
        raise AnswerError("email", f"An email address has at most {EMAIL_MAX} characters.")
    try:
        valid = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise AnswerError("email", "Enter an email address like name@example.com.") from exc
    return valid.normalized.lower()


def clean_display_name(raw: str | None) -> str:
    """Return the name officers will see, with whitespace collapsed.

    Raises :class:`AnswerError` (field ``display_name``) when empty or over 60 characters.
    """
    value = " ".join((raw or "").split())
    if not value:
        raise AnswerError("display_name", "Enter the name your ward team will see.")
    if len(value) > DISPLAY_NAME_MAX:
        raise AnswerError("display_name",
                          f"Your name can have at most {DISPLAY_NAME_MAX} characters.")
    if any(ord(ch) < 32 for ch in value):
        raise AnswerError("display_name", "Your name contains characters we can't use.")
    if impersonates_police(value):
        raise AnswerError("display_name", RESERVED_NAME_MESSAGE)
    return value


# Words a resident's name may not contain, so that no one can pass as police in a
# conversation, a meeting list or an export: ranks and their abbreviations, titles, and
# the labels the app itself uses for the ward team.
RESERVED_NAME_WORDS = frozenset("""
    pc pcso wpc ps dc ds dci dsu dcs sgt sergeant insp inspector constable constabulary
    officer officers police policeman policewoman detective superintendent supt commander
    commissioner cadet met metropolitan snt wardline admin administrator moderator staff
""".split())
RESERVED_NAME_PHRASES = ("ward team", "neighbourhood team", "safer neighbourhood",
                         "special constable", "your team")
RESERVED_NAME_MESSAGE = ("Your name can't include a police rank or title (such as PC or "
                         "Sergeant) or the name of one of our officers, so residents always "
                         "know who is police. Please use your own name.")


# Cyrillic and Greek letters that look like Latin ones ("РС" is not "PC" to a computer).
_LOOKALIKES = str.maketrans("асеорхукмтнвіѕјԁɡаСЕОРХУКМТНВІЅЈ" "οραεκντιΟΡΑΕΚΝΤΙΜΗΒΖΥΧ",
                            "aceopxykmthbisjdgaCEOPXYKMTHBISJ" "opaekvtiOPAEKNTIMHBZYX")


def name_key(value: str) -> str:
    """``value`` folded for comparing names: compatibility forms (full-width, ligatures),
    Cyrillic and Greek look-alikes, accents and case removed, anything but letters and digits turned into single spaces
    (so "P.C.", "P C" and "ＰＣ" all read "p c" / "pc")."""
    folded = unicodedata.normalize("NFKD", value)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    folded = folded.translate(_LOOKALIKES).casefold()
    return " ".join("".join(ch if ch.isalnum() else " " for ch in folded).split())


def impersonates_police(value: str) -> bool:
    """True when the display name ``value`` contains a reserved rank, title or phrase, or
    the full name of an officer or admin (a resident must not appear as "PC Jane Morgan"
    or as "Jane Morgan" when she is one of ours)."""
    key = name_key(value)
    words = key.split()
    # "P.C." and "P C" are "p c": join runs of single letters back into one word too.
    joined, run = [], ""
    for word in words + [""]:
        if len(word) == 1:
            run += word
            continue
        if run:
            joined.append(run)
            run = ""
        if word:
            joined.append(word)
    if RESERVED_NAME_WORDS & (set(words) | set(joined)):
        return True
    padded = f" {key} "
    if any(f" {phrase} " in padded for phrase in RESERVED_NAME_PHRASES):
        return True
    staff_names = db.session.scalars(select(User.display_name).where(
        User.role.in_(("officer", "admin"))))
    return any(f" {name_key(name)} " in padded for name in staff_names if name_key(name))


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email))


# --------------------------------------------------------------------------- sign-up, sign-in
def register_resident(email: str, display_name: str) -> User:
    """Return the account for ``email``, creating an unconfirmed resident if there is none.

    An existing confirmed account is left as it is (someone else typing your address must
    not rename you); an unconfirmed one takes the newest name. Commits.
    """
    user = find_user_by_email(email)
    if user is None:
        user = User(email=email, display_name=display_name, role="resident")
        db.session.add(user)
    elif user.is_resident and user.confirmed_at is None:
        user.display_name = display_name
    db.session.commit()
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

    Commits. Raises :class:`TokenError` as :func:`check_signin_token` does; a race between
    two uses is caught by the unique ``used_tokens`` row ("used").
    """
    user, payload = check_signin_token(token, max_age=max_age)
    consume(SIGNIN_PURPOSE, payload["jti"])
    now = utcnow()
    if user.confirmed_at is None:
        user.confirmed_at = now
    user.last_login_at = now
    db.session.commit()
    return user, safe_next(payload.get("next"))


# --------------------------------------------------------------------------- wards
def _ward_or_error(code: str | None, field: str) -> Ward:
    ward = get_ward((code or "").strip())
    if ward is None:
        raise AnswerError(field, "Choose a ward from the list.")
    return ward


def _extra_links(user: User) -> list[UserWard]:
    return sorted((w for w in user.wards if not w.is_home), key=lambda w: w.position)


def set_home_ward(user: User, ward: Ward) -> None:
    """Make ``ward`` the user's home ward (replacing the old one) and move their survey
    concerns there, since concerns belong to where the resident lives. Does not commit."""
    old_home = user.home_ward
    if old_home is not None and old_home.id == ward.id:
        return
    for link in list(user.wards):
        if link.is_home or link.ward_id == ward.id:
            user.wards.remove(link)
    db.session.flush()
    user.wards.append(UserWard(ward=ward, ward_id=ward.id, is_home=True, position=0))
    db.session.flush()
    db.session.execute(update(Concern).where(Concern.user_id == user.id,
                                             Concern.source == "survey")
                       .values(ward_id=ward.id))


def add_extra_ward(user: User, ward: Ward) -> None:
    """Follow ``ward`` as well as the home ward (at most two more). Does not commit.

    Raises :class:`AnswerError` (field ``ward``) when it is already followed or the
    resident already follows two more wards.
    """
    if any(link.ward_id == ward.id for link in user.wards):
        raise AnswerError("ward", f"You already follow {ward.name}.")
    extras = _extra_links(user)
    if len(extras) >= MAX_EXTRA_WARDS:
        raise AnswerError("ward", f"You can follow up to {MAX_EXTRA_WARDS} more wards. "
                                  "Remove one first.")
    position = max((link.position for link in extras), default=0) + 1
    user.wards.append(UserWard(ward=ward, ward_id=ward.id, is_home=False, position=position))
    db.session.flush()


def remove_extra_ward(user: User, code: str) -> None:
    """Stop following an extra ward (the home ward can only be replaced). Does not commit."""
    for link in _extra_links(user):
        if link.ward.code == (code or "").upper():
            user.wards.remove(link)
            db.session.flush()
            return


def choose_ward(user: User, code: str | None, role: str) -> Ward:
    """Save one choice from the ward finder: ``role`` "home" or "extra". Commits.

    Raises :class:`AnswerError` (field ``ward``) for an unknown ward or a rule broken.
    """
    ward = _ward_or_error(code, "ward")
    if role == "home":
        set_home_ward(user, ward)
    elif role == "extra":
        add_extra_ward(user, ward)
    else:
        raise AnswerError("ward", "Choose whether you live in this ward or want to follow it.")
    db.session.commit()
    return ward


def set_wards(user: User, home_code: str | None, extra_codes: Iterable[str] = ()) -> None:
    """Replace the user's wards at once (the survey's plain form). Does not commit.

    Raises :class:`AnswerError` (field ``home_ward`` or ``extra_wards``).
    """
    home = _ward_or_error(home_code, "home_ward")
    codes = [c.strip().upper() for c in extra_codes if c and c.strip()]
    codes = [c for i, c in enumerate(codes) if c not in codes[:i] and c != home.code]
    if len(codes) > MAX_EXTRA_WARDS:
        raise AnswerError("extra_wards", f"Choose at most {MAX_EXTRA_WARDS} more wards.")
    extras = [_ward_or_error(c, "extra_wards") for c in codes]
    set_home_ward(user, home)
    for link in _extra_links(user):
        user.wards.remove(link)
    db.session.flush()
    for ward in extras:
        add_extra_ward(user, ward)


# --------------------------------------------------------------------------- updates
def set_updates(user: User, categories: Iterable[str], frequency: str) -> None:
    """Save which updates the resident wants and how often by email. Does not commit.

    Push needs no account-wide switch: registering a device (the PWA's control) is the
    opt-in, and removing it is the opt-out.

    Raises :class:`AnswerError` for an unknown category or frequency.
    """
    chosen = list(dict.fromkeys(categories))
    unknown = [c for c in chosen if c not in CATEGORIES]
    if unknown:
        raise AnswerError("categories", "Choose updates from the list.")
    if frequency not in EMAIL_FREQUENCIES:
        raise AnswerError("email_frequency", "Choose how often we should email you.")
    user.categories = [UserCategory(category=c) for c in chosen]
    user.email_frequency = frequency
    db.session.flush()


def _has_push_device(user: User) -> bool:
    """Whether ``user`` turned notifications on on any device. The table belongs to the
    delivery domain (above this one), so it is read through the metadata, not imported."""
    table = db.metadata.tables.get("push_subscriptions")
    if table is None or user.id is None:
        return False
    return db.session.execute(select(table.c.id).where(table.c.user_id == user.id).limit(1)) \
        .first() is not None


def nothing_reaches(user: User, categories: Iterable[str], frequency: str) -> str | None:
    """Why these update choices mean ``user`` will hear nothing: "no_category" (no update
    ticked), "no_channel" (email off and notifications on no device), or None."""
    if not list(categories):
        return "no_category"
    if frequency == "off" and not _has_push_device(user):
        return "no_channel"
    return None


def updates_chosen(user: User) -> bool:
    """Whether the resident has saved their update choices (survey step 2) yet."""
    return user.survey_completed_at is not None or (user.survey_step or 1) > 2 \
        or bool(user.category_codes)


# --------------------------------------------------------------------------- concerns
def survey_concerns(user: User) -> list[Concern]:
    return list(db.session.scalars(select(Concern).where(
        Concern.user_id == user.id, Concern.source == "survey").order_by(Concern.id)))


def set_concerns(user: User, topics: Iterable[str], other_text: str | None) -> None:
    """Replace the resident's survey concerns (at most three topics) for their home ward.

    "other" needs words (at most 280 characters). Does not commit. Raises
    :class:`AnswerError` (field ``concerns`` or ``other_text``); nothing changes then.
    """
    chosen = list(dict.fromkeys(topics))
    text = (other_text or "").strip()
    if any(t not in CONCERN_TOPICS for t in chosen):
        raise AnswerError("concerns", "Choose topics from the list.")
    if len(chosen) > MAX_CONCERNS:
        raise AnswerError("concerns", f"Choose up to {MAX_CONCERNS} topics.")
    if len(text) > CONCERN_TEXT_MAX:
        raise AnswerError("other_text",
                          f"Use at most {CONCERN_TEXT_MAX} characters (you used {len(text)}).")
    if "other" in chosen and not text:
        raise AnswerError("other_text", "Tell us what else matters to you.")
    if text and "other" not in chosen:
        raise AnswerError("other_text",
                          "Tick \u201cSomething else\u201d to send these words, or clear them.")
    home = user.home_ward
    if home is None:
        raise AnswerError("home_ward", "Choose the ward where you live first.")
    db.session.execute(delete(Concern).where(Concern.user_id == user.id,
                                             Concern.source == "survey"))
    for topic in chosen:
        db.session.add(Concern(user_id=user.id, respondent_key=user.respondent_key,
                               ward_id=home.id, topic=topic, source="survey", source_id=0,
                               text=text if topic == "other" else None))
    db.session.flush()


# --------------------------------------------------------------------------- survey
def survey_position(user: User, requested: int | None = None) -> int:
    """The step to show: ``requested`` if the resident reached it, else where they left."""
    reached = min(max(user.survey_step or 1, 1), SURVEY_STEPS)
    if user.home_ward is None:
        reached = 1  # nothing after step 1 makes sense without a home ward
    if requested and 1 <= requested <= reached:
        return requested
    return reached


def advance_survey(user: User, finished_step: int) -> None:
    """Remember that ``finished_step`` is done; the last step completes the survey.
    Does not commit."""
    user.survey_step = max(user.survey_step or 1, finished_step + 1)
    if finished_step >= SURVEY_STEPS and user.survey_completed_at is None:
        user.survey_completed_at = utcnow()


def set_display_name(user: User, raw: str | None) -> None:
    """Change the name officers see. Raises :class:`AnswerError`. Does not commit."""
    user.display_name = clean_display_name(raw)


# --------------------------------------------------------------------------- export, deletion
def _iso(value) -> str | None:
    return value.isoformat() + "Z" if value else None


def export_user_data(user: User) -> dict:
    """Everything Wardline holds about ``user``, as a JSON-able dict."""
    data: dict[str, object] = {
        "account": {
            "email": user.email, "display_name": user.display_name, "role": user.role,
            "created_at": _iso(user.created_at), "confirmed_at": _iso(user.confirmed_at),
            "last_login_at": _iso(user.last_login_at),
            "email_frequency": user.email_frequency,
            "survey_completed_at": _iso(user.survey_completed_at),
            "respondent_key": user.respondent_key,
        },
        "wards": [{"code": link.ward.code, "name": link.ward.name,
                   "borough": link.ward.borough.name, "home": link.is_home}
                  for link in sorted(user.wards, key=lambda w: (not w.is_home, w.position))],
        "categories": [{"code": c, "label": CATEGORIES[c]}
                       for c in CATEGORIES if c in user.category_codes],
        "concerns": [{"topic": c.topic, "label": CONCERN_TOPICS.get(c.topic, c.topic),
                      "text": c.text, "ward": c.ward.code, "source": c.source,
                      "created_at": _iso(c.created_at)}
                     for c in db.session.scalars(select(Concern).where(
                         Concern.user_id == user.id).order_by(Concern.id))],
    }
    for exporter in EXPORTERS:
        key, value = exporter(user)
        data[key] = value
    return data


def delete_account(user: User) -> None:
    """Remove the account and personal data of ``user``. Commits.

    First :func:`webapp.accounts.personal_data.erase_traces` removes the resident's own
    notifications and redacts what identifies them from free text others wrote (audit
    details, notifications, posts); then other domains' :data:`DELETERS` run; concerns keep
    their topic, ward and respondent key (anonymous counts stay) but lose their author and
    words; then the user row goes, and with it (by cascade) their wards and categories.
    A keyed hash of a blocked resident's address stays (see ``BlockedAddress``).
    """
    erase_traces(user)
    for deleter in DELETERS:
        deleter(user)
    db.session.execute(update(Concern).where(Concern.user_id == user.id)
                       .values(user_id=None, text=None))
    db.session.delete(user)
    db.session.commit()
