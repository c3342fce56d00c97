"""GOV.UK Notify: the sender of text messages (and of email, instead of SMTP, when
``NOTIFY_EMAIL_TEMPLATE_ID`` is set), through Notify's own client library
(``notifications-python-client``).

Settings: ``NOTIFY_API_KEY`` ("<key name>-<service id>-<secret>", the client signs each
request with a JWT: ``iss`` the service id, ``iat`` now, HS256 with the secret),
``NOTIFY_BASE_URL`` (tests point it at a fake on loopback), the template ids and
``NOTIFY_TIMEOUT``. Without an API key (development) a text is only logged.

Outcomes follow the outbox's retry rules: Notify's 429 (rate limit) and 5xx, and a
connection that fails (the client reports 503), are retried with backoff; any other 4xx
(400 bad request such as a number Notify refuses, 403 a bad key) is final: the delivery is
dead, with Notify's message, and shown on ``/admin/deliveries``. Each text and email
carries ``reference`` "delivery-<id>", which Notify's delivery receipt gives back (see
:mod:`webapp.delivery.notify_callbacks`).

The client is not thread-safe (it keeps a ``requests.Session``): one per thread.
"""
from __future__ import annotations

import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from flask import current_app
from notifications_python_client.errors import APIError
from notifications_python_client.notifications import NotificationsAPIClient

from webapp.accounts.phone import set_code_sender

log = logging.getLogger("wardline.delivery.notify")

# A text of at most 160 characters is one part (GSM 7-bit: so "..." and not "…", which
# would make the whole text UCS-2, 70 characters a part): title, one line, the link.
TITLE_MAX = 50
LINE_MAX = 60
SEND_THREADS = 4  # requests in flight at once per batch (Notify allows 3,000 a minute)
REFERENCE_PREFIX = "delivery-"

_local = threading.local()


class NotConfigured(RuntimeError):
    """Texts cannot be sent: no ``NOTIFY_API_KEY`` or no template id."""


def configured(config=None) -> bool:
    config = config or current_app.config
    return bool(config.get("NOTIFY_API_KEY"))


def email_by_notify(config=None) -> bool:
    """True when outbox email goes through Notify instead of SMTP."""
    config = config or current_app.config
    return configured(config) and bool(config.get("NOTIFY_EMAIL_TEMPLATE_ID"))


def client(config=None):
    """This thread's ``NotificationsAPIClient`` for the configured key and base URL."""
    config = config or current_app.config
    key, base = config.get("NOTIFY_API_KEY"), config.get("NOTIFY_BASE_URL")
    if not key:
        raise NotConfigured("NOTIFY_API_KEY is not set")
    cached = getattr(_local, "client", None)
    if cached is None or getattr(_local, "settings", None) != (key, base):
        cached = NotificationsAPIClient(key, base_url=base,
                                        timeout=float(config.get("NOTIFY_TIMEOUT") or 10))
        _local.client, _local.settings = cached, (key, base)
    return cached


@dataclass
class Result:
    """What became of one request: "sent", "retry" or "failed" (final), and why."""

    status: str
    error: str = ""
    notify_id: str | None = None


def _result_of(exc: Exception) -> Result:
    if isinstance(exc, APIError):
        code = exc.status_code
        message = exc.message
        if isinstance(message, list):  # [{"error": ..., "message": ...}]
            message = "; ".join(str(m.get("message", m)) if isinstance(m, dict) else str(m)
                                for m in message)
        text = f"Notify {code}: {message}"[:500]
        return Result("retry" if code == 429 or code >= 500 else "failed", text)
    return Result("retry", f"Notify: {type(exc).__name__}: {exc}"[:500])


def send_sms(phone: str, template_id: str, personalisation: dict,
             reference: str | None = None, config=None) -> Result:
    """Send one text; never raises for Notify's answers (see :class:`Result`)."""
    try:
        response = client(config).send_sms_notification(
            phone_number=phone, template_id=template_id, personalisation=personalisation,
            reference=reference)
    except NotConfigured:
        raise
    except Exception as exc:  # the client's APIError, or anything requests raised
        return _result_of(exc)
    return Result("sent", notify_id=(response or {}).get("id"))


