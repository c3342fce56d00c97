"""GOV.UK Notify's callbacks: delivery receipts and received text messages.

Notify POSTs JSON to URLs set on its "Callbacks" page, with the bearer token set there in
``Authorization: Bearer <token>``; we compare it in constant time with
``NOTIFY_RECEIPT_TOKEN`` / ``NOTIFY_INBOUND_TOKEN`` (a URL whose token is not configured
answers 404). No CSRF token (Notify cannot have one): the bearer token is the proof.

* ``POST /notify/receipts``: ``{"id", "reference", "to", "status", "notification_type",
  ...}``. ``reference`` is "delivery-<id>" (set when sending). "delivered" marks the
  delivery delivered; "permanent-failure" makes it dead (shown on ``/admin/deliveries``);
  "temporary-failure" and "technical-failure" (Notify: "you can try to send it again")
  queue it for a retry with the outbox's backoff. A receipt never moves a delivery back:
  only rows Notify accepted ("sent") change.
* ``POST /notify/inbound``: ``{"id", "source_number", "destination_number", "message",
  "date_received"}``. "STOP" (or STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT) turns texts off
  for that number and drops its waiting texts; "START" turns them back on.

Notify retries a callback that fails; an unknown reference is answered 200 (nothing to
retry), a wrong token 401, a malformed body 400.
"""
from __future__ import annotations

import hmac
import logging
from datetime import timedelta

from flask import abort, current_app, jsonify, request
from sqlalchemy import update

from webapp.accounts.phone import start_number, stop_number
from webapp.delivery import bp
from webapp.delivery.models import Delivery, fixed
from webapp.delivery.notify_client import REFERENCE_PREFIX
from webapp.delivery.worker import backoff
from webapp.extensions import csrf, db
from webapp.platform.timeutil import utcnow

log = logging.getLogger("wardline.delivery.notify")

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP"})
RETRY_STATUSES = {"temporary-failure": "the phone was off or the inbox full",
                  "technical-failure": "a problem between Notify and the provider"}


def _check_bearer(setting: str) -> None:
    expected = current_app.config.get(setting)
    if not expected:
        abort(404)
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        abort(401)


def _payload() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400)
    return data


@bp.post("/notify/receipts")
@csrf.exempt
def notify_receipt():
    """A delivery receipt from Notify."""
    _check_bearer("NOTIFY_RECEIPT_TOKEN")
    data = _payload()
    reference, status = data.get("reference"), data.get("status")
    if not isinstance(status, str) or not (reference is None or isinstance(reference, str)):
        abort(400)
    suffix = (reference or "")[len(REFERENCE_PREFIX):]
    if not (reference or "").startswith(REFERENCE_PREFIX) or not suffix.isdigit() \
            or len(suffix) > 10:
        return jsonify(result="ignored"), 200  # not one of the outbox's (a code text)
    delivery_id = int(suffix)
    ours = (Delivery.id == delivery_id, Delivery.channel.in_(("sms", "email")))
    now = utcnow()
    if status == "delivered":
        values = dict(state="delivered", last_error=None)
        states = ("sent",)
    elif status == "permanent-failure":
        values = dict(state="dead", last_error=f"Notify: permanent-failure "
                                               f"({data.get('notification_type') or 'message'} "
                                               f"could not be delivered)")
        states = ("sent",)
    elif status in RETRY_STATUSES:
        attempts = db.session.scalar(db.select(Delivery.attempts).where(*ours)) or 1
        values = dict(state="queued", last_error=f"Notify: {status} ({RETRY_STATUSES[status]})",
                      next_attempt_at=now + timedelta(seconds=backoff(attempts)))
        states = ("sent",)
    else:
        return jsonify(result="ignored"), 200  # "sending", "created": not final yet
    changed = db.session.execute(update(Delivery).where(*ours, Delivery.state.in_(states))
                                 .values(**values)
                                 .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return jsonify(result="updated" if changed else "unchanged"), 200


@bp.post("/notify/inbound")
@csrf.exempt
def notify_inbound():
    """A text message a resident sent to our Notify number."""
    _check_bearer("NOTIFY_INBOUND_TOKEN")
    data = _payload()
    source, message = data.get("source_number"), data.get("message")
    if not isinstance(source, str) or not isinstance(message, str) or len(source) > 32:
        abort(400)
    words = message.strip().split()
    word = words[0].upper().strip(".!") if words else ""
    if word in STOP_WORDS:
        users = stop_number(source)
        if users:
            db.session.execute(update(Delivery).where(
                Delivery.user_id.in_(users), Delivery.channel == fixed("sms"),
                Delivery.state == fixed("queued")).values(state="gone", last_error="STOP received")
                .execution_options(synchronize_session=False))
        db.session.commit()
        log.info("STOP received: texts off for %d account(s)", len(users))
        return jsonify(result="stopped", accounts=len(users)), 200
    if word in START_WORDS:
        users = start_number(source)
        db.session.commit()
        return jsonify(result="started", accounts=len(users)), 200
    return jsonify(result="ignored"), 200
