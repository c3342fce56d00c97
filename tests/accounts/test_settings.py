"""Settings: change every answer; download my data; delete my account."""
import json

import pytest
from sqlalchemy import func, select

from webapp.accounts import services
from webapp.accounts.models import Concern, User, UserCategory, UserWard
from webapp.extensions import db
from webapp.accounts.ward_chart import concern_counts
from webapp.wards.services import get_ward
from webapp.platform import account_data


@pytest.fixture
def resident(client, make_resident, login):
    user = make_resident("E05013806", email_address="ruth@example.org", name="Ruth",
                         extra_wards=("E05014104",), categories=("events",),
                         concerns=("asb", "burglary"))
    login(client, user)
    return user


def test_settings_needs_a_resident(client, make_staff, login):
    assert client.get("/settings").headers["Location"].startswith("/login")
    login(client, make_staff("admin"))
    assert client.get("/settings").status_code == 403
    assert client.get("/settings/export").status_code == 403


def test_settings_shows_every_answer(client, resident):
    page = client.get("/settings").get_data(as_text=True)
    assert "ruth@example.org" in page and 'value="Ruth"' in page
    assert "St James" in page and "Herne Hill" in page
    for section in ("Your name", "Your wards", "Which updates", "What matters most",
                    "Download my data", "Delete my account"):
        assert section in page
    assert 'hx-post="/survey/ward?next=settings"' not in page  # finder appears on search only
    page = client.get("/settings?q=vaux").get_data(as_text=True)
    assert 'action="/survey/ward?next=settings"' in page and "Vauxhall" in page


def test_change_every_answer_plain(client, resident):
    assert client.post("/settings/name", data={"display_name": "Ruthie"}).status_code == 303
    assert client.post("/survey/ward?next=settings",
                       data={"ward": "E05014117", "role": "extra"}).headers["Location"] == \
        "/settings#wards"
    client.post("/survey/ward/remove?next=settings", data={"ward": "E05014104"})
    client.post("/survey/ward?next=settings", data={"ward": "E05014104", "role": "home"})
    assert client.post("/settings/updates", data={"categories": ["appeals", "outcomes"],
                                                  "email_frequency": "off"}).status_code == 303
    assert client.post("/settings/concerns", data={"concerns": ["vawg"]}).status_code == 303
    db.session.refresh(resident)
    assert resident.display_name == "Ruthie"
    assert [w.code for w in resident.ward_list] == ["E05014104", "E05014117"]
    assert resident.category_codes == {"appeals", "outcomes"}
    assert resident.email_frequency == "off"
    assert [(c.topic, c.ward.code) for c in services.survey_concerns(resident)] == \
        [("vawg", "E05014104")]


def test_change_answers_with_htmx_fragments_and_errors(client, resident, htmx_headers):
    response = client.post("/settings/name", data={"display_name": ""}, headers=htmx_headers)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "<html" not in body and "Enter the name" in body
    response = client.post("/settings/name", data={"display_name": "R"}, headers=htmx_headers)
    assert response.status_code == 200 and "Saved." in response.get_data(as_text=True)
    response = client.post("/settings/concerns", data={"concerns": ["asb", "drugs", "fraud",
                                                                    "youth"]},
                           headers=htmx_headers)
    assert response.status_code == 422 and "Choose up to 3" in response.get_data(as_text=True)
    assert {c.topic for c in services.survey_concerns(resident)} == {"asb", "burglary"}
    response = client.post("/settings/updates", data={"email_frequency": "hourly"},
                           headers=htmx_headers)
    assert response.status_code == 422
    response = client.post("/settings/updates", data={"categories": ["events"],
                                                      "email_frequency": "digest"},
                           headers=htmx_headers)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and "Saved." in body


def test_export_contains_the_users_answers(client, resident):
    client.post("/settings/concerns", data={"concerns": ["asb", "other"],
                                            "other_text": "Broken street lights"})
    account_data.EXPORTERS.append(lambda user: ("messages", [{"by": user.display_name}]))
    try:
        response = client.get("/settings/export")
    finally:
        account_data.EXPORTERS.pop()
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data(as_text=True))
    assert data["account"]["email"] == "ruth@example.org"
    assert data["account"]["display_name"] == "Ruth"
    assert data["account"]["email_frequency"] == "immediate"
    assert [(w["code"], w["home"]) for w in data["wards"]] == [("E05013806", True),
                                                               ("E05014104", False)]
    assert [c["code"] for c in data["categories"]] == ["events"]
    assert {(c["topic"], c["text"], c["ward"]) for c in data["concerns"]} == {
        ("asb", None, "E05013806"), ("other", "Broken street lights", "E05013806")}
    assert data["messages"] == [{"by": "Ruth"}]


def test_delete_needs_confirmation_and_removes_personal_data(client, resident, make_resident):
    others = [make_resident("E05013806", concerns=("asb",)) for _ in range(4)]
    client.post("/settings/concerns", data={"concerns": ["asb", "other"],
                                            "other_text": "My neighbour at no. 4"})
    ward = get_ward("E05013806")
    before = concern_counts(ward)
    assert before[0] == 5
    called = []
    account_data.DELETERS.append(lambda user: called.append(user.email))

    try:
        page = client.get("/settings/delete")
        assert page.status_code == 200 and "Yes, delete my account" in page.get_data(as_text=True)
        assert db.session.get(User, resident.id) is not None  # a GET deletes nothing
        assert client.post("/settings/delete", csrf=False).status_code == 400
        response = client.post("/settings/delete")
    finally:
        account_data.DELETERS.pop()
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert called == ["ruth@example.org"]
    db.session.expire_all()
    user_id = resident.id
    assert db.session.scalar(select(User).where(User.email == "ruth@example.org")) is None
    assert db.session.scalar(select(func.count()).select_from(UserWard)
                             .where(UserWard.user_id == user_id)) == 0
    assert db.session.scalar(select(func.count()).select_from(UserCategory)
                             .where(UserCategory.user_id == user_id)) == 0
    # the answers no longer belong to anyone and the words are gone...
    assert db.session.scalar(select(func.count()).select_from(Concern)
                             .where(Concern.user_id == user_id)) == 0
    assert db.session.scalar(select(func.count()).select_from(Concern)
                             .where(Concern.text.is_not(None))) == 0
    # ...but the ward's anonymous counts are unchanged
    assert concern_counts(ward) == before
    assert "What residents here care about most" in client.get("/wards/E05013806").get_data(
        as_text=True)
    # and they are signed out
    assert client.get("/settings").headers["Location"].startswith("/login")
    assert len(others) == 4
