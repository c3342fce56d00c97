"""The unsubscribe link's page offers stopping this kind of update, a ward, or
everything, and email frequency; RFC 8058 one-click still stops everything."""
from __future__ import annotations

import re

from webapp.delivery import Event, notify
from webapp.delivery.worker import deliver_due
from webapp.extensions import db

LINK = re.compile(r"<http://wardline\.test(/unsubscribe/[^>]+)>")


def _alert_email_link(mail, user, category="appeals"):
    notify(user, Event(kind="alert", source_type="alert", source_id=1, title="Witnesses wanted",
                       body="Did you see it?", url="/alerts/1", category=category))
    db.session.commit()
    deliver_due()
    msg = mail.wait_for(1)[-1]
    return LINK.search(msg["List-Unsubscribe"]).group(1)


def test_stop_only_this_kind_of_update(client, make_resident, mail):
    user = make_resident(extra_wards=("E05014117",))
    path = _alert_email_link(mail, user)
    page = client.get(path).get_data(as_text=True)
    assert "Stop &ldquo;Incident updates and appeals for information&rdquo;" in page
    assert "Stop following this ward" in page and "Vauxhall" in page
    assert "Email less often" in page and "Stop all emails" in page
    done = client.post(path + "/choose", data={"action": "category"})
    assert done.status_code == 200 and "no more of that kind" in done.get_data(as_text=True)
    db.session.expire_all()
    assert user.category_codes == {"prevention", "events", "outcomes"}
    assert user.email_frequency == "immediate"


def test_stop_following_a_ward_and_email_less_often(client, make_resident, mail):
    user = make_resident(extra_wards=("E05014117",))
    path = _alert_email_link(mail, user)
    bad = client.post(path + "/choose", data={"action": "ward", "ward": "E05013806"})
    assert bad.status_code == 422 and "Choose a ward to stop following" in bad.get_data(as_text=True)
    done = client.post(path + "/choose", data={"action": "ward", "ward": "E05014117"})
    assert done.status_code == 200 and "no longer follow" in done.get_data(as_text=True)
    db.session.expire_all()
    assert [w.code for w in user.ward_list] == ["E05013806"]
    done = client.post(path + "/choose", data={"action": "frequency", "email_frequency": "digest"})
    assert done.status_code == 200 and "one email a day" in done.get_data(as_text=True)
    db.session.expire_all()
    assert user.email_frequency == "digest"
    assert client.post(path + "/choose", data={"action": "frequency",
                                               "email_frequency": "hourly"}).status_code == 422
    # Without our CSRF token the finer choices are refused (only one-click is exempt).
    assert client.post(path + "/choose", data={"action": "category"}, csrf=False).status_code in (400, 422)
    db.session.expire_all()
    assert "appeals" in user.category_codes


def test_one_click_still_stops_everything(client, make_resident, mail):
    user = make_resident()
    path = _alert_email_link(mail, user)
    response = client.post(path, data={"List-Unsubscribe": "One-Click"}, csrf=False)
    assert response.status_code == 204
    db.session.expire_all()
    assert user.email_frequency == "off"
    assert user.category_codes == {"prevention", "events", "appeals", "outcomes"}
