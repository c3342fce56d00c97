"""A ward's public home page: names, outline, neighbours, and the concerns chart."""
import re

from webapp.accounts.models import Concern
from webapp.extensions import db
from webapp.wards.services import get_ward


def test_ward_home_shows_names_outline_and_neighbours(client):
    response = client.get("/wards/E05014104")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<h1>Herne Hill &amp; Loughborough Junction</h1>" in page and "Lambeth" in page
    svg = re.search(r'<svg class="ward-outline"[^>]*>', page).group(0)
    assert 'role="img"' in svg and f'viewBox="{get_ward("E05014104").svg_viewbox}"' in svg
    assert "<title id=\"ward-outline-title\">Outline of Herne Hill" in page
    assert f'd="{get_ward("E05014104").svg_path}"' in page
    for neighbour in get_ward("E05014104").neighbours:
        assert f'href="/wards/{neighbour.code}"' in page
    # nothing for features that do not exist
    assert "coming soon" not in page.lower()


def test_a_cached_ward_home_does_not_load_the_neighbours_again(app, client):
    """The neighbours are read only when the cached sections are rendered again."""
    from sqlalchemy import event

    from webapp.platform import pagestore
    seen = []

    def note(conn, cursor, statement, *args):
        seen.append(statement)
    client.get("/wards/E05014104")
    pagestore.clear()  # the page is rendered again (its sections from the page cache)
    event.listen(db.engine, "before_cursor_execute", note)
    try:
        page = client.get("/wards/E05014104").get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert "Neighbouring wards" in page
    assert seen and not any("ward_neighbours" in s for s in seen)


def test_unknown_ward_is_404_and_lower_case_code_redirects(client):
    assert client.get("/wards/E05999999").status_code == 404
    assert client.get("/wards/" + "x" * 50).status_code == 404
    response = client.get("/wards/e05014104")
    assert response.status_code == 301 and response.headers["Location"] == "/wards/E05014104"


def _answer(ward_code, respondent, topics):
    ward = get_ward(ward_code)
    for topic in topics:
        db.session.add(Concern(respondent_key=respondent, ward_id=ward.id, topic=topic))
    db.session.commit()


def test_concerns_chart_hidden_below_five_respondents_and_shown_at_five(client, make_resident):
    for _n in range(4):
        make_resident("E05013806", concerns=("asb", "phone_theft", "visibility"))
    # answers for another ward do not count here
    for _n in range(3):
        make_resident("E05014117", concerns=("asb",))
    page = client.get("/wards/E05013806").get_data(as_text=True)
    assert "What residents here care about most" in page
    assert "will appear once at least five residents" in page
    assert '<svg class="chart"' not in page

    make_resident("E05013806", concerns=("asb", "drugs"))
    page = client.get("/wards/E05013806").get_data(as_text=True)
    assert "will appear once" not in page
    chart = re.search(r'<svg class="chart".*?</svg>', page, re.S).group(0)
    assert 'role="img"' in chart
    assert "Antisocial behaviour: 5 residents" in chart
    assert "Phone theft and robbery: 4 residents" in chart and "Drugs: 1 resident." in chart
    assert "5 residents answered" in page
    # bars are drawn in proportion, longest first
    widths = [float(w) for w in re.findall(r'<rect class="bar"[^>]*width="([\d.]+)"', chart)]
    assert widths == sorted(widths, reverse=True) and widths[0] == 300.0


def test_chart_counts_distinct_respondents_including_anonymous_ones(client):
    for n in range(4):
        _answer("E05014117", f"key{n}", ["burglary"])
    _answer("E05014117", "key0", ["drugs"])  # same person, another topic: still 4 people
    assert "will appear once" in client.get("/wards/E05014117").get_data(as_text=True)
    _answer("E05014117", "gone", ["burglary"])  # a deleted account's anonymous answer
    page = client.get("/wards/E05014117").get_data(as_text=True)
    assert "Burglary: 5 residents" in page


def test_signed_in_resident_start_page_is_their_ward(client, make_resident, login):
    login(client, make_resident("E05014117"))
    response = client.get("/")
    assert response.headers["Location"] == "/wards/E05014117"
    assert "Your ward" in client.get("/wards/E05014117").get_data(as_text=True)


def test_visitors_are_offered_sign_up(client):
    page = client.get("/wards/E05014117").get_data(as_text=True)
    assert 'href="/signup"' in page
