"""Incidents: updates on a sent alert, who is told of them, following, the outcome, and
replies to an alert (a conversation with the ward team, tagged and linked to the alert).

Who is told of an update (:func:`fan_out_update`, set-based through
:func:`webapp.delivery.fan_out`):

* residents who **received the alert** are told by the channel they got it on: those who
  got it by email (now or in the digest) get the update by email, by their email
  frequency today (an urgent update skips the digest; "off" gets none); those who got it
  by push get it on their devices;
* residents who pressed **Follow this** (and did not receive it) are told by their
  preferences: email by frequency, and push on every device;
* anyone who pressed **Stop following** is not told, receiver or not; nobody else is.

Services flush; the views commit.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import bindparam, exists, or_, select, update

from webapp.accounts.models import User
from webapp.alerts import services as alerts
from webapp.alerts.models import Alert, AlertWard
from webapp.delivery import Event, fan_out
from webapp.delivery.models import Delivery, Notification
from webapp.extensions import db
from webapp.incidents.models import (INCIDENT_STATES, OUTCOME_TITLE_MAX, TAGS, UPDATE_MAX,
                                     ConversationTag, Incident, IncidentFollow, IncidentUpdate)
from webapp.platform.account_data import Gathered, register_account_data
from webapp.platform.audit import record
from webapp.platform.db import insert_ignore, rows as read_rows
from webapp.platform.taxonomy import CATEGORIES
from webapp.platform.timeutil import utcnow
from webapp.platform.tokens import TokenError, make_token, read_token
from webapp.threads import services as threads
from webapp.threads.models import Conversation

UNFOLLOW_PURPOSE = "incident-unfollow"
UPDATE_KIND = "alert_update"


class IncidentError(ValueError):
    """The update cannot be made as asked (the message says why)."""


# --------------------------------------------------------------------------- reading
def incident_for(alert: Alert) -> Incident | None:
    return db.session.get(Incident, alert.id)


_UPDATES = select(IncidentUpdate).where(IncidentUpdate.alert_id == bindparam("alert_id")).order_by(
    IncidentUpdate.created_at.desc(), IncidentUpdate.id.desc())


def updates_for(alert: Alert) -> list[IncidentUpdate]:
    """The alert's updates, newest first (the timeline)."""
    return list(db.session.scalars(_UPDATES, {"alert_id": alert.id}))


_INCIDENT_AND_CLOSED = select(Incident).where(or_(Incident.alert_id == bindparam("alert_id"),
                                                   Incident.outcome_alert_id == bindparam("alert_id")))


def incident_and_closed(alert: Alert) -> tuple[Incident | None, Incident | None]:
    """The incident of ``alert`` (None before its first update) and the incident it closed
    (a "successful outcomes" alert), in one statement."""
    rows = list(db.session.scalars(_INCIDENT_AND_CLOSED, {"alert_id": alert.id}).unique())
    return (next((i for i in rows if i.alert_id == alert.id), None),
            next((i for i in rows if i.outcome_alert_id == alert.id), None))


# resident_standing's statement for a resident of 0, 1, 2... wards, each built once (with
# its cache key): building it on every alert page cost about as much as running it.
_STANDING: dict[int, object] = {}


def _standing_statement(wards: int):
    statement = _STANDING.get(wards)
    if statement is None:
        alert_id = bindparam("alert_id")
        follow = select(IncidentFollow.following).where(
            IncidentFollow.alert_id == alert_id, IncidentFollow.user_id == bindparam("user_id"))
        statement = _STANDING[wards] = select(
            follow.scalar_subquery(), received_alert(alert_id, ("email", "digest", "push")),
            *[exists().where(AlertWard.alert_id == alert_id,
                             AlertWard.ward_id == bindparam(f"ward_{i}"))
              for i in range(wards)]).where(User.id == bindparam("user_id"))
    return statement


def resident_standing(user, alert: Alert):
    """(following, :func:`reply_ward`) of a signed-in resident, in one statement. Following:
    told of ``alert``'s updates (pressed "Follow this", or received it and did not press
    "Stop following")."""
    wards = threads.resident_wards(user)
    row = read_rows(_standing_statement(len(wards)), {
        "alert_id": alert.id, "user_id": user.id,
        **{f"ward_{i}": w.id for i, w in enumerate(wards)}}).one()
    following = bool(row[1]) if row[0] is None else bool(row[0])
    return following, next((w for w, targeted in zip(wards, row[2:], strict=True) if targeted), None)


