"""Survey step 2 and Settings start with every update ticked, and say plainly when the
choices mean the resident will hear nothing."""
import re

from webapp.platform.taxonomy import CATEGORIES

WARNING = "you will get no updates at all"


def _ticked(page: str) -> set[str]:
    return set(re.findall(r'name="categories"[^>]*value="([a-z]+)"[^>]*checked', page)) | \
        set(re.findall(r'checked[^>]*name="categories"[^>]*value="([a-z]+)"', page))


def _at_step_2(client, make_resident, login):
    user = make_resident(completed=False, categories=())
    user.survey_step = 2
    from webapp.extensions import db
    db.session.commit()
    login(client, user)
    return user


def test_step_2_starts_with_every_category_ticked(client, make_resident, login):
    _at_step_2(client, make_resident, login)
    page = client.get("/survey?step=2").get_data(as_text=True)
    assert _ticked(page) == set(CATEGORIES)
    assert WARNING not in page


def test_step_2_asks_before_saving_a_choice_of_nothing(client, make_resident, login):
    user = _at_step_2(client, make_resident, login)
    response = client.post("/survey", data={"step": "2", "email_frequency": "immediate"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and WARNING in page and "No kind of update is ticked" in page
    assert "Continue without updates" in page
    assert user.survey_step == 2  # not saved, not moved on
    # Email off and no device: nothing can reach them either.
    page = client.post("/survey", data={"step": "2", "categories": ["events"],
                                        "email_frequency": "off"}).get_data(as_text=True)
    assert "Email is off and notifications are not turned on" in page
    # Confirmed: saved, next step.
    response = client.post("/survey", data={"step": "2", "email_frequency": "immediate",
                                            "confirm_nothing": "no_category"})
    assert response.status_code == 303 and response.headers["Location"].endswith("step=3")
    assert user.category_codes == set()


def test_settings_warn_while_nothing_can_reach(client, make_resident, login, htmx_headers):
    user = make_resident()
    login(client, user)
    page = client.get("/settings").get_data(as_text=True)
    assert _ticked(page) == set(CATEGORIES) and WARNING not in page
    body = client.post("/settings/updates", data={"email_frequency": "digest"},
                       headers=htmx_headers).get_data(as_text=True)
    assert "Saved." in body and WARNING in body and "No kind of update is ticked" in body
    # Without JavaScript the page says it too, for as long as it is true.
    page = client.get("/settings").get_data(as_text=True)
    assert WARNING in page and _ticked(page) == set()
    body = client.post("/settings/updates", data={"categories": ["appeals"], "email_frequency": "off"},
                       headers=htmx_headers).get_data(as_text=True)
    assert "Email is off and notifications are not turned on" in body
    body = client.post("/settings/updates", data={"categories": ["appeals"], "email_frequency": "digest"},
                       headers=htmx_headers).get_data(as_text=True)
    assert WARNING not in body and "Saved." in body
