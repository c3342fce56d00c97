"""Fixtures for the meetings tests: a meeting factory."""
from __future__ import annotations

from datetime import timedelta

import pytest

from webapp.timeutil import utcnow


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
        start = (utcnow() + starts_in).replace(microsecond=0)
        details = MeetingDetails(
            title=title, description="Talk to your ward team.", venue_name="St James's Hall",
            address="1 Example Street, London SW1A 1AA", accessibility="Step-free entrance.",
            starts_at=start, ends_at=start + duration, capacity=capacity,
            rsvp_closes_at=start - closes_before, online_url=online_url,
            reminder_hours=reminder_hours)
        ward_ids = [get_ward(code).id for code in wards]
        borough_id = get_ward(wards[0]).borough_id if borough else None
        meeting = create_meeting(officer, details, ward_ids, borough_id)
        db.session.refresh(meeting)
        return meeting

    return factory
