"""The officer's per-alert table counts failed (retrying) and dead deliveries per channel."""
from __future__ import annotations

import re
from datetime import timedelta

from webapp.alerts.services import create_alert, resolve_target
from webapp.delivery.subscriptions import save_subscription
from webapp.delivery.worker import MIN_ATTEMPTS, deliver_due
from webapp.extensions import db
from webapp.platform.timeutil import utcnow
from webapp.wards.services import get_ward
from tests.alerts.test_alerts import alert_input

A = "E05013806"


def test_stats_show_retrying_push_and_dead_email(app, client, login, make_staff, make_resident,
                                                 mail, push_service):
    officer = make_staff("officer", wards=[A])
    resident = make_resident(A)
    agent = push_service.agent()
    save_subscription(resident, agent.subscription)
    db.session.commit()
    push_service.respond(agent, 503)
    mail.refuse = True
    alert = create_alert(officer, alert_input(resolve_target(officer, "wards", [get_ward(A).id])))
    db.session.commit()
    now = utcnow()
    deliver_due(now=now)  # both fail once: retrying
    login(client, officer)

    def cell(channel, state):
        html = client.get(f"/officer/alerts/{alert.id}").get_data(as_text=True)
        return int(re.search(rf'data-channel="{channel}" data-state="{state}">(\d+)<', html).group(1))

    assert cell("email", "retrying") == 1 and cell("push", "retrying") == 1
    for _ in range(MIN_ATTEMPTS):
        now += timedelta(days=1)
        deliver_due(now=now)
    assert cell("email", "dead") == 1 and cell("push", "dead") == 1
    assert cell("email", "retrying") == 0 and cell("email", "sent") == 0
    mail.refuse = False
