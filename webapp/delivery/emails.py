"""Building the emails the worker sends: one per delivery, or one digest per resident.

Every outbox email carries RFC 8058 one-click unsubscribe headers with a signed,
per-resident token (purpose "unsubscribe"), so a mail client's "Unsubscribe" button works
without signing in, and a ``List-Id`` (RFC 2919) naming which of Wardline's lists it is.
A cancelled meeting's email carries the calendar with ``METHOD:CANCEL``, so calendar apps
remove the meeting.
"""
from __future__ import annotations

from email.header import Header
from email.message import Message
from email.policy import compat32
from email.mime.multipart import MIMEMultipart
from email.mime.base import MIMEBase
from email.mime.text import MIMEText

from flask import current_app
from sqlalchemy import select

from webapp.extensions import db
from webapp.tokens import make_token, read_token

from webapp.delivery.mail import mail_domain, stamp
from webapp.delivery.models import Delivery, Notification

UNSUBSCRIBE_PURPOSE = "unsubscribe"
# Do not fold long headers: a folded List-Unsubscribe URL confuses some mail clients.
_POLICY = compat32.clone(max_line_length=998)


def unsubscribe_token(user, category: str | None = None) -> str:
    """A signed token naming ``user`` for the unsubscribe link (no expiry: old emails'
    links keep working), and the ``category`` of the email it came in (so its page can
    offer to stop just that kind). ``read_unsubscribe_token`` checks it."""
    payload = {"u": user.id, "e": user.email}
    if category:
        payload["c"] = category
    return make_token(UNSUBSCRIBE_PURPOSE, payload)


def read_unsubscribe_token(token: str) -> dict:
    """Return the payload of a valid unsubscribe token; raises ``TokenError``."""
    return read_token(UNSUBSCRIBE_PURPOSE, token)


def unsubscribe_url(user, category: str | None = None) -> str:
    # Built by hand: the worker has no request context for url_for.
    return f"{current_app.config['BASE_URL']}/unsubscribe/{unsubscribe_token(user, category)}"


def digest_items(delivery_id: int) -> list[Notification]:
    """The notifications gathered into the digest email ``delivery_id``, oldest first."""
    stmt = (select(Notification).join(Delivery, Delivery.notification_id == Notification.id)
            .where(Delivery.digest_delivery_id == delivery_id)
            .order_by(Notification.created_at, Notification.id))
    return list(db.session.scalars(stmt))


# Which list (RFC 2919 List-Id) each kind of outbox email belongs to: (label, name).
LISTS = {
    "alert": ("alerts", "Wardline alerts"),
    "digest": ("digest", "Wardline digest"),
    "officer_digest": ("officer-digest", "Wardline officer digest"),
    "reply": ("conversations", "Wardline conversations"),
    "answer": ("conversations", "Wardline conversations"),
}
MEETINGS_LIST = ("meetings", "Wardline meetings")
OTHER_LIST = ("updates", "Wardline updates")


def list_id(kind: str) -> str:
    """The List-Id header for outbox emails of ``kind``, in MAIL_FROM's domain."""
    label, name = LISTS.get(kind) or (
        MEETINGS_LIST if kind.startswith(("meeting", "waitlist")) else OTHER_LIST)
    return f"{name} <{label}.{mail_domain(current_app.config)}>"


def calendar_part(body: bytes, method: str, filename: str) -> MIMEBase:
    """An iCalendar attachment (``text/calendar; method=...``, RFC 6047)."""
    part = MIMEBase("text", "calendar", method=method, charset="utf-8", policy=_POLICY)
    part.set_payload(body.decode("utf-8"), "utf-8")
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part


def cancellation_calendar(notification: Notification, to: str) -> MIMEBase | None:
    """For a cancelled meeting's email: the meeting as iTIP ``METHOD:CANCEL`` (its current
    SEQUENCE, STATUS:CANCELLED), or None when the meeting is gone or not cancelled."""
    from webapp.meetings.ical import build_calendar
    from webapp.meetings.models import Meeting
    meeting_id = (notification.email_context or {}).get("meeting_id")
    meeting = db.session.get(Meeting, meeting_id) if meeting_id else None
    if meeting is None or not meeting.is_cancelled:
        return None
    config = current_app.config
    body = build_calendar([meeting], base_url=config["BASE_URL"], name=meeting.title,
                          method="CANCEL", organizer=config["MAIL_FROM"], attendee=to)
    return calendar_part(body, "CANCEL", f"meeting-{meeting.id}.ics")


