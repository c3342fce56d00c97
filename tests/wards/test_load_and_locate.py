"""Loading London's wards, and finding a ward by name or by location."""
import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.wards.models import Borough, Ward, WardNeighbour
from webapp.wards.services import get_ward, load_wards, search_wards, suggest_ward


def test_all_704_wards_and_33_boroughs_load(app):
    assert db.session.scalar(select(func.count()).select_from(Ward)) == 704
    assert db.session.scalar(select(func.count()).select_from(Borough)) == 33
    lambeth = db.session.scalar(select(Borough).where(Borough.name == "Lambeth"))
    assert len(lambeth.wards) == 25


def test_load_is_idempotent(app, runner):
    before = db.session.scalar(select(func.count()).select_from(WardNeighbour))
    result = runner.invoke(args=["wards", "load"])
    assert result.exit_code == 0, result.output
    assert "704 wards" in result.output
    assert db.session.scalar(select(func.count()).select_from(Ward)) == 704
    assert db.session.scalar(select(func.count()).select_from(WardNeighbour)) == before


def test_ward_has_outline_and_neighbours(app):
    ward = get_ward("E05014104")
    assert ward.name == "Herne Hill & Loughborough Junction"
    assert ward.svg_path.startswith("M") and ward.svg_path.endswith("Z")
    names = {n.name for n in ward.neighbours}
    assert len(names) >= 3
    assert all(n.id != ward.id for n in ward.neighbours)


def test_trafalgar_square_suggests_st_jamess(app):
    suggestion, ward = suggest_ward(51.5080, -0.1281)
    assert suggestion.exact and ward.code == "E05013806" and ward.name == "St James's"
    assert ward.borough.name == "Westminster"


def test_mid_thames_suggests_nearest_ward(app):
    suggestion, ward = suggest_ward(51.5008, -0.1218)
    assert not suggestion.exact and not suggestion.outside_london
    assert ward.code == "E05013806"
    assert 50 < suggestion.distance_m < 200


@pytest.mark.parametrize("lat, lon", [(52.2053, 0.1218), (48.8566, 2.3522), (51.75, -0.1),
                                      (float("nan"), 0.0)])
def test_points_outside_london_have_no_ward(app, lat, lon):
    suggestion, ward = suggest_ward(lat, lon)
    assert suggestion.outside_london and ward is None


@pytest.mark.parametrize("query, expected", [
    ("herne", "Herne Hill & Loughborough Junction"),
    ("HERNE hill", "Herne Hill & Loughborough Junction"),
    ("james", "St James's"),
    ("vauxh", "Vauxhall"),
])
def test_search_by_partial_ward_name(app, query, expected):
    assert expected in [w.name for w in search_wards(query)]


def test_search_by_borough_name_lists_its_wards(app):
    names = {w.borough.name for w in search_wards("lambeth")}
    assert names == {"Lambeth"}


@pytest.mark.parametrize("query", ["", "a", "%", "_", "'; DROP TABLE wards; --", "x" * 500])
def test_search_odd_input_is_harmless(app, query):
    search_wards(query)  # no exception
    assert db.session.scalar(select(func.count()).select_from(Ward)) == 704


def test_reload_from_file_updates_names(app, tmp_path):
    import json
    from webapp.wards.services import DATA_FILE
    data = json.loads(DATA_FILE.read_text())
    data["features"][0]["properties"]["ward_name"] = "Renamed"
    path = tmp_path / "w.geojson"
    path.write_text(json.dumps(data))
    try:
        load_wards(path)
        assert get_ward(data["features"][0]["properties"]["ward_code"]).name == "Renamed"
    finally:
        load_wards()


def test_every_process_sees_reloaded_wards_without_a_restart(app, monkeypatch):
    """The boroughs and the locator are kept per process, and read again once the wards'
    tables changed anywhere (here: a commit not followed by this process's reset), checked
    at most every REFERENCE_CHECK_SECONDS."""
    from webapp.wards import services
    monkeypatch.setattr(services, "REFERENCE_CHECK_SECONDS", 0.0)
    with app.test_request_context():
        assert "Westminster" in [b.name for b in services.list_boroughs()]
        tree = services.locator()
    with app.test_request_context():
        assert services.locator() is tree  # nothing changed: not rebuilt
    westminster = db.session.scalar(select(Borough).where(Borough.name == "Westminster"))
    ward = get_ward("E05013806")
    try:
        westminster.name = "City of Westminster"
        ward.name = "St James's Park"
        db.session.commit()
        monkeypatch.setattr(services, "REFERENCE_CHECK_SECONDS", 3600.0)
        with app.test_request_context():  # not checked again yet: the old list
            assert "Westminster" in [b.name for b in services.list_boroughs()]
        monkeypatch.setattr(services, "REFERENCE_CHECK_SECONDS", 0.0)
        with app.test_request_context():
            names = [b.name for b in services.list_boroughs()]
            assert "City of Westminster" in names and "Westminster" not in names
            assert services.locator() is not tree
    finally:
        westminster.name, ward.name = "Westminster", "St James's"
        db.session.commit()
