"""Email: the one builder of multipart (text + HTML) messages from templates, and the one
SMTP connection.

This is the only module that talks to an SMTP server. In development (no ``SMTP_HOST``)
every message is also written to ``instance/mail/*.eml`` (mode 0600) and its links are
logged, so a newcomer can follow a sign-in link without a mail server; in production neither.

Every message gets the same envelope headers (:func:`stamp`): ``Date`` in UTC as ``+0000``
and a ``Message-ID`` in the domain of ``MAIL_FROM``. When a DKIM key is configured
(``DKIM_SELECTOR`` and ``DKIM_PRIVATE_KEY`` or ``DKIM_PRIVATE_KEY_PATH``) every message is
signed before it is sent (:class:`DKIMSigner`), the one-click unsubscribe headers included,
as RFC 8058 requires.
"""
from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
import time
import uuid
from datetime import datetime, timezone
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from pathlib import Path

import dkim
from dkim.crypto import UnparsableKeyError, parse_pem_private_key

from flask import current_app

from webapp.extensions import db

log = logging.getLogger("wardline.mail")
# Do not fold long headers: a folded List-Unsubscribe URL confuses some mail clients.
MIME_POLICY = compat32.clone(max_line_length=998)
LINK_RE = re.compile(r"https?://[^\s<>\"')]+")


def build_message(to: str, subject: str, template: str, *, headers: dict | None = None,
                  attachments=(), **context) -> Message:
    """The one email builder: a multipart/alternative (text + HTML) message from
    ``templates/email/<template>.txt`` and ``.html``, stamped (:func:`stamp`), with
    ``headers`` added; with ``attachments`` it is multipart/mixed (the alternatives, then
    each attachment). Used for transactional mail (:func:`send_email`) and by the delivery
    worker for outbox mail (``webapp.delivery.emails``, which adds List-Id and the one-click
    unsubscribe headers).

    Built with the ``email.mime`` classes (compat32) rather than :class:`email.message.EmailMessage`:
    the same MIME on the wire, but the default policy parses and refolds every header on
    assignment and again on output, which made building and flattening cost more than
    sending over SMTP (measured in ``bench/fanout.py``). The text part is plain 7bit when
    it can be, so links stay whole in the .eml copies a developer opens in an editor.
    """
    config = current_app.config
    context.setdefault("base_url", config["BASE_URL"])
    subject = " ".join(subject.split())  # one line: a CR/LF from a title is no header break
    context.setdefault("email_subject", subject)
    msg = MIMEMultipart("mixed" if attachments else "alternative", policy=MIME_POLICY)
    stamp(msg, to, config)
    msg["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")
    for name, value in (headers or {}).items():
        msg[name] = value
    # Straight from the Jinja environment: web-page context processors (current user,
    # CSRF, assets) have no place in an email and would run for every message.
    env = current_app.jinja_env
    alternative = MIMEMultipart("alternative", policy=MIME_POLICY) if attachments else msg
    text = env.get_template(f"email/{template}.txt").render(**context)
    simple = text.isascii() and all(len(line) <= 900 for line in text.splitlines())
    alternative.attach(MIMEText(text, "plain", "us-ascii" if simple else "utf-8", policy=MIME_POLICY))
    html = env.get_template(f"email/{template}.html").render(**context)
    alternative.attach(MIMEText(html, "html", "utf-8", policy=MIME_POLICY))
    if attachments:
        msg.attach(alternative)
        for part in attachments:
            msg.attach(part)
    return msg


def mail_domain(config) -> str:
    """The domain of ``MAIL_FROM``'s address (for Message-IDs, List-Ids and DKIM)."""
    address = parseaddr(config["MAIL_FROM"])[1]
    return address.rpartition("@")[2].lower() or "localhost"


def stamp(msg: Message, to: str, config) -> None:
    """Set From, To, Date (UTC, ``+0000``: ``-0000`` would mean "local time unknown") and a
    Message-ID in the sender's own domain."""
    msg["From"] = config["MAIL_FROM"]
    msg["To"] = to
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    msg["Message-ID"] = make_msgid(domain=mail_domain(config))


