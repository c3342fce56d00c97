"""Fixtures for the meetings tests: a meeting factory."""
from __future__ import annotations

from datetime import timedelta

import pytest

from webapp.platform.timeutil import utcnow


@pytest.fixture
def make_meeting(app, make_staff):
    """Create a meeting through the service: ``make_meeting(wards=["E05013806"], capacity=50)``.

    Returns the meeting; ``meeting.created_by`` is its organiser (a new officer covering
    the wards unless ``officer=`` is given).
    """
    from webapp.extensions import db
    from webapp.meetings.services import MeetingDetails, create_meeting
    from webapp.wards.services import get_ward

    def factory(*, wards=("E05013806",), officer=None, capacity=50, starts_in=timedelta(days=3),
                duration=timedelta(hours=2), closes_before=timedelta(hours=1), borough=False,
                title="Community meeting", reminder_hours=24, online_url=None):
        officer = officer or make_staff("officer", wards=list(wards))
        start = (utcnow() + starts_in).replace(second=0, microsecond=0)
        details = MeetingDetails(
            title=title, description="Talk to your ward team.", venue_name="St James's Hall",
            address="1 Example Street, London SW1A 1AA", accessibility="Step-free entrance.",
            starts_at=start, ends_at=start + duration, capacity=capacity,
            rsvp_closes_at=start - closes_before, online_url=online_url,
            reminder_hours=reminder_hours)
        ward_ids = [get_ward(code).id for code in wards]
        borough_id = get_ward(wards[0]).borough_id if borough else None
        meeting = create_meeting(officer, details, ward_ids, borough_id)
        db.session.commit()
        db.session.refresh(meeting)
        return meeting

    return factory


@pytest.fixture
def deliveries(app):
    """``deliveries(kind)``: {user_id: email channel} of the outbox rows written for ``kind``."""
    from sqlalchemy import select

    from webapp.delivery.models import Delivery, Notification
    from webapp.extensions import db

    def query(kind):
        db.session.rollback()
        rows = db.session.execute(
            select(Delivery.user_id, Delivery.channel).join(Delivery.notification)
            .where(Notification.kind == kind, Delivery.channel != "push")).all()
        return {uid: channel for uid, channel in rows}

    return query


def set_times(meeting, *, starts_in=None, closes_in=None, ends_in=None):
    """Move a meeting in time relative to now (tests of closing and ending)."""
    from webapp.extensions import db
    now = utcnow()
    if starts_in is not None:
        meeting.starts_at = now + starts_in
        meeting.reminder_at = meeting.starts_at - timedelta(hours=meeting.reminder_hours)
    if closes_in is not None:
        meeting.rsvp_closes_at = now + closes_in
    if ends_in is not None:
        meeting.ends_at = now + ends_in
    db.session.commit()
