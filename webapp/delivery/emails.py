"""Building the emails the worker sends: one per delivery, or one digest per resident.

Every outbox email carries RFC 8058 one-click unsubscribe headers with a signed,
per-resident token (purpose "unsubscribe"), so a mail client's "Unsubscribe" button works
without signing in.
"""
from __future__ import annotations

from email.message import EmailMessage

from flask import current_app
from sqlalchemy import select

from webapp.extensions import db
from webapp.tokens import make_token, read_token

from webapp.delivery.mail import build_message
from webapp.delivery.models import Delivery, Notification

UNSUBSCRIBE_PURPOSE = "unsubscribe"


def unsubscribe_token(user) -> str:
    """A signed token naming ``user`` for the unsubscribe link (no expiry: old emails'
    links keep working). ``read_unsubscribe_token`` checks it."""
    return make_token(UNSUBSCRIBE_PURPOSE, {"u": user.id, "e": user.email})


def read_unsubscribe_token(token: str) -> dict:
    """Return the payload of a valid unsubscribe token; raises ``TokenError``."""
    return read_token(UNSUBSCRIBE_PURPOSE, token)


def unsubscribe_url(user) -> str:
    # Built by hand: the worker has no request context for url_for.
    return f"{current_app.config['BASE_URL']}/unsubscribe/{unsubscribe_token(user)}"


def _headers(user) -> dict:
    link = unsubscribe_url(user)
    return {"List-Unsubscribe": f"<{link}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated"}


def digest_items(delivery_id: int) -> list[Notification]:
    """The notifications gathered into the digest email ``delivery_id``, oldest first."""
    stmt = (select(Notification).join(Delivery, Delivery.notification_id == Notification.id)
            .where(Delivery.digest_delivery_id == delivery_id)
            .order_by(Notification.created_at, Notification.id))
    return list(db.session.scalars(stmt))


def message_for(delivery: Delivery, notification: Notification, user) -> EmailMessage | None:
    """The email for ``delivery``, or None when the resident has turned email off since
    it was queued (nothing to send)."""
    if not user.email or (user.email_frequency == "off" and notification.kind != "digest"):
        return None
    base = current_app.config["BASE_URL"]
    unsubscribe = unsubscribe_url(user)
    context = dict(notification.email_context or {})
    context.update(user=user, notification=notification, unsubscribe_url=unsubscribe,
                   link=base + (notification.url or "/"))
    if notification.kind == "digest":
        items = digest_items(delivery.id)
        if not items:
            return None
        return build_message(user.email, notification.title, "delivery/digest",
                             headers=_headers(user), items=items, **context)
    template = notification.email_template or "delivery/notification"
    return build_message(user.email, notification.title, template, headers=_headers(user),
                         **context)
