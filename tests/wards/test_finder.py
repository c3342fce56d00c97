"""The ward finder over HTTP: name search, borough then ward, and "Use my location"."""
import re

import pytest


def test_search_by_partial_name_plain_page_without_js(client):
    page = client.get("/wards?q=herne").get_data(as_text=True)
    assert "<html" in page
    assert 'href="/wards/E05014104"' in page and "Herne Hill &amp; Loughborough Junction" in page
    # the search input is also an htmx active search
    assert 'hx-trigger="input changed delay:250ms, search"' in page
    assert 'hx-get="/wards/search"' in page


def test_search_by_partial_name_htmx_fragment(client, htmx_headers):
    response = client.get("/wards/search?q=vaux", headers=htmx_headers)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert 'href="/wards/E05014117"' in body and "Vauxhall" in body
    assert "HX-Request" in response.headers["Vary"]
    # without htmx the same URL is a whole page
    assert "<html" in client.get("/wards/search?q=vaux").get_data(as_text=True)


def test_search_by_borough_name_and_no_results(client, htmx_headers):
    body = client.get("/wards/search?q=lambeth", headers=htmx_headers).get_data(as_text=True)
    assert body.count('href="/wards/E0501') >= 20
    body = client.get("/wards/search?q=zzzz", headers=htmx_headers).get_data(as_text=True)
    assert "No ward or borough matches" in body
    assert client.get("/wards/search?q=" + "%" * 300, headers=htmx_headers).status_code == 200


def test_search_results_are_choices_in_the_survey(client, make_resident, login, htmx_headers):
    login(client, make_resident(completed=False))
    body = client.get("/wards/search?q=vauxhall&pick=survey", headers=htmx_headers) \
        .get_data(as_text=True)
    assert 'action="/survey/ward?next=survey"' in body
    assert 'name="role" value="home"' in body and 'name="role" value="extra"' in body
    assert 'name="csrf_token"' in body
    # an unknown pick mode falls back to links
    body = client.get("/wards/search?q=vauxhall&pick=evil", headers=htmx_headers) \
        .get_data(as_text=True)
    assert 'href="/wards/E05014117"' in body and "<form" not in body


def test_borough_then_ward(client, htmx_headers):
    page = client.get("/wards").get_data(as_text=True)
    assert '<select id="ward-borough" name="borough"' in page
    assert '<option value="E09000022">Lambeth</option>' in page
    page = client.get("/wards?borough=E09000022").get_data(as_text=True)
    assert "Wards in Lambeth" in page and 'href="/wards/E05014117"' in page
    body = client.get("/wards/borough?borough=E09000033", headers=htmx_headers) \
        .get_data(as_text=True)
    assert "<html" not in body and "St James" in body
    body = client.get("/wards/borough?borough=E09000033&pick=settings", headers=htmx_headers) \
        .get_data(as_text=True)
    assert '<select id="borough-ward" name="ward" required>' in body
    assert '<option value="E05013806">St James&#39;s</option>' in body
    body = client.get("/wards/borough?borough=NOPE", headers=htmx_headers).get_data(as_text=True)
    assert "know that borough" in body


def test_borough_then_ward_plain_form_in_the_survey(client, make_resident, login):
    user = make_resident(completed=False)
    login(client, user)
    page = client.get("/survey?step=1&borough=E09000022").get_data(as_text=True)
    assert '<select id="borough-ward" name="ward" required>' in page
    response = client.post("/survey/ward?next=survey", data={"ward": "E05014117",
                                                             "role": "extra"})
    assert response.status_code == 303 and response.headers["Location"] == "/survey?step=1"


def test_trafalgar_square_suggests_st_jamess(client, htmx_headers):
    response = client.get("/wards/locate?lat=51.5080&lon=-0.1281", headers=htmx_headers)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert "Your location is in <strong>St James&#39;s</strong>, Westminster" in body
    # the neighbours are offered too, since outlines are approximate
    assert "Choose a neighbouring ward instead" in body
    assert len(re.findall(r'href="/wards/E05\d{6}"', body)) >= 4


def test_trafalgar_square_in_the_survey_offers_confirm_and_neighbours(client, make_resident,
                                                                      login, htmx_headers):
    login(client, make_resident(completed=False))
    body = client.get("/wards/locate?lat=51.5080&lon=-0.1281&pick=survey",
                      headers=htmx_headers).get_data(as_text=True)
    assert body.count('action="/survey/ward?next=survey"') >= 4
    assert 'value="E05013806"' in body


def test_mid_thames_suggests_nearest_ward_with_a_note(client, htmx_headers):
    body = client.get("/wards/locate?lat=51.5008&lon=-0.1218", headers=htmx_headers) \
        .get_data(as_text=True)
    assert "not inside any ward" in body and "nearest ward is <strong>St James&#39;s</strong>" in body
    assert re.search(r"about \d+ metres away", body)


@pytest.mark.parametrize("lat, lon", [(52.2053, 0.1218), (48.8566, 2.3522)])
def test_location_outside_london_says_so(client, htmx_headers, lat, lon):
    response = client.get(f"/wards/locate?lat={lat}&lon={lon}", headers=htmx_headers)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "That location is outside London." in body
    assert "/wards/E05" not in body


@pytest.mark.parametrize("query", ["lat=abc&lon=0", "lat=nan&lon=nan", "lat=91&lon=0", "", "lat=1"])
def test_unreadable_location_is_422(client, htmx_headers, query):
    response = client.get(f"/wards/locate?{query}", headers=htmx_headers)
    assert response.status_code == 422
    assert "couldn&#39;t read that location" in response.get_data(as_text=True)


def test_locate_works_without_js_as_a_page(client):
    page = client.get("/wards/locate?lat=51.5080&lon=-0.1281").get_data(as_text=True)
    assert "<html" in page and "St James" in page


def test_use_my_location_button_is_hidden_until_js_shows_it(client):
    page = client.get("/wards").get_data(as_text=True)
    assert re.search(r'<div class="finder-locate" data-locate hidden>', page)
    assert 'data-locate-url="/wards/locate"' in page
    assert '/static/js/locate.js' in page
