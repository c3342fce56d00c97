"""Demo priorities for ``flask seed-demo``: every demo ward with residents gets a realistic
history (an earlier priority closed with its outcome, and two current ones with dated
actions) drawn from what its residents lean towards, and a couple of demo conversations are
tagged with a topic. Idempotent: a ward that has priorities is left as it is. The latest
Herne Hill action goes through the service, so the demo resident (who named antisocial
behaviour there) is told "here is what we did"."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from webapp.accounts.demo import DEMO_ADMIN, DEMO_OFFICER, DEMO_SERGEANT, HERNE_HILL, RESIDENT_WARDS
from webapp.accounts.models import User
from webapp.extensions import db
from webapp.priorities import services
from webapp.priorities.models import ConversationTopic, Priority, PriorityAction, PriorityTopic
from webapp.platform.timeutil import to_london, utcnow
from webapp.wards.services import covers_ward, get_ward
from webapp.threads.models import Conversation
from webapp.accounts.models import UserWard

# topic: (title, commitment, [(days ago, action)...], outcome)
STORIES = {
    "phone_theft": ("Phone snatches by the station", "Plain-clothes patrols at the busiest hours and free phone-safety stalls.",
                    [(40, "Phone-safety stall outside the station: 140 people stopped by"),
                     (18, "Two arrests after a plain-clothes operation"), (4, "Extra patrols on Friday and Saturday evenings")],
                    "Reported snatches fell from 31 to 17 over the quarter."),
    "asb": ("Antisocial behaviour in the evenings", "Evening foot patrols and work with the council on lighting and CCTV.",
            [(35, "Council agreed to repair six street lights"), (20, "Two dispersal orders used on Friday nights"),
             (6, "Youth worker outreach with the estate's residents' association")],
            "Calls about evening disorder down by a third; patrols continue monthly."),
    "visibility": ("Seeing more of your team", "A weekly street surgery and foot patrols on the main streets.",
                   [(30, "Street surgery every Saturday, 11am to 1pm"), (9, "Foot patrol route published on the ward page")],
                   "Surgeries now weekly; 230 residents spoke to the team."),
    "drugs": ("Drug dealing near the park", "Targeted patrols and closure orders where dealing is reported.",
              [(33, "Warrant executed: cannabis and cash seized"), (15, "Closure order granted for one flat"),
               (3, "Patrols at school pick-up times")],
              "Dealing reports near the playground stopped for eight weeks."),
    "burglary": ("Burglary on quiet streets", "Evening patrols and free door locks for the most affected streets.",
                 [(38, "Free door locks fitted at 24 homes"), (12, "Arrest for a series of burglaries"),
                  (2, "Crime-prevention visits on three streets")],
                 "Burglaries fell from 14 to 6 over three months."),
    "knife_crime": ("Knife crime and violence", "Weapon sweeps, knife arches at events and work with schools.",
                    [(29, "Weapon sweep of the park: two knives recovered"), (8, "Assemblies at two secondary schools")],
                    "No knife injuries reported in the last ten weeks."),
    "youth": ("Keeping young people safe", "Youth engagement officers at the estates and a summer programme.",
              [(25, "Football sessions with the youth club every Wednesday"), (7, "Safer-routes walk with parents")],
              "Summer programme reached 90 young people."),
    "road_safety": ("Speeding and dangerous driving", "Speed checks with Community Roadwatch and the traffic unit.",
                    [(31, "Community Roadwatch: 46 drivers warned"), (10, "Three vehicles seized for no insurance")],
                    "Average speeds on the main road down 4 mph."),
    "ebikes": ("Dangerous e-bikes and e-scooters", "Weekly operations against illegal e-bikes and riding on pavements.",
               [(26, "12 e-bikes seized on the high street"), (11, "Pavement-riding warnings at the market"),
                (1, "Joint operation with the council's enforcement team")],
               "42 illegal e-bikes seized; pavement-riding complaints halved."),
    "vawg": ("Women's safety at night", "Walk and Talk patrols and work with venues on welfare.",
             [(24, "Walk and Talk patrol with 15 residents"), (5, "Welfare training for staff at six venues")],
             "Walk and Talk now monthly; two venues joined the welfare scheme."),
    "shoplifting": ("Shoplifting on the high street", "A shop-watch radio link and patrols at peak times.",
                    [(22, "Shop-watch radio link set up with 11 shops"), (6, "Prolific offender charged")],
                    "Repeat thefts at the four worst-hit shops down by half."),
    "vehicle": ("Thefts from cars and vans", "Catalytic-converter marking and patrols of the car parks.",
                [(27, "Marked 60 catalytic converters"), (13, "Arrest for thefts from vans")],
                "Thefts from vehicles down 38 per cent on the quarter."),
    "fraud": ("Scams against older residents", "Talks at community centres and visits to victims.",
              [(21, "Scam-awareness talk at the library"), (4, "Visits to every resident who reported a scam")],
              "No repeat victims among those visited."),
    "hate_crime": ("Hate crime", "Third-party reporting centres and patrols at places of worship.",
                   [(19, "New reporting centre at the community hall"), (7, "Patrols at places of worship on Fridays")],
                   "Reports up (more confidence to report), repeat incidents down."),
}


def _officer_for(ward) -> User:
    """A demo officer covering the ward, else the demo admin (admins cover every ward)."""
    for email in (DEMO_OFFICER, DEMO_SERGEANT):
        user = db.session.scalar(select(User).where(User.email == email))
        if user is not None and covers_ward(user, ward.id):
            return user
    return db.session.scalar(select(User).where(User.email == DEMO_ADMIN))


def _priority(ward, officer, topic, *, days_ago, closed_days_ago=None, today):
    """A priority set ``days_ago``; closed ``closed_days_ago`` (its actions before that)."""
    title, commitment, actions, outcome = STORIES[topic]
    now = utcnow()
    created = now - timedelta(days=days_ago)
    closed = closed_days_ago is not None
    p = Priority(ward_id=ward.id, title=title, commitment=commitment, created_by_id=officer.id,
                 created_at=created, updated_at=created,
                 review_on=today - timedelta(days=closed_days_ago) if closed else today + timedelta(days=60))
    p.topic_links = [PriorityTopic(topic=topic)]
    db.session.add(p)
    db.session.flush()
    for ago, text in actions:
        day = ago + (closed_days_ago if closed else 0)
        db.session.add(PriorityAction(priority_id=p.id, body=text, acted_on=today - timedelta(days=day),
                                      author_id=officer.id, created_at=now - timedelta(days=day)))
    if closed:
        p.status, p.outcome = "closed", outcome
        p.closed_at = p.updated_at = now - timedelta(days=closed_days_ago)
    return p


def seed() -> str:
    today = to_london(utcnow()).date()
    made = 0
    told = 0
    for code, _, leaning in RESIDENT_WARDS:
        ward = get_ward(code)
        if ward is None or db.session.scalar(select(func.count()).select_from(Priority)
                                             .where(Priority.ward_id == ward.id)):
            continue
        officer = _officer_for(ward)
        if officer is None:
            continue
        topics = [t for t in leaning if t in STORIES]
        _priority(ward, officer, topics[-1], days_ago=170, closed_days_ago=80, today=today)
        for topic in topics[:2]:
            _priority(ward, officer, topic, days_ago=45, today=today)
        made += 3
    db.session.commit()
    # Tag the demo conversations (subject words → topic), so conversations count too.
    tags = {"Motorbikes": "road_safety", "Phone snatching": "phone_theft", "Drug dealing": "drugs",
            "Pickpockets": "phone_theft"}
    for conv in db.session.scalars(select(Conversation)):
        topic = next((t for word, t in tags.items() if conv.subject.startswith(word)), None)
        if topic and db.session.get(ConversationTopic, conv.id) is None:
            db.session.add(ConversationTopic(conversation_id=conv.id, topic=topic))
    db.session.commit()
    # The latest Herne Hill action through the service: the loop, end to end.
    ward = get_ward(HERNE_HILL)
    current = services.current_priorities(ward.id) if ward else []
    if current and not any(a.body.startswith("Evening patrol on Railton Road") for a in current[0].actions):
        officer = _officer_for(ward)
        services.add_action(officer, current[0], services.ActionInput(
            "Evening patrol on Railton Road: two warnings, one arrest"))
        db.session.commit()
        told = 1
    # An "ask residents again" round in Herne Hill, answered by most of its demo residents.
    rounds = 0
    if ward is not None and not services.rounds_for(ward.id):
        officer = _officer_for(ward)
        rnd = services.open_round(officer, ward, "What matters most here this quarter?")
        residents = db.session.scalars(
            select(User).join(UserWard, UserWard.user_id == User.id)
            .where(UserWard.ward_id == ward.id, UserWard.is_home.is_(True),
                   User.role == "resident", User.email.like("demo.resident%"))
            .order_by(User.id)).all()
        for n, resident in enumerate(residents[:8]):
            topics = None if n % 3 else ["asb", "road_safety", "youth"]  # most confirm
            try:
                services.answer_round(resident, rnd, topics)
            except ValueError:
                continue
        db.session.commit()
        rounds = 1
    return f"priorities: {made} demo priorities created, {rounds} round opened" + (", one action told to residents" if told else "")