# --------------------------------------------------------------------------- who is told
def received_alert(alert_id: int, channels):
    """EXISTS: the user got a delivery of the alert itself on one of ``channels``."""
    return exists().where(Delivery.user_id == User.id, Delivery.channel.in_(channels),
                          Delivery.notification_id == Notification.id,
                          Notification.source_type == "alert", Notification.source_id == alert_id,
                          Notification.kind == "alert")


def update_audience(alert_id: int):
    """SELECT (user_id, email_frequency, by_email, by_push) of everyone told of an update
    of ``alert_id``: receivers and followers, less those who stopped following."""
    got_email = received_alert(alert_id, ("email", "digest"))
    got_push = received_alert(alert_id, ("push",))
    follows = exists().where(IncidentFollow.alert_id == alert_id,
                             IncidentFollow.user_id == User.id,
                             IncidentFollow.following.is_(True))
    stopped = exists().where(IncidentFollow.alert_id == alert_id,
                             IncidentFollow.user_id == User.id,
                             IncidentFollow.following.is_(False))
    receiver = or_(got_email, got_push)
    by_email = or_(got_email, follows & ~receiver)
    by_push = or_(got_push, follows & ~receiver)
    return (select(User.id.label("user_id"), User.email_frequency.label("email_frequency"),
                   by_email.label("by_email"), by_push.label("by_push"))
            .where(User.role == "resident", User.confirmed_at.is_not(None),
                   or_(receiver, follows), ~stopped))


def update_event(alert: Alert, upd: IncidentUpdate) -> Event:
    state = INCIDENT_STATES.get(upd.state, upd.state)
    return Event(kind=UPDATE_KIND, source_type="incident_update", source_id=upd.id,
                 title=f"Update: {alert.title}"[:200], body=upd.body,
                 url=f"/alerts/{alert.id}#update-{upd.id}", category=alert.category,
                 urgent=upd.urgent, email_template="incidents/update",
                 email_context={"alert_id": alert.id, "alert_title": alert.title,
                                "state": state, "wards": alert.scope_label,
                                "category": CATEGORIES.get(alert.category, "")},
                 tag=f"alert-{alert.id}")


def fan_out_update(alert: Alert, upd: IncidentUpdate, now) -> int:
    """Write the update's deliveries (see the module docstring): one broadcast
    notification, its email rows for those told by email and its push rows for those told
    by push. Returns new rows."""
    event = update_event(alert, upd)
    who = update_audience(alert.id).subquery("who")
    by_email = select(who.c.user_id, who.c.email_frequency).where(who.c.by_email)
    by_push = select(who.c.user_id).where(who.c.by_push)
    return (fan_out(event, by_email, channels=("email",), now=now)
            + fan_out(event, by_push, channels=("push",), now=now))


# --------------------------------------------------------------------------- writing
@dataclass
class UpdateInput:
    body: str
    urgent: bool = False
    close: str = ""  # "" (still ongoing), "closed", or "outcome"
    outcome_title: str = ""
    outcome_body: str = ""


def add_update(officer, alert: Alert, data: UpdateInput, now=None) -> IncidentUpdate:
    """Add an update to a sent alert someone may manage, tell its receivers and followers,
    and with ``close == "outcome"`` send the "successful outcomes" alert to the audience
    that chose that category, linked to the incident. Audit-logged. The caller commits."""
    now = now or utcnow()
    if alert.state != "sent":
        raise IncidentError("Only a sent alert can have updates.")
    if not alerts.may_manage(officer, alert):
        raise alerts.NotAllowed("You can only update alerts whose every ward you cover.")
    body = (data.body or "").strip()
    if not body or len(body) > UPDATE_MAX:
        raise IncidentError(f"Write the update in at most {UPDATE_MAX:,} characters.")
    if data.close not in ("", "closed", "outcome"):
        raise IncidentError("Choose whether the incident goes on, is closed, or has an outcome.")
    incident = incident_for(alert)
    if incident is not None and incident.state != "ongoing":
        raise IncidentError("This incident is closed.")
    if data.close == "outcome":
        title = (data.outcome_title or "").strip()
        if not title or len(title) > OUTCOME_TITLE_MAX:
            raise IncidentError(f"Give the outcome a title of at most {OUTCOME_TITLE_MAX} characters.")
    if incident is None:
        incident = Incident(alert_id=alert.id, state="ongoing", updated_at=now)
        db.session.add(incident)
    state = data.close or "ongoing"
    upd = IncidentUpdate(alert_id=alert.id, author_id=officer.id,
                         author_label=(getattr(officer, "officer_label", "") or "")[:120],
                         body=body, urgent=bool(data.urgent), state=state, created_at=now)
    db.session.add(upd)
    incident.state, incident.updated_at = state, now
    db.session.flush()
    record(officer, "incident.update", alert, f"{INCIDENT_STATES[state]}: {alert.title}")
    if upd.urgent:
        record(officer, "incident.urgent", alert, f"Urgent update: {alert.title}")
    fan_out_update(alert, upd, now)
    if data.close == "outcome":
        incident.outcome_alert_id = _send_outcome(officer, alert, data, now).id
        db.session.flush()
    return upd


