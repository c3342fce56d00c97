"""Issue 13 point 6: "Follow this ward" on a ward the resident does not follow (home + at
most two more, said plainly), and the home ward page links to the other wards followed."""
from __future__ import annotations

from webapp.extensions import db

ST_JAMES, ABBEY_ROAD, ALDERSGATE, WEST_END = "E05013806", "E05013792", "E05009288", "E05013807"


def _codes(user):
    db.session.expire_all()
    return [w.code for w in user.ward_list]


def test_follow_and_unfollow_from_the_ward_page(client, login, make_resident, htmx_headers):
    resident = make_resident(ST_JAMES)
    login(client, resident)
    page = client.get(f"/wards/{ABBEY_ROAD}").get_data(as_text=True)
    assert "Follow this ward" in page and "you can follow 2 more wards (at most 2)" in page
    response = client.post(f"/wards/{ABBEY_ROAD}/follow")
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/wards/{ABBEY_ROAD}")
    assert _codes(resident) == [ST_JAMES, ABBEY_ROAD]
    page = client.get(f"/wards/{ABBEY_ROAD}").get_data(as_text=True)
    assert "You now follow Abbey Road" in page and "Stop following" in page
    # The home ward page links to the other wards followed.
    home = client.get(f"/wards/{ST_JAMES}").get_data(as_text=True)
    assert "You also follow:" in home and f'href="/wards/{ABBEY_ROAD}"' in home
    # htmx: the panel swaps in place.
    swapped = client.post(f"/wards/{ABBEY_ROAD}/unfollow", headers=htmx_headers)
    html = swapped.get_data(as_text=True)
    assert swapped.status_code == 200 and html.lstrip().startswith('<div id="follow-ward"')
    assert "You no longer follow Abbey Road" in html and "Follow this ward" in html
    assert _codes(resident) == [ST_JAMES]


def test_a_third_extra_ward_is_refused_with_clear_words(client, login, make_resident, htmx_headers):
    resident = make_resident(ST_JAMES, extra_wards=(ABBEY_ROAD, WEST_END))
    login(client, resident)
    page = client.get(f"/wards/{ALDERSGATE}").get_data(as_text=True)
    assert "Follow this ward" not in page
    assert "You already follow 2 wards besides your own" in page
    response = client.post(f"/wards/{ALDERSGATE}/follow", headers=htmx_headers)
    assert response.status_code == 422
    assert "the most you can. Stop following one of them first." in response.get_data(as_text=True)
    assert _codes(resident) == [ST_JAMES, ABBEY_ROAD, WEST_END]


def test_only_residents_follow_and_visitors_are_sent_to_sign_in(client, make_staff, login):
    assert client.post(f"/wards/{ABBEY_ROAD}/follow").status_code in (302, 303)
    login(client, make_staff("officer", wards=[ST_JAMES]))
    assert client.post(f"/wards/{ABBEY_ROAD}/follow").status_code == 403
    assert client.post("/wards/NOPE/follow").status_code in (403, 404)
