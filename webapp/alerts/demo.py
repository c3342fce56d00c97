"""Demo alerts for ``flask seed-demo``: two sent alerts in the demo wards (so the ward
feed, the alert page and the officer stats have something to show) and one scheduled.
Idempotent: alerts are found by title. Runs after the accounts seeder (its officers)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from webapp.accounts.demo import DEMO_OFFICER, DEMO_SERGEANT, HERNE_HILL, ST_JAMES, VAUXHALL
from webapp.accounts.models import User
from webapp.alerts.models import Alert
from webapp.alerts.services import AlertInput, create_alert, resolve_target
from webapp.extensions import db
from webapp.platform.timeutil import utcnow
from webapp.wards.services import get_ward

DEMO_ALERTS = [
    (DEMO_OFFICER, [ST_JAMES], "prevention", False, None,
     "Phone snatches by e-bike around Piccadilly",
     "We've had several phone snatches by riders on e-bikes this week, mostly near "
     "**Piccadilly Circus** and Jermyn Street.\n\n"
     "- Step back from the kerb when you use your phone\n"
     "- Use a phone strap or keep it in an inside pocket\n\n"
     "More advice: https://www.met.police.uk/cd/crime-prevention/keep-safe/"),
    (DEMO_SERGEANT, [HERNE_HILL, VAUXHALL], "events", False, None,
     "Free bike marking at Brockwell Park on Saturday",
     "Bring your bike to the Brockwell Park main gate between 10:00 and 14:00 and we'll "
     "mark and register it for free. It takes ten minutes."),
    (DEMO_SERGEANT, [HERNE_HILL], "appeals", False, timedelta(days=2),
     "Appeal: witnesses to a collision on Railton Road",
     "Did you see a collision between a car and a cyclist on Railton Road on Tuesday "
     "evening? Please contact us through Wardline's messages or call 101."),
]


def seed() -> str:
    made = 0
    for email, codes, category, urgent, delay, title, body in DEMO_ALERTS:
        if db.session.scalar(select(Alert.id).where(Alert.title == title)):
            continue
        author = db.session.scalar(select(User).where(User.email == email))
        if author is None:
            continue
        target = resolve_target(author, "wards", [get_ward(c).id for c in codes])
        create_alert(author, AlertInput(
            title=title, body=body, category=category, channels=["email", "push"],
            target=target, urgent=urgent, send_at=(utcnow() + delay) if delay else None))
        db.session.commit()
        made += 1
    return f"alerts: {made} demo alerts created ({len(DEMO_ALERTS)} in all)"
