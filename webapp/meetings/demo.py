"""Demo meetings for ``flask seed-demo``: upcoming meetings in the demo wards, one nearly
full and one with a waitlist (idempotent: meetings are found by title)."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import select

from webapp.accounts.demo import DEMO_RESIDENT, HERNE_HILL, ST_JAMES
from webapp.accounts.models import User, UserCategory, UserWard
from webapp.extensions import db
from webapp.meetings import services
from webapp.meetings.models import Meeting, MeetingWard
from webapp.platform.timeutil import LONDON, london_to_utc, utcnow
from webapp.accounts import ward_team_members
from webapp.wards.services import get_ward


NAMES = ["Amara Okafor", "Ben Hughes", "Chloe Martin", "Dev Patel", "Ella Novak", "Femi Adeyemi",
         "Grace Lee", "Hassan Ali", "Isla Brown", "Jamal Reid", "Kasia Nowak", "Liam O'Brien",
         "Maya Singh", "Noah Clarke", "Olu Bakare", "Priya Shah", "Quinn Foster", "Rosa Diaz",
         "Sam Taylor", "Tom Evans", "Uma Rao", "Vik Mehta", "Will Turner", "Yara Haddad"]

MEETINGS = [
    # (ward code, title, venue, address, days ahead, capacity, RSVPs to take)
    (HERNE_HILL, "Community crime-fighting: Herne Hill & Loughborough Junction",
     "Jessop Primary School hall", "Lowden Road, London SE24 0BJ", 9, 120, 6),
    (ST_JAMES, "St James's ward panel: meet your neighbourhood team",
     "St James's Church, Piccadilly (Hall)", "197 Piccadilly, London W1J 9LL", 5, 16, 15),
    (ST_JAMES, "Phone theft around Leicester Square: what we're doing",
     "Charing Cross Library, meeting room", "4 Charing Cross Road, London WC2H 0HF", 12, 10, 14),
]


def _at(days: int, hour: int = 18, minute: int = 30) -> datetime:
    """A London wall-clock time ``days`` from today, as naive UTC."""
    day = (datetime.now(LONDON) + timedelta(days=days)).date()
    return london_to_utc(datetime.combine(day, time(hour, minute)))


def _demo_residents(ward_code: str, count: int) -> list[User]:
    ward = get_ward(ward_code)
    users = []
    for n in range(count):
        email = f"meetings-demo-{ward_code.lower()}-{n + 1}@example.org"
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(email=email, display_name=NAMES[n % len(NAMES)], role="resident",
                        confirmed_at=utcnow(), survey_completed_at=utcnow(), survey_step=4)
            user.wards.append(UserWard(ward=ward, is_home=True, position=0))
            user.categories.append(UserCategory(category="events"))
            db.session.add(user)
        users.append(user)
    db.session.commit()
    return users


def seed() -> str:
    """Create the demo meetings and their RSVPs once; return a summary line."""
    made = 0
    for code, title, venue, address, days, capacity, rsvps in MEETINGS:
        if db.session.scalar(select(Meeting.id).where(Meeting.title == title)) is not None:
            continue
        ward = get_ward(code)
        if ward is None:
            continue
        team = ward_team_members(ward)
        start = _at(days)
        meeting = Meeting(
            title=title, venue_name=venue, address=address,
            description=("Meet the officers who look after your area. Tell us what worries you "
                         "most, hear what we're doing about it, and ask questions."),
            accessibility="Step-free entrance and an accessible toilet. Hearing loop available.",
            starts_at=start, ends_at=start + timedelta(hours=1, minutes=30), capacity=capacity,
            rsvp_closes_at=start - timedelta(hours=2), reminder_hours=24,
            reminder_at=start - timedelta(hours=24),
            created_by_id=team[0].id if team else None)
        meeting.ward_links = [MeetingWard(ward_id=ward.id, position=0)]
        db.session.add(meeting)
        db.session.commit()
        people = _demo_residents(code, rsvps)
        demo = db.session.scalar(select(User).where(User.email == DEMO_RESIDENT))
        if demo is not None and capacity - rsvps == 1:
            # The demo resident holds a place at the nearly full meeting (sees the QR code).
            people = [demo] + people[:-1]
        for user in people:
            services.rsvp(meeting.id, user.id)
        made += 1
    return f"meetings: {made} demo meetings added ({len(MEETINGS) - made} already there)"
