"""Email addresses and display names: normalising and checking what residents type."""
from __future__ import annotations


from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from webapp.accounts.models import User
from webapp.extensions import db
import unicodedata


DISPLAY_NAME_MAX = 60
EMAIL_MAX = 254


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
