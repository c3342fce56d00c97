"""Ward priorities' shared ground: input errors, the configured limits, topic labels, the
scrubbing of public officer text, and who may edit which ward's priorities and rounds."""
from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from webapp.extensions import db
from webapp.platform.taxonomy import CONCERN_TOPICS
from webapp.posts import scrub_identity
from webapp.priorities.models import Priority, PriorityRound
from webapp.wards.services import covered_ward_ids, covers_ward


class PriorityError(ValueError):
    """Input to correct; ``field`` names the form field it belongs to."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def max_priorities() -> int:
    return max(1, int(current_app.config.get("PRIORITIES_MAX", 3)))


def min_count() -> int:
    """Below this many people a public count is hidden (see ``STATS_MIN_COUNT``)."""
    return max(1, int(current_app.config.get("STATS_MIN_COUNT", 5)))


def topic_label(topic: str) -> str:
    return CONCERN_TOPICS.get(topic, topic)


def _scrub(text: str) -> str:
    """Public officer text keeps no email address or phone number (as ward posts)."""
    return scrub_identity((text or "").strip(), None)


# --------------------------------------------------------------------------- scope
def may_edit(user, ward_id: int) -> bool:
    """Only the officers of the teams covering the ward (and admins) edit its priorities."""
    return bool(user and getattr(user, "is_authenticated", False) and user.is_staff
                and covers_ward(user, ward_id))


def priorities_editable_by(user):
    """SELECT of the priorities ``user`` may change."""
    return select(Priority).where(Priority.ward_id.in_(covered_ward_ids(user)))


def get_priority_for(user, priority_id: int) -> Priority | None:
    return db.session.scalar(priorities_editable_by(user).where(Priority.id == priority_id))


def get_round_for(user, round_id: int) -> PriorityRound | None:
    return db.session.scalar(select(PriorityRound).where(
        PriorityRound.id == round_id, PriorityRound.ward_id.in_(covered_ward_ids(user))))
