"""A resident's preferences: their wards (home and up to two more), which updates and how
often, their concerns, the survey that asks for them, their name."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, delete, select, update

from webapp.accounts.models import SURVEY_STEPS, Concern, User, UserCategory, UserWard
from webapp.extensions import db
from webapp.platform.taxonomy import (CATEGORIES, CONCERN_TEXT_MAX, CONCERN_TOPICS, EMAIL_FREQUENCIES,
                             MAX_CONCERNS, MAX_EXTRA_WARDS)
from webapp.platform.timeutil import utcnow
from webapp.wards.models import Ward
from webapp.wards.services import get_ward

from webapp.accounts.identity import AnswerError, clean_display_name


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
        raise AnswerError("ward", f"You already follow {MAX_EXTRA_WARDS} wards besides your own, "
                                  "the most you can. Stop following one of them first.")
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


def mute_ward(user: User, code: str, muted: bool = True) -> UserWard | None:
    """Stop (or start again) updates about one of the user's wards, which stays followed:
    the unsubscribe page's "stop this ward" for the home ward, which cannot be unfollowed.
    Returns the link changed, or None if the user does not follow ``code``. Flushes."""
    for link in user.wards:
        if link.ward.code == (code or "").upper():
            link.muted = muted
            db.session.flush()
            return link
    return None


def choose_ward(user: User, code: str | None, role: str) -> Ward:
    """Save one choice from the ward finder: ``role`` "home" or "extra". The caller commits.

    Raises :class:`AnswerError` (field ``ward``) for an unknown ward or a rule broken.
    """
    ward = _ward_or_error(code, "ward")
    if role == "home":
        set_home_ward(user, ward)
    elif role == "extra":
        add_extra_ward(user, ward)
    else:
        raise AnswerError("ward", "Choose whether you live in this ward or want to follow it.")
    db.session.flush()
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
_SURVEY_CONCERNS = select(Concern).where(Concern.user_id == bindparam("user_id"),
                                         Concern.source == "survey").order_by(Concern.id)


def survey_concerns(user: User) -> list[Concern]:
    """The resident's survey answers (a statement built once)."""
    return list(db.session.scalars(_SURVEY_CONCERNS, {"user_id": user.id}))


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