class DKIMSigner:
    """Signs messages with the configured DKIM key (RFC 6376, rsa-sha256, relaxed/simple).

    Besides the usual headers it signs List-Unsubscribe-Post (RFC 8058 requires both
    one-click headers to be covered), and signs From, To, Subject, Date, Message-ID, List-Id
    and both List-Unsubscribe headers once more than they occur, so no one can add another.
    ``DKIMSigner.from_config(config)`` is None when no key is configured.
    """

    SIGNED_ONCE_MORE = (b"from", b"to", b"subject", b"date", b"message-id", b"list-id",
                        b"list-unsubscribe", b"list-unsubscribe-post")

    def __init__(self, selector: str, domain: str, private_key: bytes):
        try:
            parse_pem_private_key(private_key)
        except UnparsableKeyError as exc:  # a misconfiguration: say so before any sending
            raise ValueError(f"DKIM_PRIVATE_KEY is not a PEM RSA private key: {exc}") from exc
        self.selector = selector.encode("ascii")
        self.domain = domain.encode("ascii")
        self.private_key = private_key

    @classmethod
    def from_config(cls, config) -> "DKIMSigner | None":
        selector = config["DKIM_SELECTOR"]
        key = config["DKIM_PRIVATE_KEY"]
        path = config["DKIM_PRIVATE_KEY_PATH"]
        if not selector or not (key or path):
            return None
        private_key = key.encode() if key else Path(path).read_bytes()
        return cls(selector, config["DKIM_DOMAIN"] or mail_domain(config), private_key)

    def sign(self, data: bytes) -> bytes:
        """``data`` (CRLF line ends) with a DKIM-Signature header in front."""
        signer = dkim.DKIM(data)
        signer.should_sign.add(b"list-unsubscribe-post")
        signer.add_frozen(self.SIGNED_ONCE_MORE)
        return signer.sign(self.selector, self.domain, self.private_key) + data


def _text_part(msg) -> str:
    """The text/plain part (a compat32 ``email.mime`` message)."""
    for part in msg.walk():
        if part.get_content_type() == "text/plain" and not part.is_multipart():
            payload = part.get_payload(decode=True) or b""
            return payload.decode(part.get_content_charset() or "utf-8", "replace")
    return ""


def writes_copies(config) -> bool:
    """Development only: with no ``SMTP_HOST`` (and ``MAIL_WRITE_FILES`` not turned off),
    messages are written to ``instance/mail/`` and their links logged. With a mail server
    configured (production) nothing is copied or logged: the links carry sign-in tokens."""
    return not config["SMTP_HOST"] and bool(config["MAIL_WRITE_FILES"])


def write_copy(msg: Message) -> Path | None:
    """In development (:func:`writes_copies`), write ``msg`` to ``instance/mail/`` (folder
    0700, file 0600: it holds sign-in links) and log its links; otherwise do nothing."""
    if not writes_copies(current_app.config):
        return None
    folder = Path(current_app.instance_path) / "mail"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)  # also when an older version made it world-readable
    path = folder / f"{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}.eml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(bytes(msg))
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
        self.signer = DKIMSigner.from_config(self.config)

    def __enter__(self) -> "SMTPConnection":
        host = self.config["SMTP_HOST"]
        if host:
            self.smtp = smtplib.SMTP(host, int(self.config["SMTP_PORT"]),
                                     timeout=float(self.config["SMTP_TIMEOUT"]))
            if self.config["SMTP_USE_TLS"]:
                self.smtp.starttls(context=ssl.create_default_context())
            if self.config["SMTP_USER"]:
                self.smtp.login(self.config["SMTP_USER"], self.config["SMTP_PASSWORD"] or "")
        return self

    def send(self, msg: Message) -> None:
        """Write the development copy, then hand the message to the SMTP server."""
        write_copy(msg)
        if self.smtp is None:
            return
        if self.signer is None:
            self.smtp.send_message(msg)
            return
        data = self.signer.sign(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))
        sender = parseaddr(msg["From"])[1]
        recipients = [address for _, address in getaddresses(msg.get_all("To", []))]
        international = not all(a.isascii() for a in [sender, *recipients])
        self.smtp.sendmail(sender, recipients, data,
                           mail_options=["SMTPUTF8"] if international else [])

    def send_flat(self, sender: str, to: str, data: bytes) -> None:
        """Hand a message flattened in advance (CRLF line ends; ASCII addresses) to the
        server, signed first when DKIM is configured. No development copy: with copies on,
        callers send a :class:`Message` through :meth:`send`."""
        if self.smtp is None:
            return
        if self.signer is not None:
            data = self.signer.sign(data)
        self.smtp.sendmail(sender, [to], data)

    def __exit__(self, *exc) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None


def send_email(to: str, subject: str, template: str, **context) -> Message:
    """Build and send one message now (for transactional mail such as sign-in links).

    Call it after the database commit, never before. Returns the message sent.
    """
    msg = build_message(to, subject, template, **context)
    # End the read transaction building it may have begun (the caller has committed): on
    # SQLite every transaction holds the write lock, which must not wait on a mail server.
    db.session.commit()
    with SMTPConnection() as smtp:
        smtp.send(msg)
    return msg