def place_calendar(notification: Notification, to: str) -> MIMEBase | None:
    """For a confirmed place (an RSVP or a promotion from the waitlist): the meeting as an
    .ics attachment (``METHOD:PUBLISH``), or None when the meeting is gone or cancelled."""
    from webapp.meetings.ical import build_calendar
    from webapp.meetings.models import Meeting
    meeting_id = (notification.email_context or {}).get("meeting_id")
    meeting = db.session.get(Meeting, meeting_id) if meeting_id else None
    if meeting is None or meeting.is_cancelled:
        return None
    body = build_calendar([meeting], base_url=current_app.config["BASE_URL"], name=meeting.title)
    return calendar_part(body, "PUBLISH", f"meeting-{meeting.id}.ics")


def build(to: str, subject: str, template: str, headers: dict, *, attachments=(),
          **context) -> Message:
    """A multipart/alternative (text + HTML) message from ``templates/email/<template>``.

    Built with the ``email.mime`` classes (compat32) rather than :class:`EmailMessage`:
    the same MIME on the wire, but the default policy parses and refolds every header on
    assignment and again on output, which made building and flattening cost more than
    sending over SMTP (measured in ``bench/fanout.py``). With ``attachments`` the message
    is multipart/mixed: the text and HTML alternatives, then each attachment.
    """
    config = current_app.config
    context.setdefault("base_url", config["BASE_URL"])
    subject = " ".join(subject.split())  # one line: a CR/LF from a title is no header break
    context.setdefault("email_subject", subject)
    msg = MIMEMultipart("mixed" if attachments else "alternative", policy=_POLICY)
    stamp(msg, to, config)
    msg["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")
    for name, value in headers.items():
        msg[name] = value
    # Straight from the Jinja environment: web-page context processors (current user,
    # CSRF, assets) have no place in an email and would run for every message.
    env = current_app.jinja_env
    alternative = MIMEMultipart("alternative", policy=_POLICY) if attachments else msg
    for name, subtype in ((f"email/{template}.txt", "plain"), (f"email/{template}.html", "html")):
        body = env.get_template(name).render(**context)
        alternative.attach(MIMEText(body, subtype, "utf-8", policy=_POLICY))
    if attachments:
        msg.attach(alternative)
        for part in attachments:
            msg.attach(part)
    return msg


def message_for(delivery: Delivery, notification: Notification, user) -> Message | None:
    """The email for ``delivery``, or None when the resident has turned email off since
    it was queued (nothing to send)."""
    if not user.email or (user.email_frequency == "off" and notification.kind != "digest"):
        return None
    base = current_app.config["BASE_URL"]
    unsubscribe = unsubscribe_url(user, notification.category)
    headers = {"List-Unsubscribe": f"<{unsubscribe}>",
               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
               "List-Id": list_id(notification.kind),
               "Auto-Submitted": "auto-generated"}
    context = dict(notification.email_context or {})
    context.update(user=user, notification=notification, unsubscribe_url=unsubscribe,
                   link=base + (notification.url or "/"))
    if notification.kind == "digest":
        items = digest_items(delivery.id)
        if not items:
            return None
        return build(user.email, notification.title, "delivery/digest", headers,
                     items=items, **context)
    template = notification.email_template or "delivery/notification"
    attachments = []
    if notification.kind == "meeting_cancelled":
        attachments = [part for part in [cancellation_calendar(notification, user.email)] if part]
    elif notification.kind in ("meeting_confirmed", "waitlist_promoted"):
        attachments = [part for part in [place_calendar(notification, user.email)] if part]
    return build(user.email, notification.title, template, headers, attachments=attachments,
                 **context)
