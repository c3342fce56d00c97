"""Demo people for ``flask seed-demo``: residents with survey answers (so ward charts show),
a resident to sign in as, two officers in two teams, and an admin. Idempotent: people are
found by email address and left as they are when they exist.

Runs first among the seeders: the others (threads, alerts, meetings) build on these people.
"""
from __future__ import annotations

import random

from flask import current_app
from sqlalchemy import select

from webapp.accounts.models import Concern, User, UserCategory, UserWard
from webapp.accounts.passwords import hash_password
from webapp.extensions import db
from webapp.platform.taxonomy import CATEGORIES, CONCERN_TOPICS
from webapp.platform.timeutil import utcnow
from webapp.wards.models import Team
from webapp.wards.services import get_ward

ST_JAMES = "E05013806"
HERNE_HILL = "E05014104"
VAUXHALL = "E05014117"

DEMO_RESIDENT = "resident@demo.wardline"
DEMO_OFFICER = "officer@demo.wardline"
DEMO_SERGEANT = "sergeant@demo.wardline"
DEMO_ADMIN = "admin@demo.wardline"
WESTMINSTER_TEAM = "Westminster St James's SNT"
LAMBETH_TEAM = "Lambeth Herne Hill & Vauxhall SNT"

# (ward code, residents, the topics residents there lean towards)
RESIDENT_WARDS = [
    (ST_JAMES, 9, ["phone_theft", "asb", "visibility", "drugs"]),
    (HERNE_HILL, 10, ["asb", "burglary", "knife_crime", "youth", "road_safety"]),
    (VAUXHALL, 8, ["phone_theft", "drugs", "ebikes", "vawg"]),
    ("E05013808", 6, ["phone_theft", "shoplifting", "asb"]),           # West End, Westminster
    ("E05009372", 6, ["ebikes", "asb", "burglary", "vehicle"]),        # Hackney Central
    ("E05011110", 6, ["knife_crime", "youth", "asb", "drugs"]),        # Peckham, Southwark
    ("E05013924", 5, ["vehicle", "phone_theft", "fraud"]),             # Stratford, Newham
    ("E05013829", 5, ["burglary", "fraud", "road_safety"]),            # Wimbledon Town, Merton
    ("E05013654", 3, ["burglary", "hate_crime"]),                      # Camden Square (few)
]
FIRST_NAMES = ["Amira", "Ben", "Carys", "Dami", "Eleni", "Farid", "Gwen", "Hiro", "Ines",
               "Jonah", "Keira", "Luca", "Mei", "Nadia", "Omar", "Pippa", "Rahul", "Saoirse",
               "Tariq", "Una", "Viktor", "Wren", "Yusuf", "Zara"]
OTHER_WORDS = ["Fly-tipping behind the shops", "Cars racing at night",
               "Broken street lights by the station", "Scooters on the pavement"]


def _user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email))


def _resident(email: str, name: str, home: str, extras: tuple[str, ...], topics: list[str],
              rng: random.Random, frequency: str = "immediate") -> tuple[User, bool]:
    user = _user(email)
    if user is not None:
        return user, False
    now = utcnow()
    user = User(email=email, display_name=name, role="resident", confirmed_at=now,
                email_frequency=frequency, survey_step=4, survey_completed_at=now)
    ward = get_ward(home)
    user.wards.append(UserWard(ward=ward, is_home=True, position=0))
    for position, code in enumerate(extras, start=1):
        user.wards.append(UserWard(ward=get_ward(code), is_home=False, position=position))
    for category in rng.sample(list(CATEGORIES), rng.randint(2, 4)):
        user.categories.append(UserCategory(category=category))
    db.session.add(user)
    db.session.flush()
    for topic in topics:
        db.session.add(Concern(user_id=user.id, respondent_key=user.respondent_key,
                               ward_id=ward.id, topic=topic, source="survey",
                               text=rng.choice(OTHER_WORDS) if topic == "other" else None))
    return user, True


def _staff(email: str, name: str, role: str, rank: str | None, shoulder: str | None,
           password_hash: str) -> tuple[User, bool]:
    user = _user(email)
    if user is not None:
        return user, False
    user = User(email=email, display_name=name, role=role, rank=rank, shoulder_number=shoulder,
                confirmed_at=utcnow(), password_hash=password_hash)
    db.session.add(user)
    return user, True


def _team(name: str, ward_codes: list[str], members: list[User]) -> Team:
    team = db.session.scalar(select(Team).where(Team.name == name))
    if team is None:
        team = Team(name=name)
        db.session.add(team)
    for code in ward_codes:
        ward = get_ward(code)
        if ward not in team.wards:
            team.wards.append(ward)
    for member in members:
        if member not in team.members:
            team.members.append(member)
    return team


def seed() -> str:
    """Create the demo people and teams once (commits); return a summary line."""
    rng = random.Random(2026)  # the same demo every time
    created = 0
    n = 0
    for code, count, leaning in RESIDENT_WARDS:
        for _ in range(count):
            n += 1
            topics = rng.sample(leaning, min(rng.choice([1, 2, 2, 3, 3, 3]), len(leaning)))
            if rng.random() < 0.25:
                topics[-1] = rng.choice(list(CONCERN_TOPICS))  # not everyone is typical
            elif rng.random() < 0.08:
                topics[-1] = "other"
            topics = list(dict.fromkeys(topics))
            _, made = _resident(f"demo.resident{n}@demo.wardline",
                                FIRST_NAMES[n % len(FIRST_NAMES)], code, (), topics, rng,
                                frequency=rng.choice(["immediate", "immediate", "digest"]))
            created += made
    _, made = _resident(DEMO_RESIDENT, "Robin", HERNE_HILL, (VAUXHALL,),
                        ["asb", "burglary", "road_safety"], rng)
    created += made

    password = hash_password(current_app.config["DEMO_PASSWORD"])
    officer, made_officer = _staff(DEMO_OFFICER, "Jane Morgan", "officer", "PC", "4021AW",
                                   password)
    sergeant, made_sergeant = _staff(DEMO_SERGEANT, "Kwame Mensah", "officer", "Sergeant",
                                     "118LX", password)
    _, made_admin = _staff(DEMO_ADMIN, "Alex Admin", "admin", None, None, password)
    created += made_officer + made_sergeant + made_admin
    _team(WESTMINSTER_TEAM, [ST_JAMES], [officer])
    _team(LAMBETH_TEAM, [HERNE_HILL, VAUXHALL], [sergeant])
    db.session.commit()
    total = db.session.scalar(select(db.func.count()).select_from(User)
                              .where(User.email.like("%@demo.wardline")))
    return (f"accounts: {created} demo people created ({total} in all); sign in as "
            f"{DEMO_RESIDENT} (link in instance/mail/), staff {DEMO_OFFICER}, {DEMO_SERGEANT}, "
            f"{DEMO_ADMIN} with DEMO_PASSWORD")
