"""Issue 12 demo data: an incident with three updates and an outcome, two checked rumours
and a guarded message, shown on ``make run``; seeding twice adds nothing."""
from __future__ import annotations

from sqlalchemy import func, select

from webapp.extensions import db


def test_seed_demo_shows_the_incident_the_rumours_and_a_guarded_message(app, runner, client):
    from webapp.alerts.models import Alert
    from webapp.platform.guard import check
    from webapp.incidents.demo import INCIDENT_TITLE
    from webapp.incidents.models import ConversationTag, Incident, IncidentUpdate
    from webapp.rumours.models import Rumour, RumourVerdict
    from webapp.threads.models import Conversation, Message

    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    alert = db.session.scalar(select(Alert).where(Alert.title == INCIDENT_TITLE))
    incident = db.session.get(Incident, alert.id)
    assert incident.state == "outcome" and incident.outcome_alert.category == "outcomes"
    assert db.session.scalar(select(func.count()).select_from(IncidentUpdate)
                             .where(IncidentUpdate.alert_id == alert.id)) == 3
    page = client.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert page.count('class="timeline-item"') == 4 and "Outcome" in page
    checked = db.session.scalars(select(Rumour).where(Rumour.status == "published")).all()
    assert len(checked) == 2
    assert sorted(len(r.verdicts) for r in checked) == [1, 2]
    tagged = db.session.scalar(select(ConversationTag.conversation_id)
                               .where(ConversationTag.tag == "needs_reporting"))
    first = db.session.scalar(select(Message).where(Message.conversation_id == tagged).order_by(Message.id))
    assert check(first.body).level == "report"
    assert db.session.scalar(select(ConversationTag).where(ConversationTag.tag == "appeal_info"))
    counts = [db.session.scalar(select(func.count()).select_from(m))
              for m in (Alert, IncidentUpdate, Rumour, RumourVerdict, Conversation)]
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert counts == [db.session.scalar(select(func.count()).select_from(m))
                      for m in (Alert, IncidentUpdate, Rumour, RumourVerdict, Conversation)]