def _send_outcome(officer, alert: Alert, data: UpdateInput, now) -> Alert:
    """The "successful outcomes" alert closing ``alert``: same wards, category
    "outcomes", same channels; sent now (create_alert fans it out)."""
    ward_ids = list(db.session.scalars(select(AlertWard.ward_id)
                                       .where(AlertWard.alert_id == alert.id)))
    body = (data.outcome_body or "").strip() or data.body.strip()
    body = f"{body}\n\nThis closes the incident: {current_app.config['BASE_URL']}/alerts/{alert.id}"
    return alerts.create_alert(officer, alerts.AlertInput(
        title=data.outcome_title.strip(), body=body[:5000], category="outcomes",
        channels=alert.channel_list or ["email", "push"],
        target=alerts.Target(ward_ids, alert.scope, alert.scope_label)), now=now)


def set_following(user, alert: Alert, following: bool, now=None) -> IncidentFollow:
    """Follow or stop following ``alert``'s updates (one row per resident; race-safe)."""
    now = now or utcnow()
    db.session.execute(insert_ignore(IncidentFollow.__table__).values(
        alert_id=alert.id, user_id=user.id, following=following, created_at=now,
        updated_at=now).on_conflict_do_nothing())
    db.session.execute(update(IncidentFollow).where(
        IncidentFollow.alert_id == alert.id, IncidentFollow.user_id == user.id)
        .values(following=following, updated_at=now)
        .execution_options(synchronize_session=False))
    db.session.flush()
    return db.session.get(IncidentFollow, (alert.id, user.id))


_FOLLOWS = (select(Alert).join(IncidentFollow, IncidentFollow.alert_id == Alert.id)
            .where(IncidentFollow.user_id == bindparam("user_id"),
                   IncidentFollow.following.is_(True))
            .order_by(IncidentFollow.created_at.desc()))


def follows_of(user) -> list[Alert]:
    """The alerts ``user`` pressed "Follow this" on (Settings)."""
    return list(db.session.scalars(_FOLLOWS, {"user_id": user.id}))


def unfollow_token(user_id: int, alert_id: int) -> str:
    return make_token(UNFOLLOW_PURPOSE, {"u": user_id, "a": alert_id})


def unfollow_url(user_id: int, alert_id: int) -> str:
    """The "Stop following" link in an update's email (no sign-in needed)."""
    return f"{current_app.config['BASE_URL']}/incidents/stop/{unfollow_token(user_id, alert_id)}"


def read_unfollow_token(token: str) -> tuple[User, Alert] | None:
    try:
        data = read_token(UNFOLLOW_PURPOSE, token)
    except TokenError:
        return None
    user = db.session.get(User, int(data.get("u", 0)))
    alert = db.session.get(Alert, int(data.get("a", 0)))
    if user is None or alert is None:
        return None
    return user, alert


# --------------------------------------------------------------------------- replies, tags
def reply_subject(alert: Alert) -> str:
    prefix = "Re: Appeal: " if alert.category == "appeals" else "Re: "
    subject = prefix + alert.title
    return subject if len(subject) <= 120 else subject[:119] + "…"


def reply_ward(user, alert: Alert):
    """The resident's ward (home first) among the alert's wards, or None."""
    targeted = set(db.session.scalars(select(AlertWard.ward_id)
                                      .where(AlertWard.alert_id == alert.id)))
    return next((w for w in threads.resident_wards(user) if w.id in targeted), None)


def reply_to_alert(user, alert: Alert, body: str, idempotency_key: str | None = None):
    """Open a conversation with the ward team about ``alert``, tagged as information
    offered on an appeal and linked to the alert. Raises ``ThreadError``."""
    ward = reply_ward(user, alert)
    if ward is None:
        raise threads.ThreadError("You can reply to alerts for your own wards.")
    conversation = threads.start_conversation(user, ward, reply_subject(alert), body,
                                              idempotency_key)
    tag(conversation.id, "appeal_info", alert_id=alert.id)
    return conversation


