"""Who an alert is for, as the outbox's fan-out rebuilds it in each part it writes
(registered as the "alert" audience of :mod:`webapp.delivery.fanout`)."""
from __future__ import annotations

from sqlalchemy import select

from webapp.accounts import residents_following
from webapp.alerts.models import Alert, AlertWard
from webapp.extensions import db


def audience_of(alert_id: int, users: tuple[int, int] | None = None):
    """The residents alert ``alert_id`` is for: those following one of its wards who
    chose its category (:func:`webapp.accounts.residents_following`); only the user ids
    ``users`` (first, last) when given (a part of the fan-out)."""
    alert = db.session.get(Alert, alert_id)
    if alert.scope == "london":  # every ward (resolve_target): following any ward will do
        ward_ids = None
    else:
        # A list, not a sub-SELECT: the planner then knows how many wards there are and
        # picks hash joins instead of nested loops.
        ward_ids = list(db.session.scalars(select(AlertWard.ward_id)
                                           .where(AlertWard.alert_id == alert_id)))
    return residents_following(ward_ids, alert.category, users)
