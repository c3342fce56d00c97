"""Issue 9, point 10: residents cannot call themselves "PC Jane Morgan".

Police ranks and titles (in any spelling: "P.C.", "sgt", full-width letters, accents) and
the names of our officers and admins are reserved for display names: sign-up and Settings
answer 422 with the message next to the name field, the text kept."""
from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from webapp.accounts.models import User
from webapp.accounts.services import RESERVED_NAME_MESSAGE, impersonates_police
from webapp.extensions import db

REFUSED = ["PC Jane Morgan", "pc jane", "P.C. Smith", "P C Smith", "Sgt Bloggs",
           "Sergeant Kwame", "Inspector Gadget", "ＰＣ Jones", "\u0420\u0421 Jones",
           "S\u0435rgeant Lee", "Détective Morse",
           "Police Scotland", "Your ward team", "Neighbourhood Team", "Officer Dibble",
           "PCSO Lee", "Wardline admin", "Jane Morgan", "jane  MORGAN"]
ALLOWED = ["Pat Cole", "Metcalfe", "Policarpo", "Serge", "Constance", "Jane", "Morgan Jones",
           "Spencer", "Adminah"]


@pytest.fixture
def jane(make_staff):
    return make_staff("officer", wards=["E05013806"], name="Jane Morgan")


@pytest.mark.parametrize("name", REFUSED)
def test_signup_refuses_ranks_titles_and_officers_names(client, jane, name):
    response = client.post("/signup", data={"email": "new@example.org", "display_name": name})
    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert RESERVED_NAME_MESSAGE in page
    assert f'value="{" ".join(name.split())}"' in page or f'value="{name}"' in page  # text kept
    assert db.session.scalar(select(User).where(User.email == "new@example.org")) is None


@pytest.mark.parametrize("name", ALLOWED)
def test_ordinary_names_are_fine(app, jane, name):
    assert not impersonates_police(name)


def test_settings_rename_is_refused_next_to_the_field(client, login, make_resident, jane,
                                                      htmx_headers):
    resident = make_resident(name="Ruth")
    login(client, resident)
    for headers in ({}, htmx_headers):
        response = client.post("/settings/name", data={"display_name": "PC Jane Morgan"},
                               headers=headers)
        assert response.status_code == 422
        page = html.unescape(response.get_data(as_text=True))
        assert RESERVED_NAME_MESSAGE in page and 'value="PC Jane Morgan"' in page
    db.session.expire_all()
    assert db.session.get(User, resident.id).display_name == "Ruth"
