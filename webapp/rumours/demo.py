"""Demo rumour checks for ``flask seed-demo`` (issue 12): two checked in Herne Hill (one
whose verdict changed), one waiting in the demo sergeant's inbox. Idempotent (by text)."""
from __future__ import annotations

from sqlalchemy import select

from webapp.accounts.demo import DEMO_RESIDENT, DEMO_SERGEANT, HERNE_HILL
from webapp.accounts.models import User
from webapp.extensions import db
from webapp.rumours import services as rumours
from webapp.rumours.models import Rumour
from webapp.wards.services import get_ward

RUMOURS = [
    ("People are saying the front counter at Brixton police station is closing for good",
     "People say the Brixton front counter is closing for good",
     [("unknown", "We've asked and will update this when we know."),
      ("partly", "The front counter keeps its weekday hours; it closes on Sundays from next "
                 "month. You can always report online or on 101.")]),
    ("Someone in the WhatsApp group says a gang is trying car doors on Dulwich Road every night",
     "A gang is trying car doors on Dulwich Road every night",
     [("false", "We've had one report of a car door tried in the last month and patrols have "
                "seen nothing since. Do lock your car and keep valuables out of sight.")]),
]
OPEN_RUMOUR = "Heard the Brockwell Park gates will be locked at night from next week?"



def seed() -> str:
    officer = db.session.scalar(select(User).where(User.email == DEMO_SERGEANT))
    resident = db.session.scalar(select(User).where(User.email == DEMO_RESIDENT))
    if officer is None or resident is None:
        return "rumours: no demo officer or resident (run the accounts seeder first)"
    ward = get_ward(HERNE_HILL)
    made = []
    for text, claim, verdicts in RUMOURS:
        if db.session.scalar(select(Rumour.id).where(Rumour.text == text)):
            continue
        rumour = rumours.ask(resident, ward, text)
        db.session.commit()
        for verdict, explanation in verdicts:
            rumours.publish_verdict(officer, rumour, claim, verdict, explanation)
            db.session.commit()
        made.append("a checked rumour")
    if not db.session.scalar(select(Rumour.id).where(Rumour.text == OPEN_RUMOUR)):
        rumours.ask(resident, ward, OPEN_RUMOUR)
        db.session.commit()
        made.append("a rumour waiting")
    return "rumours: " + (", ".join(made) if made else "nothing new")
