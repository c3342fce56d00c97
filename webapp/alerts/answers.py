"""The "Was this useful?" answers of an alert's audience: who may rate an alert, their
answer, and recording it. Services flush; the views commit."""
from __future__ import annotations

from sqlalchemy import and_, bindparam, exists, or_, select, update

from webapp.accounts import residents_following
from webapp.alerts.models import Alert, AlertAnswer, AlertWard
from webapp.delivery.models import Delivery, Notification
from webapp.extensions import db
from webapp.platform.db import insert_ignore
from webapp.platform.timeutil import utcnow


def answer_for(alert: Alert, user) -> AlertAnswer | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return db.session.scalar(select(AlertAnswer).where(AlertAnswer.alert_id == alert.id,
                                                       AlertAnswer.user_id == user.id))


def _audience_sql(alert: Alert, user):
    """EXISTS: ``user`` received ``alert`` (a row in the outbox), or its wards and category
    reach them now."""
    sent = exists().where(Delivery.user_id == user.id,
                          Delivery.notification_id == Notification.id,
                          Notification.source_type == "alert", Notification.source_id == alert.id)
    ward_ids = select(AlertWard.ward_id).where(AlertWard.alert_id == alert.id)
    reached = residents_following(ward_ids, alert.category).subquery()
    return or_(sent, exists().where(reached.c.user_id == user.id))


def in_audience(alert: Alert, user) -> bool:
    """May ``user`` rate ``alert``? Only its audience (one statement)."""
    if user is None or not getattr(user, "is_authenticated", False) or user.role != "resident":
        return False
    return db.session.scalar(select(_audience_sql(alert, user))) is True


def _answer_and_audience_statement():
    alert_id, user_id = bindparam("alert_id"), bindparam("user_id")
    sent = exists().where(Delivery.user_id == user_id,
                          Delivery.notification_id == Notification.id,
                          Notification.source_type == "alert", Notification.source_id == alert_id)
    ward_ids = select(AlertWard.ward_id).where(AlertWard.alert_id == alert_id)
    reached = residents_following(ward_ids, bindparam("category")).subquery()
    return (select(AlertAnswer, or_(sent, exists().where(reached.c.user_id == user_id)))
            .select_from(Alert)
            .outerjoin(AlertAnswer, and_(AlertAnswer.alert_id == Alert.id,
                                         AlertAnswer.user_id == user_id))
            .where(Alert.id == alert_id))


# Built once (the statement of _audience_sql with the answer, its values bound at run time):
# building it and its cache key on every alert page cost about as much as running it.
_ANSWER_AND_AUDIENCE = _answer_and_audience_statement()


def answer_and_audience(alert: Alert, user) -> tuple[AlertAnswer | None, bool]:
    """(:func:`answer_for`, :func:`in_audience`) in one statement, for the alert page."""
    if user is None or not getattr(user, "is_authenticated", False) or user.role != "resident":
        return answer_for(alert, user), False
    row = db.session.execute(_ANSWER_AND_AUDIENCE, {"alert_id": alert.id, "user_id": user.id,
                                                    "category": alert.category}).one()
    return row[0], bool(row[1])


def answer_useful(alert: Alert, user, useful: bool) -> AlertAnswer:
    """Record a resident's "Was this useful?" answer: one row per resident (unique), a
    second answer changes it. Race-safe (ON CONFLICT DO NOTHING, then update). The caller
    commits."""
    now = utcnow()
    db.session.execute(insert_ignore(AlertAnswer.__table__).values(
        alert_id=alert.id, user_id=user.id, useful=useful, answered_at=now)
        .on_conflict_do_nothing())
    db.session.execute(update(AlertAnswer).where(AlertAnswer.alert_id == alert.id,
                                                 AlertAnswer.user_id == user.id)
                       .values(useful=useful, answered_at=now)
                       .execution_options(synchronize_session=False))
    return db.session.scalar(select(AlertAnswer).where(
        AlertAnswer.alert_id == alert.id, AlertAnswer.user_id == user.id)
        .execution_options(populate_existing=True))
