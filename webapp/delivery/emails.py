"""Building the emails the worker sends: one per delivery, or one digest per resident.

Every outbox email carries RFC 8058 one-click unsubscribe headers with a signed,
per-resident token (purpose "unsubscribe"), so a mail client's "Unsubscribe" button works
without signing in.
"""
from __future__ import annotations

from email.header import Header
from email.message import Message
from email.policy import compat32
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid

from flask import current_app
from sqlalchemy import select

from webapp.extensions import db
from webapp.tokens import make_token, read_token

from webapp.delivery.models import Delivery, Notification

UNSUBSCRIBE_PURPOSE = "unsubscribe"
# Do not fold long headers: a folded List-Unsubscribe URL confuses some mail clients.
_POLICY = compat32.clone(max_line_length=998)


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


def digest_items(delivery_id: int) -> list[Notification]:
    """The notifications gathered into the digest email ``delivery_id``, oldest first."""
    stmt = (select(Notification).join(Delivery, Delivery.notification_id == Notification.id)
            .where(Delivery.digest_delivery_id == delivery_id)
            .order_by(Notification.created_at, Notification.id))
    return list(db.session.scalars(stmt))


def build(to: str, subject: str, template: str, headers: dict, **context) -> Message:
    """A multipart/alternative (text + HTML) message from ``templates/email/<template>``.

    Built with the ``email.mime`` classes (compat32) rather than :class:`EmailMessage`:
    the same MIME on the wire, but the default policy parses and refolds every header on
    assignment and again on output, which made building and flattening cost more than
    sending over SMTP (measured in ``bench/fanout.py``).
    """
    config = current_app.config
    context.setdefault("base_url", config["BASE_URL"])
    msg = MIMEMultipart("alternative", policy=_POLICY)
    msg["From"] = config["MAIL_FROM"]
    msg["To"] = to
    subject = " ".join(subject.split())  # one line: a CR/LF from a title is no header break
    msg["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="wardline.local")
    for name, value in headers.items():
        msg[name] = value
    # Straight from the Jinja environment: web-page context processors (current user,
    # CSRF, assets) have no place in an email and would run for every message.
    env = current_app.jinja_env
    for name, subtype in ((f"email/{template}.txt", "plain"), (f"email/{template}.html", "html")):
        body = env.get_template(name).render(**context)
        msg.attach(MIMEText(body, subtype, "utf-8", policy=_POLICY))
    return msg


def message_for(delivery: Delivery, notification: Notification, user) -> Message | None:
    """The email for ``delivery``, or None when the resident has turned email off since
    it was queued (nothing to send)."""
    if not user.email or (user.email_frequency == "off" and notification.kind != "digest"):
        return None
    base = current_app.config["BASE_URL"]
    unsubscribe = unsubscribe_url(user)
    headers = {"List-Unsubscribe": f"<{unsubscribe}>",
               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
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
    return build(user.email, notification.title, template, headers, **context)
