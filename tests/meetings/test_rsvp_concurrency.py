"""No overbooking: many residents RSVP at the same instant, each on its own connection."""
from __future__ import annotations

import threading

from sqlalchemy import select

from webapp.accounts.models import User
from webapp.extensions import db
from webapp.meetings import services
from webapp.meetings.models import Rsvp


def _make_users(n):
    users = [User(email=f"c{i}@example.org", display_name=f"C {i}", role="resident") for i in range(n)]
    db.session.add_all(users)
    db.session.commit()
    return [u.id for u in users]


def test_200_concurrent_rsvps_for_50_places(app, make_meeting):
    meeting = make_meeting(capacity=50)
    meeting_id = meeting.id
    user_ids = _make_users(200)
    # 200 threads, each with its own app context and so its own session and connection,
    # released together.
    barrier = threading.Barrier(len(user_ids))
    results, errors = {}, []

    def worker(uid):
        try:
            with app.app_context():
                barrier.wait()
                row = services.rsvp(meeting_id, uid)
                results[uid] = (row.status, row.seq)
                db.session.remove()
        except Exception as exc:  # reported below, so a failure names its cause
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(uid,)) for uid in user_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    db.session.rollback()  # end the test's own (older) read transaction
    rows = list(db.session.scalars(select(Rsvp).where(Rsvp.meeting_id == meeting_id).order_by(Rsvp.seq)))
    assert len(rows) == 200
    assert [r.status for r in rows] == ["going"] * 50 + ["waitlisted"] * 150
    assert [r.seq for r in rows] == list(range(1, 201))
    # Every caller was told the status that was stored.
    assert all(results[r.user_id] == (r.status, r.seq) for r in rows)
    positions = [services.waitlist_position(r) for r in rows[50:]]
    assert positions == list(range(1, 151))
