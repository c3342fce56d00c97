"""Demo data for ``flask seed-demo`` (issue 12): an incident followed through three updates
to its outcome, a resident's reply to it, and a guarded message answered with the reporting
route (the rumour checks: :mod:`webapp.rumours.demo`).
Idempotent: found by title and text. Runs after the accounts and alerts seeders."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from webapp.accounts.demo import DEMO_RESIDENT, DEMO_SERGEANT, HERNE_HILL
from webapp.accounts.models import User
from webapp.alerts.models import Alert
from webapp.alerts.services import AlertInput, create_alert, resolve_target
from webapp.extensions import db
from webapp.incidents import services as incidents
from webapp.incidents.models import ConversationTag
from webapp.threads import services as threads
from webapp.threads.models import Conversation
from webapp.platform.timeutil import utcnow
from webapp.wards.services import get_ward

INCIDENT_TITLE = "Appeal: witnesses to a robbery on Railton Road"
UPDATES = [
    (46, "", "Update, 14:10: Railton Road has reopened. Thank you for your patience."),
    (30, "", "Update: two men were arrested this morning and are in custody. We still "
             "want to hear from anyone with doorbell or dashcam footage."),
    (2, "outcome", "Update: a man has been charged with robbery and will appear at "
                   "Camberwell Green Magistrates' Court."),
]
OUTCOME_TITLE = "Man charged after the Railton Road robbery"
REPLY = "I think I saw two men running towards Brixton around 9pm that evening."
GUARDED_SUBJECT = "My bike"
GUARDED = "My bike was stolen from outside Herne Hill station last night"
def _user(email):
    return db.session.scalar(select(User).where(User.email == email))


def seed() -> str:
    officer, resident = _user(DEMO_SERGEANT), _user(DEMO_RESIDENT)
    if officer is None or resident is None:
        return "incidents: no demo officer or resident (run the accounts seeder first)"
    made = []
    ward = get_ward(HERNE_HILL)
    alert = db.session.scalar(select(Alert).where(Alert.title == INCIDENT_TITLE))
    if alert is None:
        now = utcnow()
        alert = create_alert(officer, AlertInput(
            title=INCIDENT_TITLE, category="appeals", channels=["email", "push"],
            body="A man was robbed of his watch on Railton Road on Monday at about 9pm. "
                 "Did you see anything? Reply to this alert or call 101 quoting CAD 7412.",
            target=resolve_target(officer, "wards", [ward.id])))
        db.session.execute(update(Alert).where(Alert.id == alert.id).values(
            sent_at=now - timedelta(hours=50), created_at=now - timedelta(hours=50)))
        db.session.commit()
        incidents.set_following(resident, alert, True)
        for hours_ago, close, body in UPDATES:
            incidents.add_update(officer, alert, incidents.UpdateInput(
                body=body, close=close, outcome_title=OUTCOME_TITLE if close else "",
                outcome_body="Thank you to everyone who came forward with information."),
                now=now - timedelta(hours=hours_ago))
            db.session.commit()
        made.append("an incident with three updates and an outcome")
    # A reply to the alert (information offered on an appeal).
    if not db.session.scalar(select(ConversationTag).where(ConversationTag.alert_id == alert.id)):
        threads_ward = incidents.reply_ward(resident, alert)
        if threads_ward is not None:
            incidents.reply_to_alert(resident, alert, REPLY)
            db.session.commit()
            made.append("a reply to it")
    # A guarded message: the resident pressed "Send anyway"; the team gave the route.
    if not db.session.scalar(select(Conversation).where(Conversation.subject == GUARDED_SUBJECT,
                                                        Conversation.resident_id == resident.id)):
        conversation = threads.start_conversation(resident, ward, GUARDED_SUBJECT, GUARDED)
        db.session.commit()
        incidents.answer_needs_reporting(officer, conversation, "crime")
        db.session.commit()
        made.append("a guarded message answered with the reporting route")
    return "incidents: " + (", ".join(made) if made else "nothing new")