def tag(conversation_id: int, name: str, *, alert_id: int | None = None, by=None) -> None:
    assert name in TAGS
    db.session.execute(insert_ignore(ConversationTag.__table__).values(
        conversation_id=conversation_id, tag=name, alert_id=alert_id,
        tagged_by_id=getattr(by, "id", None), created_at=utcnow()).on_conflict_do_nothing())


def aside_from(tags) -> dict:
    """The officer's conversation aside (templates/incidents/_conversation_aside.html) from
    ``[(tag, its alert or None, that alert's incident state or None)]``, oldest tag first,
    read with the page's other side facts in one statement."""
    alert, state = next(((a, s) for _, a, s in tags if a is not None), (None, None))
    return {"tags": [(t.tag, TAGS.get(t.tag, t.tag)) for t, _, _ in tags], "alert": alert,
            "state": INCIDENT_STATES[state or "ongoing"] if alert else None,
            "routes": REPORTING_ROUTES}


def tag_labels(conversation_ids) -> dict[int, list[str]]:
    """{conversation id: [tag labels]} for ``conversation_ids``, in one query."""
    out: dict[int, list[str]] = {}
    if not conversation_ids:
        return out
    for cid, name in db.session.execute(
            select(ConversationTag.conversation_id, ConversationTag.tag)
            .where(ConversationTag.conversation_id.in_(list(conversation_ids)))
            .order_by(ConversationTag.created_at)):
        out.setdefault(cid, []).append(TAGS.get(name, name))
    return out


# The one-tap "this needs reporting" replies: the right route for each kind of case.
REPORTING_ROUTES = {
    "crime": ("A crime to report",
              "Thank you for telling us. What you describe needs to be reported so that it "
              "can be recorded and investigated, and we can't record crimes from messages "
              "here. Please call 101 or report it online at https://www.met.police.uk/ro/report/ "
              "- you'll get a crime reference number. If it is happening now or someone is in "
              "danger, call 999."),
    "emergency": ("An emergency",
                  "If this is happening now or anyone is in danger, please call 999 straight "
                  "away: messages here are read during our shifts and may not be seen in "
                  "time. If you can't speak, call 999 and press 55 when asked. Once you are "
                  "safe, you can report it on 101 or online at "
                  "https://www.met.police.uk/ro/report/."),
}


def answer_needs_reporting(officer, conversation, route: str):
    """The officer's one-tap reply giving the reporting route; tags the conversation
    "needs_reporting" (audited through the reply). The caller commits."""
    if route not in REPORTING_ROUTES:
        raise threads.ThreadError("Choose a route.")
    message, _ = threads.add_message(conversation, officer, REPORTING_ROUTES[route][1])
    tag(conversation.id, "needs_reporting", by=officer)
    return message


# --------------------------------------------------------------------------- account data
def _follow_parts(user) -> dict:
    return {"follows": (select(IncidentFollow.alert_id, Alert.title, IncidentFollow.following,
                               IncidentFollow.created_at, IncidentFollow.updated_at)
                        .join(Alert, Alert.id == IncidentFollow.alert_id)
                        .where(IncidentFollow.user_id == user.id), ("created_at",))}


def _follow_section(user, rows) -> tuple[str, list]:
    return "incident_follows", [
        {"alert_id": r["alert_id"], "alert": r["title"], "following": r["following"],
         "since": r["created_at"].isoformat() + "Z", "changed": r["updated_at"].isoformat() + "Z"}
        for r in rows["follows"]]


def forget_follows(user) -> None:
    db.session.execute(IncidentFollow.__table__.delete().where(IncidentFollow.user_id == user.id))


def _tag_parts(user) -> dict:
    return {"tags": (select(ConversationTag.conversation_id, ConversationTag.tag,
                            ConversationTag.alert_id, ConversationTag.created_at)
                     .join(Conversation, Conversation.id == ConversationTag.conversation_id)
                     .where(Conversation.resident_id == user.id), ("created_at",))}


def _tag_section(user, rows) -> tuple[str, list]:
    return "conversation_tags", [
        {"conversation_id": r["conversation_id"], "tag": TAGS.get(r["tag"], r["tag"]),
         "alert_id": r["alert_id"], "at": r["created_at"].isoformat() + "Z"} for r in rows["tags"]]


# Follows are exported and deleted with the account; conversation tags go with the
# conversation (ON DELETE CASCADE) and are exported beside it.
register_account_data(export=Gathered(_follow_parts, _follow_section), forget=forget_follows)
register_account_data(export=Gathered(_tag_parts, _tag_section))
