"""Push subscriptions (one per device a resident allowed notifications on) and the app's
VAPID key. Saved and checked here; the outbox (:mod:`webapp.delivery.services`) writes one
push delivery per subscription, and the worker sends them."""
from __future__ import annotations

import base64
import binascii
import logging
from pathlib import Path

from flask import current_app
from sqlalchemy import bindparam, select

from webapp.extensions import db
from webapp.platform.timeutil import utcnow

from webapp.delivery.models import PushSubscription
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid
from webapp.delivery.endpoints import endpoint_problem
import os

log = logging.getLogger("wardline.delivery")


# --------------------------------------------------------------------------- push subscriptions
class SubscriptionError(ValueError):
    """The subscription JSON is not a valid Web Push subscription."""


def _b64url_bytes(value, name: str, lengths: tuple[int, ...]) -> str:
    if not isinstance(value, str) or len(value) > 200:
        raise SubscriptionError(f"keys.{name} must be a short base64url string")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SubscriptionError(f"keys.{name} is not base64url") from exc
    if len(raw) not in lengths:
        raise SubscriptionError(f"keys.{name} has the wrong length")
    if name == "p256dh" and raw[0] != 4:
        raise SubscriptionError("keys.p256dh must be an uncompressed P-256 point")
    return value.rstrip("=")


class EndpointTaken(SubscriptionError):
    """The endpoint is registered to another account (which one is never said)."""


def validate_subscription(data) -> dict:
    """Check ``PushSubscription.toJSON()`` output; return {endpoint, p256dh, auth}.

    Raises :class:`SubscriptionError` for a wrong shape, an endpoint that is not one of a
    known push service (see :mod:`webapp.delivery.endpoints`), or keys of the wrong size.
    """
    if not isinstance(data, dict):
        raise SubscriptionError("subscription must be an object")
    endpoint = data.get("endpoint")
    problem = endpoint_problem(endpoint, current_app.config)
    if problem:
        raise SubscriptionError(problem)
    keys = data.get("keys")
    if not isinstance(keys, dict):
        raise SubscriptionError("keys missing")
    return {"endpoint": endpoint,
            "p256dh": _b64url_bytes(keys.get("p256dh"), "p256dh", (65,)),
            "auth": _b64url_bytes(keys.get("auth"), "auth", (16,))}


def save_subscription(user, subscription_json: dict, user_agent: str = "") -> PushSubscription:
    """Store (or update, by endpoint) a device's push subscription for ``user``.

    An endpoint already registered to another account is refused (:class:`EndpointTaken`):
    otherwise anyone who learnt it could move another resident's notifications to
    themselves. A browser signed in to a new account subscribes afresh (signing out
    unsubscribes the device), so a shared phone gets a new endpoint. Beyond
    ``PUSH_MAX_DEVICES`` devices the oldest are removed. Flushes but does not commit.
    Raises :class:`SubscriptionError` for invalid input.
    """
    data = validate_subscription(subscription_json)
    with db.session.no_autoflush:
        sub = db.session.scalar(select(PushSubscription).where(
            PushSubscription.endpoint == data["endpoint"]))
    if sub is not None and sub.user_id != user.id:
        raise EndpointTaken("This device is registered to another account. Turn notifications "
                            "off and on again on this device.")
    if sub is None:
        sub = PushSubscription(endpoint=data["endpoint"], user_id=user.id, created_at=utcnow())
        db.session.add(sub)
    sub.p256dh, sub.auth = data["p256dh"], data["auth"]
    sub.user_agent = (user_agent or "")[:300]
    db.session.flush()
    limit = max(1, int(current_app.config["PUSH_MAX_DEVICES"]))
    for old in subscriptions_for(user)[limit:]:
        if old.id != sub.id:
            db.session.delete(old)
    db.session.flush()
    return sub


def remove_subscription(user, endpoint: str) -> bool:
    """Delete ``user``'s subscription with ``endpoint``; True if there was one."""
    sub = db.session.scalar(select(PushSubscription).where(
        PushSubscription.endpoint == endpoint, PushSubscription.user_id == user.id))
    if sub is None:
        return False
    db.session.delete(sub)
    db.session.flush()
    return True


_SUBSCRIPTIONS = select(PushSubscription).where(
    PushSubscription.user_id == bindparam("user_id")).order_by(
    PushSubscription.created_at.desc(), PushSubscription.id.desc())


def subscriptions_for(user) -> list[PushSubscription]:
    """The user's registered devices, newest first (a statement built once)."""
    return list(db.session.scalars(_SUBSCRIPTIONS, {"user_id": user.id}))


# --------------------------------------------------------------------------- VAPID
_vapid_cache: dict[str, object] = {}


def vapid() -> "object":
    """The app's VAPID key (a ``py_vapid.Vapid`` object), built once per process.

    From ``VAPID_PRIVATE_KEY`` (PEM text, or base64url raw/DER) when set, else from
    ``instance/vapid_private.pem``, generated (mode 0600) on first use.
    """
    configured = current_app.config["VAPID_PRIVATE_KEY"]
    cache_key = configured or current_app.instance_path
    key = _vapid_cache.get(cache_key)
    if key is not None:
        return key
    if configured:
        text = configured.strip()
        key = Vapid.from_pem(text.encode()) if text.startswith("-----BEGIN") \
            else Vapid.from_string(text)
    else:
        path = Path(current_app.instance_path) / "vapid_private.pem"
        if not path.exists():
            fresh = Vapid()
            fresh.generate_keys()
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(fresh.private_pem())
            log.info("Generated a VAPID key pair in %s", path)
        key = Vapid.from_file(str(path))
    _vapid_cache[cache_key] = key
    return key


def vapid_public_key() -> str:
    """The applicationServerKey for ``pushManager.subscribe()``: the uncompressed P-256
    public key, base64url without padding."""
    raw = vapid().public_key.public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
