"""Responsiveness in public: the arithmetic (answered, median first reply, closed without
reply, alerts by category, meetings and attendance, priorities acted on), each people-count
hidden below the minimum, the London table sorted, charts server-rendered."""
from __future__ import annotations

from datetime import timedelta

from webapp.extensions import db
from webapp.priorities import stats
from webapp.platform.timeutil import utcnow
from webapp.wards.services import get_ward

from tests.priorities.conftest import HERNE_HILL, ST_JAMES


def _conversations(make_resident, officer, reply_hours, closed_unanswered=0, open_unanswered=0,
                   ward=ST_JAMES, days_ago=10):
    from webapp.threads import services as threads
    from webapp.threads.models import Message
    now = utcnow()
    for hours in reply_hours:
        resident = make_resident(ward)
        conv = threads.start_conversation(resident, resident.home_ward, "Q", "Question")
        conv.created_at = now - timedelta(days=days_ago)
        db.session.add(Message(conversation_id=conv.id, author_id=officer.id, from_officer=True,
                               body="Answer", created_at=conv.created_at + timedelta(hours=hours)))
        conv.status = "answered"
    for i in range(closed_unanswered + open_unanswered):
        resident = make_resident(ward)
        conv = threads.start_conversation(resident, resident.home_ward, "Q", "Question")
        conv.created_at = now - timedelta(days=days_ago)
        conv.status = "closed" if i < closed_unanswered else "awaiting"
    db.session.commit()


def test_ward_figures(app, make_resident, make_staff):
    officer = make_staff("officer", wards=[ST_JAMES])
    _conversations(make_resident, officer, [1, 2, 3, 10, 30], closed_unanswered=2, open_unanswered=1)
    _conversations(make_resident, officer, [100], days_ago=120)  # outside the 90 days
    s = stats.ward_stats(get_ward(ST_JAMES))
    assert (s.conversations, s.answered, s.closed_no_reply) == (8, 5, 2)
    assert s.answered_share == 5 / 8 and s.closed_share == 2 / 8
    assert s.median_reply_hours == 3.0


def test_people_counts_hidden_below_the_minimum(app, client, make_resident, make_staff):
    officer = make_staff("officer", wards=[ST_JAMES])
    _conversations(make_resident, officer, [1, 2, 3], open_unanswered=1)
    s = stats.ward_stats(get_ward(ST_JAMES))
    assert s.conversations == 4 and not s.conversations_shown
    assert s.answered_share is None and s.median_reply_hours is None and s.closed_share is None
    page = client.get(f"/wards/{ST_JAMES}/stats").get_data(as_text=True)
    assert "Fewer than 5" in page and "75%" not in page
    _conversations(make_resident, officer, [5])
    page = client.get(f"/wards/{ST_JAMES}/stats").get_data(as_text=True)
    assert "80%" in page and "2.0 hours" not in page  # median over 4 replies: still hidden
    _conversations(make_resident, officer, [7])
    s = stats.ward_stats(get_ward(ST_JAMES))
    assert s.median_reply_hours == 3.0  # median of 1, 2, 3, 5, 7
    assert "3.0 hours" in client.get(f"/wards/{ST_JAMES}/stats").get_data(as_text=True)


def test_alerts_meetings_attendance_and_priorities(app, client, make_resident, make_staff, publish):
    from sqlalchemy import select, update

    from webapp.alerts.services import AlertInput, create_alert, resolve_target, send_alert
    from webapp.meetings import services as meetings
    from webapp.meetings.models import Meeting, Rsvp
    from webapp.priorities.models import Priority
    officer = make_staff("officer", wards=[ST_JAMES])
    ward = get_ward(ST_JAMES)
    for category in ("prevention", "prevention", "appeals"):
        alert = create_alert(officer, AlertInput(title="A", body="B", category=category,
                                                 channels=["email"],
                                                 target=resolve_target(officer, "wards", [ward.id])))
        db.session.commit()
        send_alert(alert.id)
    start = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    meeting = meetings.create_meeting(officer, meetings.MeetingDetails(
        title="Panel", description="", venue_name="Hall", address="1 Street", accessibility="",
        starts_at=start, ends_at=start + timedelta(hours=1), capacity=50,
        rsvp_closes_at=start - timedelta(hours=1), online_url=None, reminder_hours=24), [ward.id], None)
    db.session.commit()
    people = [make_resident(ST_JAMES) for _ in range(4)]
    for p in people:
        meetings.rsvp(meeting.id, p.id)
    db.session.execute(update(Meeting).values(starts_at=utcnow() - timedelta(days=3),
                                              ends_at=utcnow() - timedelta(days=3, hours=-1)))
    db.session.execute(update(Rsvp).values(checked_in_at=utcnow() - timedelta(days=3)))
    db.session.commit()
    s = stats.ward_stats(ward)
    assert s.alerts == {"prevention": 2, "appeals": 1} and s.alerts_total == 3
    assert s.meetings_held == 1 and s.attendance == 4 and s.attendance_shown is None
    publish(officer, title="One")
    publish(officer, title="Two", topics=("asb",))
    one, two = db.session.scalars(select(Priority).order_by(Priority.id)).all()
    client.post(f"/officer/priorities/{one.id}/actions", data={f"p{one.id}-body": "Done"})
    client.post(f"/officer/priorities/{two.id}/actions", data={
        f"p{two.id}-body": "Old", f"p{two.id}-acted_on": (utcnow() - timedelta(days=40)).date().isoformat()})
    s = stats.ward_stats(ward)
    assert (s.priorities_current, s.priorities_active) == (2, 1)
    page = client.get(f"/wards/{ST_JAMES}/stats").get_data(as_text=True)
    assert "1 of 2" in page and "<svg" in page and "Crime prevention advice: 2" in page


def test_london_table_by_borough_sorted(app, client, make_resident, make_staff):
    westminster = make_staff("officer", wards=[ST_JAMES])
    lambeth = make_staff("officer", wards=[HERNE_HILL])
    _conversations(make_resident, westminster, [1, 1, 1, 1, 1])
    _conversations(make_resident, lambeth, [20, 20, 20, 20, 20], ward=HERNE_HILL)
    rows = stats.london_stats("median")
    assert [r["borough"].name for r in rows[:2]] == ["Westminster", "Lambeth"]
    assert rows[2]["stats"].median_reply_hours is None  # hidden ones sort last
    rows = stats.london_stats("median", descending=True)
    assert [r["borough"].name for r in rows[:2]] == ["Lambeth", "Westminster"]
    assert len(rows) == 33
    page = client.get("/stats?sort=median&dir=desc").get_data(as_text=True)
    assert page.index("Lambeth") < page.index("Westminster")
    assert 'aria-sort="descending"' in page and page.count("<svg") >= 2
    assert client.get("/stats?sort=nonsense&dir=sideways").status_code == 200
