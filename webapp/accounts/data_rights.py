""""Download my data" and account deletion, with every domain's hooks
(:mod:`webapp.platform.account_data`)."""
from __future__ import annotations


from sqlalchemy import select, update

from webapp.accounts.models import Concern, User, UserCategory
from webapp.accounts.personal_data import erase_traces
from webapp.extensions import db
from webapp.platform.account_data import DELETERS, Gathered, export_all
from webapp.wards.models import Ward
from webapp.platform.taxonomy import (CATEGORIES, CONCERN_TOPICS)




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
            "notifications_prompt_answered_at": _iso(user.push_prompt_answered_at),
            "respondent_key": user.respondent_key,
        },
        "wards": [{"code": link.ward.code, "name": link.ward.name,
                   "borough": link.ward.borough.name, "home": link.is_home,
                   "updates_stopped": link.muted}
                  for link in sorted(user.wards, key=lambda w: (not w.is_home, w.position))],
    }
    # Every section's rows in one statement (the Gathered exporters), the user's own first.
    for key, value in export_all(user, first=(_CATEGORIES, _CONCERNS)):
        data[key] = value
    return data


_CATEGORIES = Gathered(
    parts=lambda user: {"codes": (select(UserCategory.category)
                                  .where(UserCategory.user_id == user.id), ())},
    build=lambda user, rows: ("categories", [
        {"code": c, "label": CATEGORIES[c]} for c in CATEGORIES
        if c in {row["category"] for row in rows["codes"]}]))

_CONCERNS = Gathered(
    parts=lambda user: {"concerns": (
        select(Concern.id, Concern.topic, Concern.text, Ward.code.label("ward"), Concern.source,
               Concern.created_at).join(Ward, Ward.id == Concern.ward_id)
        .where(Concern.user_id == user.id), ("id",))},
    build=lambda user, rows: ("concerns", [
        {"topic": c["topic"], "label": CONCERN_TOPICS.get(c["topic"], c["topic"]),
         "text": c["text"], "ward": c["ward"], "source": c["source"],
         "created_at": _iso(c["created_at"])} for c in rows["concerns"]]))


def delete_account(user: User) -> None:
    """Remove the account and personal data of ``user``, in one transaction; the caller commits.

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
    db.session.flush()
