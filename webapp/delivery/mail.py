"""Email: build multipart (text + HTML) messages from templates and send them over SMTP.

This is the only module that talks to an SMTP server. In development every message is
also written to ``instance/mail/*.eml`` and its links are logged, so a newcomer can follow
a sign-in link without a mail server.
"""
from __future__ import annotations

import logging
import re
import smtplib
import ssl
import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from flask import current_app, render_template

log = logging.getLogger("wardline.mail")
LINK_RE = re.compile(r"https?://[^\s<>\"')]+")


def build_message(to: str, subject: str, template: str, *, headers: dict | None = None,
                  **context) -> EmailMessage:
    """Render ``templates/email/<template>.txt`` and ``.html`` into one message."""
    msg = EmailMessage()
    msg["From"] = current_app.config["MAIL_FROM"]
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="wardline.local")
    for name, value in (headers or {}).items():
        msg[name] = value
    context.setdefault("base_url", current_app.config["BASE_URL"])
    text = render_template(f"email/{template}.txt", **context)
    # Plain 7bit when it can be, so links stay whole in the .eml copies a developer opens
    # in an editor (quoted-printable would wrap them at 76 characters with "=").
    simple = text.isascii() and all(len(line) <= 900 for line in text.splitlines())
    msg.set_content(text, cte="7bit" if simple else "quoted-printable")
    msg.add_alternative(render_template(f"email/{template}.html", **context), subtype="html")
    return msg


def _text_part(msg) -> str:
    """The text/plain part (an ``EmailMessage`` or a compat32 ``email.mime`` message)."""
    for part in msg.walk():
        if part.get_content_type() == "text/plain" and not part.is_multipart():
            payload = part.get_payload(decode=True) or b""
            return payload.decode(part.get_content_charset() or "utf-8", "replace")
    return ""


def write_copy(msg: EmailMessage) -> Path | None:
    """Write ``msg`` to ``instance/mail/`` and log its links, when MAIL_WRITE_FILES is on."""
    if not current_app.config.get("MAIL_WRITE_FILES"):
        return None
    folder = Path(current_app.instance_path) / "mail"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}.eml"
    path.write_bytes(bytes(msg))
    links = LINK_RE.findall(_text_part(msg))
    log.info("Email to %s: %r (saved as %s)", msg["To"], msg["Subject"], path)
    for link in links:
        log.info("  link: %s", link)
    return path


class SMTPConnection:
    """One SMTP connection reused for many messages: ``with SMTPConnection() as smtp:``.

    Without ``SMTP_HOST`` it only writes copies (development). Raises ``smtplib``/``OSError``
    exceptions on failure; callers decide whether to retry.
    """

    def __init__(self, config: dict | None = None):
        self.config = config or current_app.config
        self.smtp: smtplib.SMTP | None = None

    def __enter__(self) -> "SMTPConnection":
        host = self.config.get("SMTP_HOST")
        if host:
            self.smtp = smtplib.SMTP(host, int(self.config.get("SMTP_PORT", 25)),
                                     timeout=float(self.config.get("SMTP_TIMEOUT", 10)))
            if self.config.get("SMTP_USE_TLS"):
                self.smtp.starttls(context=ssl.create_default_context())
            if self.config.get("SMTP_USER"):
                self.smtp.login(self.config["SMTP_USER"], self.config.get("SMTP_PASSWORD") or "")
        return self

    def send(self, msg: EmailMessage) -> None:
        """Write the development copy, then hand the message to the SMTP server."""
        write_copy(msg)
        if self.smtp is not None:
            self.smtp.send_message(msg)

    def __exit__(self, *exc) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None


def send_email(to: str, subject: str, template: str, **context) -> EmailMessage:
    """Build and send one message now (for transactional mail such as sign-in links).

    Call it after the database commit, never before. Returns the message sent.
    """
    msg = build_message(to, subject, template, **context)
    # End the read transaction building it may have begun (the caller has committed): on
    # SQLite every transaction holds the write lock, which must not wait on a mail server.
    from webapp.extensions import db
    db.session.commit()
    with SMTPConnection() as smtp:
        smtp.send(msg)
    return msg
