"""The survey: three steps, each saved as it goes, resumable, with errors next to fields."""
import pytest
from sqlalchemy import func, select

from tests.accounts.helpers import sign_up_and_confirm
from webapp.accounts.models import Concern, User, UserCategory
from webapp.extensions import db


@pytest.fixture
def newcomer(client, mail):
    """A confirmed resident, signed in through the link, who has not answered anything."""
    sign_up_and_confirm(client, mail, email="new@example.org", name="New")
    return db.session.scalar(select(User).where(User.email == "new@example.org"))


def _concerns():
    return list(db.session.scalars(select(Concern).order_by(Concern.topic)))


def test_visitors_are_sent_to_sign_in_and_staff_refused(client, make_staff, login):
    response = client.get("/survey")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    login(client, make_staff("officer", wards=["E05013806"]))
    assert client.get("/survey").status_code == 403
    assert client.post("/survey", data={"step": "1"}).status_code == 403


def test_survey_without_a_ward_is_refused(client, newcomer, htmx_headers):
    response = client.post("/survey", data={"step": "1"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Choose the ward where you live." in body and "Step 1 of 3" in body
    response = client.post("/survey", data={"step": "1", "home_ward": "E09999999"})
    assert response.status_code == 422 and "Choose a ward from the list." in \
        response.get_data(as_text=True)
    response = client.post("/survey", data={"step": "1"}, headers=htmx_headers)
    assert response.status_code == 422 and "<html" not in response.get_data(as_text=True)
    # and no later step can be reached or saved without one
    response = client.post("/survey", data={"step": "3", "concerns": ["asb"]})
    assert response.status_code == 422
    assert "Choose the ward where you live." in response.get_data(as_text=True)
    assert client.get("/survey?step=3").get_data(as_text=True).count("Step 1 of 3") == 1
    db.session.refresh(newcomer)
    assert newcomer.home_ward is None and newcomer.survey_step == 1 and _concerns() == []


def test_step_one_as_a_single_plain_form(client, newcomer):
    response = client.post("/survey", data={"step": "1", "home_ward": "e05014117",
                                            "extra_wards": ["E05013806", "E05014104"]})
    assert response.status_code == 303
    db.session.refresh(newcomer)
    assert [w.code for w in newcomer.ward_list] == ["E05014117", "E05013806", "E05014104"]
    response = client.post("/survey?step=1", data={
        "step": "1", "home_ward": "E05014117", "extra_wards": ["E05013806", "E05014104",
                                                              "E05014105"]})
    assert response.status_code == 422
    assert "at most 2 more wards" in response.get_data(as_text=True)


def test_up_to_two_more_wards_from_the_finder(client, newcomer, htmx_headers):
    pick = lambda code, role: client.post("/survey/ward?next=survey",  # noqa: E731
                                          data={"ward": code, "role": role},
                                          headers=htmx_headers)
    assert pick("E05013806", "home").status_code == 200
    assert pick("E05014104", "extra").status_code == 200
    assert pick("E05014117", "extra").status_code == 200
    response = pick("E05014105", "extra")
    assert response.status_code == 422
    assert "2 wards besides your own, the most you can" in response.get_data(as_text=True)
    assert pick("E05013806", "extra").status_code == 422  # already followed
    assert pick("NOPE", "home").status_code == 422
    db.session.refresh(newcomer)
    assert [w.code for w in newcomer.ward_list] == ["E05013806", "E05014104", "E05014117"]
    # an extra ward chosen as home becomes the home ward; the old home is dropped
    pick("E05014117", "home")
    db.session.refresh(newcomer)
    assert [w.code for w in newcomer.ward_list] == ["E05014117", "E05014104"]
    response = client.post("/survey/ward/remove?next=survey", data={"ward": "E05014104"},
                           headers=htmx_headers)
    assert response.status_code == 200 and "Remove" not in response.get_data(as_text=True)
    db.session.refresh(newcomer)
    assert [w.code for w in newcomer.ward_list] == ["E05014117"]


def test_more_than_three_concerns_refused(client, make_resident, login):
    user = make_resident(completed=False)
    user.survey_step = 3
    db.session.commit()
    login(client, user)
    response = client.post("/survey", data={"step": "3", "concerns": ["asb", "drugs", "fraud",
                                                                      "other"],
                                            "other_text": "Fly-tipping on Cleaver Sq"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Choose up to 3 topics." in body and 'class="error"' in body
    assert "Fly-tipping on Cleaver Sq" in body  # the resident's words are kept
    assert body.count('checked') == 4  # and so are the ticks
    assert _concerns() == []
    db.session.refresh(user)
    assert user.survey_completed_at is None


def test_free_text_over_280_characters_refused(client, make_resident, login):
    user = make_resident(completed=False)
    user.survey_step = 3
    db.session.commit()
    login(client, user)
    long_text = "a" * 281
    response = client.post("/survey", data={"step": "3", "concerns": ["other"],
                                            "other_text": long_text})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "at most 280 characters (you used 281)" in body and long_text in body
    assert 'maxlength="280"' in body
    assert _concerns() == []
    response = client.post("/survey", data={"step": "3", "concerns": ["other"],
                                            "other_text": "a" * 280})
    assert response.status_code == 303
    assert [(c.topic, len(c.text)) for c in _concerns()] == [("other", 280)]


def test_other_needs_words_and_words_need_other(client, make_resident, login):
    user = make_resident(completed=False)
    user.survey_step = 3
    db.session.commit()
    login(client, user)
    response = client.post("/survey", data={"step": "3", "concerns": ["other"]})
    assert response.status_code == 422 and "Tell us what else" in response.get_data(as_text=True)
    response = client.post("/survey", data={"step": "3", "concerns": ["asb"],
                                            "other_text": "words"})
    assert response.status_code == 422 and "Something else" in response.get_data(as_text=True)
    response = client.post("/survey", data={"step": "3", "concerns": ["nonsense"]})
    assert response.status_code == 422
    assert _concerns() == []


def test_survey_concerns_are_for_the_home_ward_with_respondent_key(client, newcomer):
    client.post("/survey", data={"step": "1", "home_ward": "E05014104"})
    client.post("/survey", data={"step": "2", "categories": ["events"], "email_frequency": "digest"})
    client.post("/survey", data={"step": "3", "concerns": ["asb", "other"],
                                 "other_text": "Speeding on Railton Road"})
    rows = _concerns()
    assert {(c.topic, c.ward.code, c.source, c.respondent_key, c.user_id) for c in rows} == {
        ("asb", "E05014104", "survey", newcomer.respondent_key, newcomer.id),
        ("other", "E05014104", "survey", newcomer.respondent_key, newcomer.id)}
    assert [c.text for c in rows if c.topic == "other"] == ["Speeding on Railton Road"]
    # moving home moves the survey concerns with it
    client.post("/survey/ward?next=settings", data={"ward": "E05014117", "role": "home"})
    assert {c.ward.code for c in _concerns()} == {"E05014117"}


def test_survey_is_resumable(client, newcomer):
    client.post("/survey", data={"step": "1", "home_ward": "E05013806",
                                 "extra_wards": ["E05014104"]})
    response = client.post("/survey", data={"step": "2", "categories": ["events", "outcomes"],
                                            "email_frequency": "digest"})
    assert response.headers["Location"] == "/survey?step=3"
    # they leave halfway; coming back, the start page and the survey resume at step 3
    db.session.refresh(newcomer)
    assert newcomer.survey_step == 3 and newcomer.survey_completed_at is None
    assert client.get("/").headers["Location"] == "/survey"
    page = client.get("/survey").get_data(as_text=True)
    assert "Step 3 of 3" in page
    # going back to step 2 shows the answers kept
    page = client.get("/survey?step=2").get_data(as_text=True)
    assert _is_checked(page, "events") and _is_checked(page, "outcomes")
    assert not _is_checked(page, "prevention") and _is_checked(page, "digest")
    page = client.get("/survey?step=1").get_data(as_text=True)
    assert "St James" in page and "Herne Hill" in page
    assert db.session.scalar(select(func.count()).select_from(UserCategory)) == 2


def test_cannot_skip_ahead(client, newcomer):
    page = client.get("/survey?step=3").get_data(as_text=True)
    assert "Step 1 of 3" in page
    client.post("/survey", data={"step": "2", "categories": ["events"], "email_frequency": "digest"})
    db.session.refresh(newcomer)
    assert newcomer.survey_step == 1


def test_completed_survey_sends_to_settings(client, make_resident, login):
    login(client, make_resident())
    response = client.get("/survey")
    assert response.status_code == 302 and response.headers["Location"] == "/settings"


def _is_checked(page: str, value: str) -> bool:
    import re
    return any("checked" in tag for tag in re.findall(rf'<input[^>]*value="{value}"[^>]*>', page))


def test_how_step_names_every_channel_and_the_last_step_has_the_push_switch(client, make_resident,
                                                                          login):
    login(client, make_resident(completed=False))
    client.post("/survey", data={"step": "1", "home_ward": "E05013806"})
    step2 = client.get("/survey?step=2").get_data(as_text=True)
    for value in ("prevention", "events", "appeals", "outcomes", "immediate", "digest"):
        assert f'value="{value}"' in step2
    assert "Turn on notifications on this device" in step2 and "at the end of this survey" in step2
    client.post("/survey", data={"step": "2", "categories": ["events"], "email_frequency": "digest"})
    step3 = client.get("/survey?step=3").get_data(as_text=True)
    assert "data-push-control" in step3 and "data-vapid-key=" in step3
    # without JavaScript the switch says so honestly instead of doing nothing
    assert "Notifications need JavaScript" in step3
