"""Demo conversations and ward posts for ``flask seed-demo`` (runs after the accounts
seeder, whose residents, officers and teams it uses). Idempotent: a conversation is found
by its resident and subject, a post by its ward and title."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from webapp.accounts.demo import (
    DEMO_OFFICER, DEMO_RESIDENT, DEMO_SERGEANT, HERNE_HILL, ST_JAMES, VAUXHALL)
from webapp.accounts.models import User, UserWard
from webapp.extensions import db
from webapp.threads import services
from webapp.posts import WardPost, create_ward_post
from webapp.threads.models import Conversation
from webapp.platform.timeutil import utcnow
from webapp.wards.services import get_ward
from webapp.accounts.demo import seed as seed_people

# (ward, resident: the demo resident or the n-th demo resident of that ward, subject,
#  [(hours ago, "resident"|"officer", text)...], closed?)
CONVERSATIONS = [
    (HERNE_HILL, DEMO_RESIDENT, "Motorbikes racing on Herne Hill at night", [
        (70, "resident", "Most nights after 11pm motorbikes race up and down Herne Hill. "
                         "It is loud and someone will get hurt. Can anything be done?"),
        (46, "officer", "Thank you for telling us. We have added Herne Hill to our evening "
                        "patrols this week and are working with the traffic unit. If you see "
                        "it happening, please call 101 with the time and direction."),
        (20, "resident", "Thanks, it was quieter on Tuesday."),
        (18, "officer", "Good to hear. We will keep the patrols going this month."),
    ], False),
    (HERNE_HILL, 1, "Phone snatching near the station", [
        (30, "resident", "Two people I know had their phones snatched outside the station "
                         "in the last fortnight. Is this happening a lot?"),
    ], False),
    (VAUXHALL, 2, "Drug dealing in the park by the playground", [
        (8, "resident", "There is dealing near the playground most afternoons. Parents are "
                        "worried."),
    ], False),
    (ST_JAMES, 1, "Is the Piccadilly pop-up station staying?", [
        (120, "resident", "Will the pop-up police point on Piccadilly stay after the summer?"),
        (100, "officer", "Yes: it stays open every Friday and Saturday evening until the end "
                         "of the year. Come and say hello."),
    ], True),
    (ST_JAMES, 2, "Pickpockets around the theatres", [
        (5, "resident", "My wallet was taken in the crowd outside a theatre last night. I "
                        "reported it on 101. Are you doing anything about this?"),
    ], False),
]

POSTS = [
    (ST_JAMES, DEMO_OFFICER, "answer", "Is the Piccadilly pop-up police point staying?",
     "Will the pop-up police point on Piccadilly stay after the summer?",
     "Yes: it stays open every Friday and Saturday evening until the end of the year. "
     "Come and say hello, ask for crime-prevention advice or get your bike marked."),
    (HERNE_HILL, DEMO_SERGEANT, "post", "Free bike marking this Saturday",
     None,
     "We are marking bikes outside Herne Hill station this Saturday from 10am to 1pm. "
     "Marked bikes are less likely to be stolen and easier to return. Bring proof of "
     "ownership if you can."),
]


def _user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email))


def _resident_for(ward_code: str, who) -> User | None:
    if isinstance(who, str):
        return _user(who)
    ward = get_ward(ward_code)
    stmt = (select(User).join(UserWard, UserWard.user_id == User.id)
            .where(UserWard.ward_id == ward.id, UserWard.is_home.is_(True),
                   User.role == "resident", User.email.like("%@demo.wardline"),
                   User.email != DEMO_RESIDENT)
            .order_by(User.id).offset(who).limit(1))
    return db.session.scalar(stmt)


def _officer_for(ward_code: str) -> User | None:
    return _user(DEMO_OFFICER if ward_code == ST_JAMES else DEMO_SERGEANT)


def seed() -> str:
    """Create the demo conversations and posts that do not exist yet; commit; summarise."""
    if _user(DEMO_OFFICER) is None or _user(DEMO_SERGEANT) is None:
        seed_people()
    now = utcnow()
    made_conversations = made_posts = 0
    for ward_code, who, subject, messages, closed in CONVERSATIONS:
        resident, officer = _resident_for(ward_code, who), _officer_for(ward_code)
        if resident is None or officer is None:
            continue
        exists = db.session.scalar(select(Conversation.id).where(
            Conversation.resident_id == resident.id, Conversation.subject == subject))
        if exists:
            continue
        ward = get_ward(ward_code)
        (hours, _, text), rest = messages[0], messages[1:]
        conversation = services.start_conversation(resident, ward, subject, text,
                                                   now=now - timedelta(hours=hours))
        for hours, role, text in rest:
            services.add_message(conversation, officer if role == "officer" else resident, text,
                                 now=now - timedelta(hours=hours), notify=False)
        if closed:
            services.close_conversation(conversation, officer, now=now - timedelta(hours=90))
        made_conversations += 1
    for ward_code, author_email, kind, title, question, body in POSTS:
        ward, author = get_ward(ward_code), _user(author_email)
        if author is None or db.session.scalar(select(WardPost.id).where(
                WardPost.ward_id == ward.id, WardPost.title == title)):
            continue
        create_ward_post(ward, author, title, body, kind=kind, question=question,
                                  now=now - timedelta(hours=96 if kind == "answer" else 12))
        made_posts += 1
    db.session.commit()
    return (f"threads: {made_conversations} demo conversations and {made_posts} ward posts "
            f"created (St James's, Herne Hill, Vauxhall)")
