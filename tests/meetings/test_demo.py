"""``flask seed-demo`` adds upcoming meetings: one nearly full, one with a waitlist."""
from __future__ import annotations

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.meetings import services
from webapp.meetings.models import Meeting
from webapp.platform.timeutil import utcnow


def test_seed_demo_adds_meetings_once(runner):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "meetings: 3 demo meetings added" in result.output
    db.session.rollback()
    meetings = list(db.session.scalars(select(Meeting)))
    assert len(meetings) == 3 and all(m.starts_at > utcnow() for m in meetings)
    st_james = [m for m in meetings if "E05013806" in {w.code for w in m.wards}]
    assert len(st_james) == 2
    left = {m.title: services.places_left(m) for m in meetings}
    waiting = {m.title: services.attendance(m.id)["waitlisted"] for m in meetings}
    assert any(n == 1 for n in left.values())  # nearly full
    assert any(n > 0 for n in waiting.values())  # a waitlist
    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0 and "meetings: 0 demo meetings added" in again.output
    assert db.session.scalar(select(func.count()).select_from(Meeting)) == 3
