"""Alerts: rendering, targeting, the audience preview, set-based fan-out into the outbox,
scheduled sending, stats and usefulness answers.

The audience of an alert: residents (confirmed e-mail) who follow at least one of the
alert's wards (home or extra, :class:`UserWard`) and chose its category
(:class:`UserCategory`); each resident once, however many of their wards are targeted.
The preview counts and the fan-out use the same SQL (:func:`audience`), and the same
channel rules as :func:`webapp.delivery.notify` (:func:`email_channel_sql`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import nh3
from markdown_it import MarkdownIt
from sqlalchemy import and_, case, exists, func, literal, or_, select, union_all, update

from webapp.accounts import residents_following
from webapp.accounts.phone import texted
from webapp.alerts.models import ALERT_CHANNELS, BODY_MAX, TITLE_MAX, Alert, AlertAnswer, AlertWard
from webapp.delivery.models import Delivery, Notification, PushSubscription
from webapp.delivery.retention import retained_counts
from webapp.delivery import Event
from webapp.alerts.audience import audience_of
from webapp.delivery.fanout import progress, register_audience, start_fan_out
from webapp.delivery.services import email_channel_sql
from webapp.extensions import db
from webapp.platform.taxonomy import CATEGORIES
from webapp.platform.account_data import Gathered, register_account_data
from webapp.platform.db import write_transaction
from webapp.platform.timeutil import utcnow
from webapp.wards.models import Borough, Ward
from webapp.wards.services import covered_ward_ids
from webapp.platform.audit import record
from webapp.alerts.answers import answer_useful  # noqa: F401  (tests/support/world.py imports it here)

ALLOWED_TAGS = {"p", "a", "strong", "em", "ul", "ol", "li", "br"}
_markdown = MarkdownIt("commonmark", {"html": False, "breaks": True})
_BARE_URL = re.compile(r"(?<![<(\[\w/])(https?://[^\s<>()\[\]]+[^\s<>()\[\].,;:!?'\"])")
MAX_SCHEDULE_AHEAD = timedelta(days=60)


class AlertError(ValueError):
    """The alert cannot be saved or changed as asked (the message says why)."""


class NotAllowed(PermissionError):
    """The user may not target these wards or touch this alert."""


# --------------------------------------------------------------------------- body
def render_body(text: str) -> str:
    """Render plain text with a small Markdown subset to safe HTML.

    Bare http(s) links become links; only p, a[href], strong, em, ul, ol, li and br
    survive nh3, links get rel="noopener nofollow", and only http(s)/mailto URLs work.
    """
    text = _BARE_URL.sub(r"<\1>", text or "")
    html = _markdown.render(text)
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes={"a": {"href"}},
                     url_schemes={"http", "https", "mailto"}, link_rel="noopener nofollow")


# --------------------------------------------------------------------------- targeting
@dataclass
class Target:
    """Resolved audience: the ward ids, how they were chosen, and a label for people."""

    ward_ids: list[int]
    scope: str
    label: str


def resolve_target(user, scope: str, ward_ids=(), borough_id: int | None = None) -> Target:
    """Turn the form's audience choice into ward ids the user covers.

    Raises :class:`NotAllowed` when a ward (or London-wide sending, for non-admins) is
    outside the user's cover, and :class:`AlertError` when nothing was chosen.
    """
    covered = covered_ward_ids(user)
    if scope == "london":
        if getattr(user, "role", None) != "admin":
            raise NotAllowed("Only admins can send to all of London.")
        ids = list(db.session.scalars(select(Ward.id)))
        return Target(ids, "london", "All of London")
    if scope == "borough":
        borough = db.session.get(Borough, borough_id) if borough_id else None
        if borough is None:
            raise AlertError("Choose a borough.")
        ids = list(db.session.scalars(select(Ward.id).where(
            Ward.borough_id == borough.id, Ward.id.in_(covered))))
        if not ids:
            raise NotAllowed("You don't cover any ward in that borough.")
        return Target(ids, "borough", f"{borough.name} (the wards you cover)"
                      if user.role != "admin" else borough.name)
    wanted = sorted({int(w) for w in ward_ids or ()})
    if not wanted:
        raise AlertError("Choose at least one ward.")
    # The wards, whether each is covered, and their names for the label: one statement.
    rows = db.session.execute(select(Ward.id, Ward.name, Ward.id.in_(covered).label("covered"))
                              .where(Ward.id.in_(wanted)).order_by(Ward.name)).all()
    if {ward_id for ward_id, _, ok in rows if ok} != set(wanted):
        raise NotAllowed("You can only send alerts to wards you cover.")
    names = [name for _, name, _ in rows]
    label = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return Target(wanted, "wards", label[:200])


@dataclass
class AudienceCounts:
    residents: int = 0
    email_now: int = 0
    digest: int = 0
    push_residents: int = 0
    push_devices: int = 0
    sms: int = 0  # residents texted (a confirmed mobile; urgent, or the category chosen)


def audience_counts(ward_ids, category: str, channels, urgent: bool) -> AudienceCounts:
    """How many residents the alert reaches, and by which channel (the live preview).
    Uses :func:`residents_following` and :func:`email_channel_sql`, exactly as :func:`fan_out`."""
    if not ward_ids or category not in CATEGORIES:
        return AudienceCounts()
    who = residents_following(ward_ids, category).subquery()
    channel = email_channel_sql(who.c.email_frequency, "alert", urgent)
    residents, email_now, digest = db.session.execute(select(
        func.count(),
        func.coalesce(func.sum(case((channel == "email", 1), else_=0)), 0),
        func.coalesce(func.sum(case((channel == "digest", 1), else_=0)), 0),
    ).select_from(who)).one()
    counts = AudienceCounts(residents=residents)
    if "email" in channels:
        counts.email_now, counts.digest = int(email_now), int(digest)
    if "push" in channels:
        counts.push_residents, counts.push_devices = db.session.execute(
            select(func.count(func.distinct(PushSubscription.user_id)),
                   func.count(PushSubscription.id))
            .join(who, who.c.user_id == PushSubscription.user_id)).one()
    if "sms" in channels:
        counts.sms = db.session.scalar(select(func.count()).select_from(who).where(
            texted(who.c.user_id, category, urgent)))
    return counts


def fan_out(alert: Alert, now: datetime) -> int:
    """Write the alert's deliveries to the outbox in parts (:func:`webapp.delivery.fanout.
    start_fan_out`): the first in the caller's transaction, the rest by the workers; a
    repeated send adds nothing. Returns the number of rows written now."""
    return start_fan_out(event_for(alert), "alert", alert.id, channels=alert.channel_list,
                         now=now)


register_audience("alert", audience_of)


def event_for(alert: Alert) -> Event:
    """The outbox event for ``alert`` (shared content of all its deliveries)."""
    return Event(kind="alert", source_type="alert", source_id=alert.id, title=alert.title,
                 body=alert.body, url=f"/alerts/{alert.id}", category=alert.category,
                 urgent=alert.urgent, email_template="alerts/alert",
                 email_context={"body_html": alert.body_html, "wards": alert.scope_label,
                                "category": CATEGORIES.get(alert.category, "")},
                 tag=f"alert-{alert.id}")


# --------------------------------------------------------------------------- lifecycle
@dataclass
class AlertInput:
    title: str
    body: str
    category: str
    channels: list[str]
    target: Target
    urgent: bool = False
    send_at: datetime | None = None  # naive UTC; None = now


def _validate(data: AlertInput, now: datetime) -> None:
    if not data.title.strip() or len(data.title) > TITLE_MAX:
        raise AlertError(f"Give a title of at most {TITLE_MAX} characters.")
    if not data.body.strip() or len(data.body) > BODY_MAX:
        raise AlertError(f"Write the alert in at most {BODY_MAX} characters.")
    if data.category not in CATEGORIES:
        raise AlertError("Choose a category.")
    if not data.channels or any(c not in ALERT_CHANNELS for c in data.channels):
        raise AlertError("Choose at least one channel.")
    if data.send_at is not None and not (now < data.send_at <= now + MAX_SCHEDULE_AHEAD):
        raise AlertError("Choose a time in the future, within 60 days.")


def _apply(alert: Alert, data: AlertInput, now: datetime) -> None:
    alert.title = data.title.strip()
    alert.body = data.body.strip()
    alert.body_html = render_body(alert.body)
    alert.category = data.category
    alert.channels = ",".join(c for c in ALERT_CHANNELS if c in data.channels)
    alert.urgent = bool(data.urgent)
    alert.scope, alert.scope_label = data.target.scope, data.target.label
    alert.send_at = data.send_at or now
    alert.updated_at = now
    db.session.flush()
    db.session.execute(AlertWard.__table__.delete().where(AlertWard.alert_id == alert.id))
    db.session.execute(AlertWard.__table__.insert(),
                       [{"alert_id": alert.id, "ward_id": w} for w in data.target.ward_ids])


def create_alert(author, data: AlertInput, now: datetime | None = None) -> Alert:
    """Save a new alert and, unless scheduled, send it (fan out) in the same transaction.
    Urgent alerts are audit-logged. The caller commits. Raises AlertError."""
    now = now or utcnow()
    _validate(data, now)
    alert = Alert(author_id=author.id, state="scheduled", title="", body="", body_html="",
                  category=data.category)
    db.session.add(alert)
    _apply(alert, data, now)
    record(author, "alert.schedule" if data.send_at else "alert.send", alert,
           f"{alert.title} → {alert.scope_label}")
    if alert.urgent:
        record(author, "alert.urgent", alert, f"Urgent alert: {alert.title}")
    if data.send_at is None:
        send_alert(alert.id, now)
    db.session.flush()
    return alert


def update_alert(user, alert: Alert, data: AlertInput, now: datetime | None = None) -> Alert:
    """Change a scheduled alert (until it goes); the caller commits. Raises AlertError when it has
    gone or was cancelled."""
    now = now or utcnow()
    if not may_manage(user, alert):
        raise NotAllowed("You can only change alerts whose every ward you cover.")
    if alert.state != "scheduled":
        raise AlertError("This alert has already gone or was cancelled.")
    _validate(data, now)
    was_urgent = alert.urgent
    _apply(alert, data, now)
    record(user, "alert.edit", alert, alert.title)
    if alert.urgent and not was_urgent:
        record(user, "alert.urgent", alert, f"Urgent alert: {alert.title}")
    if data.send_at is None:
        send_alert(alert.id, now)
    db.session.flush()
    return alert


def cancel_alert(user, alert: Alert) -> None:
    """Cancel a scheduled alert. Conditional, so it cannot race the scheduler into a
    half-sent state. The caller commits. Raises AlertError if it has already gone, NotAllowed when
    ``user`` does not cover every ward of it."""
    if not may_manage(user, alert):
        raise NotAllowed("You can only cancel alerts whose every ward you cover.")
    done = db.session.execute(update(Alert).where(Alert.id == alert.id,
                                                  Alert.state == "scheduled")
                              .values(state="cancelled", updated_at=utcnow())
                              .execution_options(synchronize_session=False)).rowcount
    if not done:
        raise AlertError("This alert has already gone.")
    record(user, "alert.cancel", alert, alert.title)
    db.session.flush()
    db.session.refresh(alert)


def mark_sent(alert_id: int, now: datetime) -> bool:
    """Change the alert from scheduled to sent, in the caller's transaction. A conditional
    UPDATE (... WHERE state = 'scheduled'): whoever changes the row sends; a second caller
    (another scheduler, a cancel) gets False."""
    return db.session.execute(update(Alert).where(Alert.id == alert_id,
                                                  Alert.state == "scheduled")
                              .values(state="sent", sent_at=now)
                              .execution_options(synchronize_session=False)).rowcount == 1


def send_alert(alert_id: int, now: datetime | None = None) -> int:
    """Mark the alert sent and fan it out in the same (the caller's) transaction.
    Returns the number of deliveries written: 0 if it was not (or no longer) scheduled."""
    now = now or utcnow()
    if not mark_sent(alert_id, now):
        return 0
    alert = db.session.get(Alert, alert_id)
    db.session.refresh(alert)
    return fan_out(alert, now)


def send_due_alerts(now: datetime | None = None) -> int:
    """Scheduler tick: send every scheduled alert whose time has come, each in its own
    transaction. Safe with several schedulers. Returns how many alerts this call sent."""
    now = now or utcnow()
    sent = 0
    due = list(db.session.scalars(select(Alert.id).where(
        Alert.state == "scheduled", Alert.send_at <= now).order_by(Alert.send_at)))
    for alert_id in due:
        with write_transaction():
            if mark_sent(alert_id, now):
                alert = db.session.get(Alert, alert_id)
                db.session.refresh(alert)
                fan_out(alert, now)
                sent += 1
    return sent


# --------------------------------------------------------------------------- reading
def alerts_visible_to(user):
    """SELECT of the alerts an officer may see and manage: those targeting a ward they
    cover, and their own. Admins: all."""
    covered = covered_ward_ids(user)
    targets_covered = exists().where(AlertWard.alert_id == Alert.id,
                                     AlertWard.ward_id.in_(covered))
    return select(Alert).where(or_(targets_covered, Alert.author_id == user.id))


def get_alert_for(user, alert_id: int) -> Alert | None:
    return db.session.scalar(alerts_visible_to(user).where(Alert.id == alert_id))


def alerts_managed_by(user):
    """A SELECT of the alerts ``user`` may change or cancel: those whose every ward they
    cover (admins: all). Seeing an alert (one ward of theirs among its audience) is not
    enough: an officer must not rewrite or cancel someone else's London-wide alert."""
    return select(Alert).where(_covers_every_ward(user))


def _covers_every_ward(user):
    return ~exists().where(AlertWard.alert_id == Alert.id,
                           AlertWard.ward_id.not_in(covered_ward_ids(user)))


def get_alert_managed_by(user, alert_id: int) -> tuple[Alert | None, bool]:
    """:func:`get_alert_for`, and whether ``user`` may change it (:func:`may_manage`), in
    one statement."""
    row = db.session.execute(alerts_visible_to(user).add_columns(_covers_every_ward(user))
                             .where(Alert.id == alert_id)).first()
    return (row[0], bool(row[1])) if row else (None, False)


def may_manage(user, alert: Alert) -> bool:
    """True if ``user`` may edit or cancel ``alert`` (:func:`alerts_managed_by`)."""
    return db.session.scalar(alerts_managed_by(user).with_only_columns(Alert.id)
                             .where(Alert.id == alert.id)) is not None


def officer_alerts(user, limit: int = 100) -> list[Alert]:
    return list(db.session.scalars(alerts_visible_to(user)
                                   .order_by(Alert.created_at.desc(), Alert.id.desc())
                                   .limit(limit)))


def public_alert(alert_id: int) -> Alert | None:
    """A sent alert (alerts are public announcements once sent)."""
    return db.session.scalar(select(Alert).where(Alert.id == alert_id, Alert.state == "sent"))


def recent_alerts_for_ward(ward, limit: int = 5) -> list[Alert]:
    """The latest sent alerts that targeted ``ward`` (for the ward feed)."""
    stmt = (select(Alert).join(AlertWard, AlertWard.alert_id == Alert.id)
            .where(AlertWard.ward_id == ward.id, Alert.state == "sent")
            .order_by(Alert.sent_at.desc(), Alert.id.desc()).limit(limit))
    return list(db.session.scalars(stmt))


STAT_COLUMNS = ("queued", "retrying", "sent", "dead", "removed")
RETAINED_BUCKETS = {"sent": "sent", "delivered": "sent", "dead": "dead", "gone": "removed"}
USEFUL_ROW = "useful"  # not a channel: the answers' row in alert_stats' statement


def alert_stats(alert: Alert) -> dict:
    """Per channel (email, digest, push): queued / retrying (failed, will retry) / sent /
    dead / removed counts; usefulness answers; the fan-out while it is being written."""
    bucket = case(
        (Delivery.state.in_(("sent", "delivered")), "sent"),
        (Delivery.state == "dead", "dead"),
        (Delivery.state == "gone", "removed"),
        (and_(Delivery.state == "queued", Delivery.last_error.is_not(None)), "retrying"),
        else_="queued")
    answers = case((AlertAnswer.useful.is_(True), "yes"), else_="no")
    rows = db.session.execute(union_all(  # the usefulness answers in the same statement
        select(Delivery.channel, bucket, func.count())
        .join(Notification, Notification.id == Delivery.notification_id)
        .where(Notification.source_type == "alert", Notification.source_id == alert.id,
               Notification.kind == "alert")
        .group_by(Delivery.channel, bucket),
        select(literal(USEFUL_ROW), answers, func.count()).where(AlertAnswer.alert_id == alert.id)
        .group_by(answers))).all()
    useful = {answer: count for channel, answer, count in rows if channel == USEFUL_ROW}
    rows = [row for row in rows if row[0] != USEFUL_ROW]
    # Deliveries deleted by retention or with an account were counted first.
    kept = [(channel, RETAINED_BUCKETS[state], count)
            for channel, state, count in retained_counts("alert", alert.id, "alert")]
    channels = {ch: dict.fromkeys(STAT_COLUMNS, 0) for ch in ("email", "digest", "push", "sms")}
    for channel, state, count in [*rows, *kept]:
        channels.setdefault(channel, dict.fromkeys(STAT_COLUMNS, 0))[state] += count
    return {"channels": channels, "useful_yes": useful.get("yes", 0),
            "useful_no": useful.get("no", 0),
            "writing": progress("alert", alert.id)}  # a fan-out still being written


# --------------------------------------------------------------------------- account hooks
def _answer_parts(user) -> dict:
    """For "Download my data": the resident's "Was this useful?" answers."""
    return {"answers": (select(AlertAnswer.id, AlertAnswer.alert_id, Alert.title,
                               AlertAnswer.useful, AlertAnswer.answered_at)
                        .join(Alert, Alert.id == AlertAnswer.alert_id)
                        .where(AlertAnswer.user_id == user.id), ("id",))}


def _answer_section(user, rows) -> tuple[str, list]:
    return "alert_answers", [{"alert_id": r["alert_id"], "alert": r["title"], "useful": r["useful"],
                              "answered_at": r["answered_at"].isoformat() + "Z"}
                             for r in rows["answers"]]


def keep_answers_anonymous(user) -> None:
    """Account deletion: "Was this useful?" answers stay as anonymous counts (authored
    alerts keep their text with the author cleared, SET NULL)."""
    db.session.execute(update(AlertAnswer).where(AlertAnswer.user_id == user.id)
                       .values(user_id=None).execution_options(synchronize_session=False))


register_account_data(export=Gathered(_answer_parts, _answer_section), erase=keep_answers_anonymous)
