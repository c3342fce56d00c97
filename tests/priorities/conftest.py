"""Helpers for the priorities tests."""
from __future__ import annotations

from datetime import timedelta

import pytest

from webapp.extensions import db

ST_JAMES = "E05013806"
HERNE_HILL = "E05014104"


@pytest.fixture
def publish(client, login):
    """POST the "Set priorities" form as ``officer``; returns the response."""
    def do(officer, code=ST_JAMES, *, title="Dangerous e-bikes", topics=("ebikes",),
           commitment="Weekly patrols on Coldharbour Lane; seize illegal e-bikes.",
           review_in_days=60, **extra):
        from webapp.platform.timeutil import to_london, utcnow
        login(client, officer)
        data = {"title": title, "commitment": commitment, "topics": list(topics),
                "review_on": (to_london(utcnow()).date() + timedelta(days=review_in_days)).isoformat()}
        data.update(extra)
        return client.post(f"/officer/wards/{code}/priorities", data=data)
    return do


def deliveries_by_user():
    """{user id: [(channel, title, body, url)]} of the "priority" notifications queued."""
    from sqlalchemy import select
    from webapp.delivery.models import Delivery, Notification
    db.session.expire_all()
    out = {}
    for d, n in db.session.execute(select(Delivery, Notification)
                                   .join(Notification, Notification.id == Delivery.notification_id)
                                   .where(Notification.kind == "priority").order_by(Delivery.id)):
        out.setdefault(d.user_id, []).append((d.channel, n.title, n.body, n.url))
    return out
