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
    assert "Stop this ward" in page and "Vauxhall" in page and "You will stop following it" in page
    assert "Email less often" in page and "Stop all emails" in page
    done = client.post(path + "/choose", data={"action": "category"})
    assert done.status_code == 200 and "no more of that kind" in done.get_data(as_text=True)
    db.session.expire_all()
    assert user.category_codes == {"prevention", "events", "outcomes"}
    assert user.email_frequency == "immediate"


def test_stop_following_a_ward_and_email_less_often(client, make_resident, mail):
    user = make_resident(extra_wards=("E05014117",))
    path = _alert_email_link(mail, user)
    bad = client.post(path + "/choose", data={"action": "ward", "ward": "E05000026"})  # not theirs
    assert bad.status_code == 422 and "Choose a ward to stop updates about" in bad.get_data(as_text=True)
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


def test_stop_updates_about_the_home_ward_keeps_it_and_settings_turns_them_on(
        client, make_resident, mail, login):
    from webapp.accounts.audience import residents_following
    from webapp.wards.services import get_ward

    user = make_resident(extra_wards=("E05014117",))  # lives in St James's, follows Vauxhall
    neighbour = make_resident()  # also St James's: unaffected
    home, extra = get_ward("E05013806"), get_ward("E05014117")

    def reached(ward):  # the user ids an "appeals" alert to ``ward`` is sent to
        return set(db.session.execute(residents_following([ward.id], "appeals")).scalars())

    path = _alert_email_link(mail, user)
    page = client.get(path).get_data(as_text=True)
    assert "St James" in page and "Where you live: it stays your ward" in page
    done = client.post(path + "/choose", data={"action": "ward", "ward": "E05013806"})
    text = done.get_data(as_text=True)
    assert done.status_code == 200 and "no more alerts or posts about St James" in text
    db.session.expire_all()
    assert user.home_ward.code == "E05013806"  # still where they live
    assert [w.code for w in user.ward_list] == ["E05013806", "E05014117"]
    assert user.id not in reached(home) and neighbour.id in reached(home)
    assert user.id in reached(extra)  # the other ward still reaches them
    # Once stopped, the home ward is no longer offered; the page says where to undo it.
    again = client.get(path).get_data(as_text=True)
    assert 'id="stop-ward-E05013806"' not in again and "Updates already stopped" in again
    assert client.post(path + "/choose", data={"action": "ward", "ward": "E05013806"}).status_code == 422

    # Settings shows it and turns it back on (with and without htmx).
    login(client, user)
    settings = client.get("/settings").get_data(as_text=True)
    assert "Updates about St James" in settings and "Turn them on" in settings
    response = client.post("/survey/ward/unmute?next=settings", data={"ward": "E05013806"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200 and "Turn them on" not in response.get_data(as_text=True)
    db.session.expire_all()
    assert user.id in reached(home)


def test_an_alert_to_a_stopped_home_ward_is_not_delivered(client, make_resident, mail):
    from webapp.accounts.services import mute_ward
    from webapp.alerts.services import audience_counts
    from webapp.wards.services import get_ward

    muted, other = make_resident(), make_resident()
    mute_ward(muted, "E05013806")
    db.session.commit()
    counts = audience_counts([get_ward("E05013806").id], "appeals", ["email"], urgent=False)
    assert counts.residents == 1 and counts.email_now == 1
    from webapp.accounts.data_rights import export_user_data
    assert export_user_data(muted)["wards"][0]["updates_stopped"] is True
    assert export_user_data(other)["wards"][0]["updates_stopped"] is False
