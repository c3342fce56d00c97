"""Issue 13 point 7: survey step 3 offers notifications before "Finish"; the ward home asks
again until the resident answers (turns them on anywhere, or "No thanks", remembered on the
server for every device). Point 19: "Check your email" once; no promise about the device."""
from __future__ import annotations

from webapp.delivery.models import PushSubscription
from webapp.extensions import db

ST_JAMES = "E05013806"


def test_survey_step_3_offers_notifications_before_finish(client, login, make_resident):
    resident = make_resident(completed=False)
    resident.survey_step = 3
    db.session.commit()
    login(client, resident)
    html = client.get("/survey?step=3").get_data(as_text=True)
    assert html.index("Turn on notifications on this device") < html.index(">Finish</button>")


def test_ward_home_asks_until_answered_and_remembers_no_thanks(client, app, login, make_resident):
    resident = make_resident()
    login(client, resident)
    html = client.get(f"/wards/{ST_JAMES}").get_data(as_text=True)
    assert 'id="push-prompt"' in html and "No thanks, don't ask again" in html
    assert 'id="push-prompt"' in client.get(f"/wards/{ST_JAMES}").get_data(as_text=True)
    response = client.post("/push/prompt", data={"next": f"/wards/{ST_JAMES}"})
    assert response.status_code == 303 and response.headers["Location"] == f"/wards/{ST_JAMES}"
    db.session.expire_all()
    assert resident.push_prompt_answered_at is not None
    html = client.get(f"/wards/{ST_JAMES}").get_data(as_text=True)
    assert 'id="push-prompt"' not in html and "We won&#39;t ask again" in html
    # Remembered on the server: another browser of the same resident is not asked either.
    other = app.test_client()
    login(other, resident)
    assert 'id="push-prompt"' not in other.get(f"/wards/{ST_JAMES}").get_data(as_text=True)
    # Settings still offers the control.
    assert "Turn on notifications on this device" in client.get("/settings").get_data(as_text=True)


def test_a_resident_with_notifications_on_is_not_asked(client, login, make_resident, htmx_headers):
    resident = make_resident()
    db.session.add(PushSubscription(user_id=resident.id, endpoint="https://push.example.org/x",
                                    p256dh="p" * 87, auth="a" * 22))
    db.session.commit()
    login(client, resident)
    assert 'id="push-prompt"' not in client.get(f"/wards/{ST_JAMES}").get_data(as_text=True)


def test_no_thanks_with_htmx_swaps_the_prompt_and_visitors_are_not_asked(client, login, make_resident,
                                                                         htmx_headers):
    assert 'id="push-prompt"' not in client.get(f"/wards/{ST_JAMES}").get_data(as_text=True)
    login(client, make_resident())
    response = client.post("/push/prompt", headers=htmx_headers)
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith('<div id="push-prompt">')


def test_check_your_email_once_and_no_device_promise(client):
    html = client.post("/login", data={"email": "someone@example.org"}, follow_redirects=True).get_data(as_text=True)
    assert html.count("Check your email") == 2  # the <title> and the <h1>
    assert "on this device" not in html and "signed in on the device where you open it" in html


def test_whether_to_ask_is_loaded_with_the_resident(app, login, make_resident):
    """Whether the resident has turned notifications on anywhere comes with the signed-in
    user's own statement: the ward home runs none of its own for it."""
    from tests.support.queries import QueryGuard
    asked, subscribed = make_resident(), make_resident()
    db.session.add(PushSubscription(user_id=subscribed.id, endpoint="https://push.example.org/y",
                                    p256dh="p" * 87, auth="a" * 22))
    db.session.commit()
    browsers = []
    for resident in (asked, subscribed):
        browsers.append(app.test_client())
        login(browsers[-1], resident)
    for browser, prompt in zip(browsers, (True, False), strict=True):
        with QueryGuard(app) as guard:
            db.session.remove()
            html = browser.get(f"/wards/{ST_JAMES}").get_data(as_text=True)
        assert ('id="push-prompt"' in html) is prompt
        assert not [s for s in guard.statements if s.lstrip().startswith("SELECT push_subscriptions")]