def send_email(address: str, template_id: str, personalisation: dict,
               reference: str | None = None, unsubscribe_url: str | None = None,
               config=None) -> Result:
    """Send one email through Notify; never raises for Notify's answers."""
    try:
        response = client(config).send_email_notification(
            email_address=address, template_id=template_id, personalisation=personalisation,
            reference=reference, one_click_unsubscribe_url=unsubscribe_url)
    except NotConfigured:
        raise
    except Exception as exc:
        return _result_of(exc)
    return Result("sent", notify_id=(response or {}).get("id"))


# --------------------------------------------------------------------------- what a text says
_MARKUP = re.compile(r"[*_`#>\[\]]+|\(https?://[^)]*\)")


def _cut(text: str, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."


def sms_personalisation(title: str, body: str, url: str, base_url: str) -> dict:
    """A text is short: the title, one line of the body, and the link to the full page
    (``((title))``, ``((line))``, ``((link))`` in the Notify template)."""
    first = next((line for line in (body or "").splitlines() if line.strip()), "")
    link = url if url.startswith(("http://", "https://")) else base_url.rstrip("/") + url
    return {"title": _cut(title, TITLE_MAX), "line": _cut(_MARKUP.sub("", first), LINE_MAX),
            "link": link}


def sms_text(personalisation: dict) -> str:
    """The text as the template reads, for logs in development."""
    return "\n".join(v for v in (personalisation.get("title"), personalisation.get("line"),
                                 personalisation.get("link")) if v)


# --------------------------------------------------------------------------- the worker's part
def send_sms_batch(items: list[tuple[int, str, dict]], config) -> dict[int, Result]:
    """Send ``(delivery id, phone, personalisation)`` texts, a few at a time; return each
    delivery's :class:`Result`. Without an API key (development) texts are logged and
    count as sent."""
    template = config.get("NOTIFY_SMS_TEMPLATE_ID")
    if not configured(config):
        for _, phone, values in items:
            log.info("Text (not sent: no NOTIFY_API_KEY) to %s: %s", phone, sms_text(values))
        return {delivery_id: Result("sent") for delivery_id, _, _ in items}
    if not template:
        return {delivery_id: Result("failed", "NOTIFY_SMS_TEMPLATE_ID is not set")
                for delivery_id, _, _ in items}

    def one(item):
        delivery_id, phone, values = item
        return delivery_id, send_sms(phone, template, values,
                                     reference=f"{REFERENCE_PREFIX}{delivery_id}", config=config)

    if len(items) == 1:
        return dict([one(items[0])])
    with ThreadPoolExecutor(min(SEND_THREADS, len(items)), thread_name_prefix="notify") as pool:
        return dict(pool.map(one, items))


def send_code(phone: str, code: str) -> None:
    """Text a confirmation code (called by :mod:`webapp.accounts.phone` after the commit).
    Raises :class:`SendFailed` when Notify refuses or cannot be reached."""
    config = current_app.config
    if not configured(config):
        log.info("Text (not sent: no NOTIFY_API_KEY) to %s: your Wardline code is %s",
                 phone, code)
        return
    template = config.get("NOTIFY_CODE_TEMPLATE_ID")
    if not template:
        raise NotConfigured("NOTIFY_CODE_TEMPLATE_ID is not set")
    result = send_sms(phone, template, {"code": code}, reference=None, config=config)
    if result.status != "sent":
        raise SendFailed(result.error, final=result.status == "failed")


class SendFailed(RuntimeError):
    """Notify did not take the text (``final``: it refused it, e.g. a number it rejects)."""

    def __init__(self, message: str, final: bool = False):
        super().__init__(message)
        self.final = final


set_code_sender(send_code)  # accounts cannot import delivery: it is given the sender
