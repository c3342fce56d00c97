"""What the pwa domain stores itself: devices a resident removed in Settings.

The subscriptions live in ``webapp.delivery`` (``PushSubscription``). When a resident removes
a device from the list (perhaps from another device), the removed phone would otherwise
"repair" its subscription the next time it opens the app; this tombstone tells it to turn
notifications off instead.
"""
from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.platform.timeutil import utcnow


def endpoint_hash(endpoint: str) -> str:
    """Push endpoints are capability URLs: store only their SHA-256."""
    return hashlib.sha256(endpoint.encode()).hexdigest()


class RemovedDevice(db.Model):
    """A push endpoint the resident removed from their account's devices."""

    __tablename__ = "push_removed_devices"

    endpoint_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    removed_at: Mapped[datetime] = mapped_column(default=utcnow)
