"""Issue 13 point 19, the wording and finder items: no "map" without a map, the digest says
what it holds (email and the choice in the survey), no ward pre-selected in the borough
list, the "Show its wards" button only without JavaScript."""
from __future__ import annotations

import re
from datetime import timedelta

from webapp.delivery import notify
from webapp.delivery.digest import send_digests
from webapp.delivery.worker import deliver_due
from webapp.extensions import db
from webapp.delivery.models import Delivery
from tests.delivery.test_digest_unsubscribe import alert, at_london


def test_location_suggestion_speaks_of_no_map(client):
    html = client.get("/wards/locate?lat=51.4975&lon=-0.1357").get_data(as_text=True)
    assert "Your location is in" in html
    assert not re.search(r"\bmap\b", html, re.I)


def test_digest_email_and_choice_say_what_it_holds(app, make_resident, mail, client, login):
    user = make_resident(email_frequency="digest")
    day1 = at_london(2026, 6, 1, 12)
    for n in (1, 2):
        notify(user, alert(n))
    db.session.execute(Delivery.__table__.update().values(created_at=day1, next_attempt_at=day1))
    db.session.commit()
    seven = at_london(2026, 6, 2, 7, 0)
    assert send_digests(now=seven) == 1
    deliver_due(now=seven + timedelta(minutes=1))
    [message] = mail.wait_for(1)
    text = " ".join(message.get_body(("plain",)).get_content().split())
    assert "Your Wardline updates: 2 from the wards you follow" in text
    assert "alerts, ward news and meeting invitations" in text
    assert "Replies from your ward team and urgent alerts are not in here" in text
    login(client, user)
    settings = client.get("/settings").get_data(as_text=True)
    assert "alerts, ward news and meeting invitations (replies and urgent alerts still come at once)" in settings


def test_borough_list_preselects_no_ward_and_its_button_is_for_no_js(client, login, make_resident):
    login(client, make_resident(completed=False))
    html = client.get("/survey?step=1&borough=E09000033").get_data(as_text=True)
    select = html[html.index('<select id="borough-ward"'):]
    select = select[:select.index("</select>")]
    assert '<option value="">Choose your ward</option>' in select and "selected" not in select
    assert re.search(r'<button type="submit" class="secondary" data-no-js-only>Show its wards</button>', html)
    # Sending the list without choosing a ward is answered next to it, not saved.
    response = client.post("/survey/ward?next=survey", data={"ward": "", "role": "home"})
    assert response.status_code == 422 and "Choose a ward from the list." in response.get_data(as_text=True)
