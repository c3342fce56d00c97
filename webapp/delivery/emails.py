"""Building the emails the worker sends: one per delivery, or one digest per resident.

Every outbox email carries RFC 8058 one-click unsubscribe headers with a signed,
per-resident token (purpose "unsubscribe"), so a mail client's "Unsubscribe" button works
without signing in, and a ``List-Id`` (RFC 2919) naming which of Wardline's lists it is.
Messages are built by the one builder, :func:`webapp.platform.mail.build_message`. A domain
may add attachments to a kind of email (:func:`register_attachment`): a cancelled meeting's
email carries the calendar with ``METHOD:CANCEL``, so calendar apps remove the meeting.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from email.mime.base import MIMEBase

from flask import current_app
from sqlalchemy import select

from webapp.extensions import db
from webapp.platform.tokens import make_token, read_token

from webapp.platform import mail
from webapp.platform.mail import MIME_POLICY, mail_domain, writes_copies
from webapp.platform.mail_once import PreparedMessage, prepare
from webapp.delivery.models import Delivery, Notification

UNSUBSCRIBE_PURPOSE = "unsubscribe"


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
    """The notifications gathered into the digest email ``delivery_id`` and still carried
    by it (not dropped since: :func:`webapp.delivery.services.stop_email`), oldest first."""
    stmt = (select(Notification).join(Delivery, Delivery.notification_id == Notification.id)
            .where(Delivery.digest_delivery_id == delivery_id, Delivery.state == "batched")
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
    part = MIMEBase("text", "calendar", method=method, charset="utf-8", policy=MIME_POLICY)
    part.set_payload(body.decode("utf-8"), "utf-8")
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part


#: ``kind -> (notification, to) -> MIME part or None``: attachments a domain adds to the
#: outbox emails of a kind (meetings: a cancelled meeting's calendar, ``METHOD:CANCEL``).
ATTACHMENTS: dict[str, Callable] = {}


def register_attachment(kind: str, attach: Callable) -> None:
    """Add ``attach(notification, to)`` for the outbox emails of ``kind``."""
    ATTACHMENTS[kind] = attach


def wants_email(notification: Notification, user) -> bool:
    """False when the resident has no address or has turned email off since the delivery
    was queued (nothing to send; a digest they asked for still goes)."""
    return bool(user.email) and (user.email_frequency != "off" or notification.kind == "digest")


def _headers(notification: Notification, unsubscribe: str) -> dict:
    return {"List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": list_id(notification.kind),
            "Auto-Submitted": "auto-generated"}


def _context(notification: Notification) -> dict:
    context = dict(notification.email_context or {})
    context.update(notification=notification,
                   link=current_app.config["BASE_URL"] + (notification.url or "/"))
    return context


def prepared_for(notification: Notification) -> PreparedMessage | None:
    """``notification``'s email built once for every resident who gets it
    (:mod:`webapp.platform.mail_once`; each gets their own address and unsubscribe link),
    or None when each must be built by :func:`message_for`: a digest (its items are each
    resident's own), a kind with attachments, or templates that use more than the
    notification (``user``, say). Raises what building the message raises."""
    if notification.kind == "digest" or notification.kind in ATTACHMENTS:
        return None
    return prepare(notification.title, notification.email_template or "delivery/notification",
                   headers=_headers(notification, "{unsubscribe_url}"),
                   varying=("unsubscribe_url",), **_context(notification))


def prepared_email(prepared: PreparedMessage, notification: Notification, user) -> bytes | None:
    """``user``'s copy of a prepared email (flattened, CRLF), or None when it must be
    built by :func:`message_for` (an address that cannot go in as it is)."""
    return prepared.message(user.email,
                            unsubscribe_url=unsubscribe_url(user, notification.category))


@dataclass(frozen=True)
class FlatEmail:
    """An email flattened in advance (``SMTPConnection.send_flat``)."""

    sender: str
    to: str
    data: bytes


def batch_builder(rows) -> Callable:
    """``build(delivery, notification, user)`` for a batch of email rows: the email as a
    :class:`FlatEmail`, a :class:`Message` (built by :func:`message_for`), or None (not
    to be sent). A notification going to several residents of the batch is built once
    (:func:`prepared_for`) unless development copies are on (they need a Message). An
    error preparing one leaves its residents' emails to :func:`message_for`, which
    raises it for each (recorded per delivery)."""
    counts = Counter(row[1].id for row in rows)
    prepared = {}
    if not writes_copies(current_app.config):
        for _delivery, notification, *_rest in rows:
            if counts[notification.id] > 1 and notification.id not in prepared:
                try:
                    prepared[notification.id] = prepared_for(notification)
                except Exception:
                    prepared[notification.id] = None

    def build(delivery, notification, user):
        once = prepared.get(notification.id)
        if once is not None and wants_email(notification, user):
            data = prepared_email(once, notification, user)
            if data is not None:
                return FlatEmail(once.sender, user.email, data)
        return message_for(delivery, notification, user)
    return build


def message_for(delivery: Delivery, notification: Notification, user) -> Message | None:
    """The email for ``delivery``, or None when the resident has turned email off since
    it was queued (nothing to send)."""
    if not wants_email(notification, user):
        return None
    unsubscribe = unsubscribe_url(user, notification.category)
    headers = _headers(notification, unsubscribe)
    context = _context(notification)
    context.update(user=user, unsubscribe_url=unsubscribe)
    if notification.kind == "digest":
        items = digest_items(delivery.id)
        if not items:
            return None
        return mail.build_message(user.email, notification.title, "delivery/digest",
                                  headers=headers, items=items, **context)
    template = notification.email_template or "delivery/notification"
    attach = ATTACHMENTS.get(notification.kind)
    attachments = [part for part in [attach(notification, user.email)] if part] if attach else []
    return mail.build_message(user.email, notification.title, template, headers=headers,
                              attachments=attachments, **context)
