"""Postcode search: `flask postcodes load` with an ONSPD-format fixture, the finder's answers
(full postcode, boundary, outward code, malformed, street name, not set up), and the
postcodes.io-compatible lookup against a loopback fake."""
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.support.postcodes_api import FakePostcodesIO
from webapp.extensions import db
from webapp.wards import postcodes
from webapp.wards.models import Postcode

SAMPLE = Path(__file__).parent / "data" / "onspd_sample.csv"


@pytest.fixture
def loaded(runner):
    result = runner.invoke(args=["postcodes", "load", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def fake_api(app, monkeypatch):
    postcodes.clear_cache()
    with FakePostcodesIO() as fake:
        monkeypatch.setitem(app.config, "POSTCODES_API_URL", fake.url)
        monkeypatch.setitem(app.config, "POSTCODES_API_TIMEOUT", 1.0)
        yield fake
    postcodes.clear_cache()


def _codes():
    return dict(db.session.execute(select(Postcode.postcode, Postcode.ward_id)).all())


def test_load_keeps_londons_live_postcodes_and_reports(loaded, runner):
    assert "Kept 9 London postcodes; skipped 4" in loaded.output
    assert "1 terminated" in loaded.output and "2 outside London" in loaded.output
    rows = {p.postcode: p for p in db.session.scalars(select(Postcode))}
    assert set(rows) == {"SW1A 2AA", "SW1A 1AA", "SE24 0AA", "SE24 0NG", "SE24 0PB",
                         "SE24 9AA", "SE24 9HU", "SE24 9ZZ", "SE24 0ZX"}
    assert rows["SW1A 2AA"].ward.code == "E05013806" and rows["SW1A 2AA"].outward == "SW1A"
    assert rows["SW1A 2AA"].lat == pytest.approx(51.503396)
    # A ward code of another vintage is placed by its centroid; no grid reference: no point.
    assert rows["SE24 9ZZ"].ward.code == "E05011100"
    assert rows["SE24 0ZX"].lat is None and rows["SE24 0ZX"].ward.code == "E05014104"
    # The progress bar was drawn (on stderr) to the end.
    before = _codes()
    again = runner.invoke(args=["postcodes", "load", str(SAMPLE)])
    assert again.exit_code == 0 and "Kept 9" in again.output
    assert _codes() == before  # idempotent
    assert db.session.scalar(select(func.count()).select_from(Postcode)) == 9


def test_load_reads_the_zip_as_ons_publishes_it(runner, tmp_path):
    archive = tmp_path / "ONSPD_FEB_2025.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("Documents/LA_UA names and codes UK as at 04_24.csv", "LAD24CD,LAD24NM\n")
        z.writestr("Data/multi_csv/ONSPD_FEB_2025_UK_SE.csv", SAMPLE.read_text().splitlines()[0])
        z.write(SAMPLE, "Data/ONSPD_FEB_2025_UK.csv")
    result = runner.invoke(args=["postcodes", "load", str(archive)])
    assert result.exit_code == 0, result.output
    assert "Kept 9 London postcodes" in result.output
    assert db.session.get(Postcode, "SE24 0PB").ward.code == "E05014098"


def test_load_reads_nspl_and_newer_vintage_column_names(runner, tmp_path):
    # NSPL calls the ward "ward" and the district "laua"; newer files "wd24cd"/"lad24cd".
    nspl = tmp_path / "nspl.csv"
    nspl.write_text('"pcd","pcd2","pcds","dointr","doterm","laua","ward","lat","long"\n'
                    '"SW1A2AA","SW1A 2AA","SW1A 2AA","198001","","E09000033","E05013806","51.503396","-0.127640"\n')
    newer = tmp_path / "newer.csv"
    newer.write_text("pcd7,pcds,doterm,lad24cd,wd24cd,lat,long\n"
                     "SE240AA,SE24 0AA,,E09000022,E05014104,51.4535,-0.1\n")
    for path in (nspl, newer):
        result = runner.invoke(args=["postcodes", "load", str(path)])
        assert result.exit_code == 0 and "Kept 1 " in result.output, result.output
    assert set(_codes()) == {"SW1A 2AA", "SE24 0AA"}
    bad = tmp_path / "bad.csv"
    bad.write_text("name,colour\nx,y\n")
    result = runner.invoke(args=["postcodes", "load", str(bad)])
    assert result.exit_code != 0 and "ONS Postcode Directory" in result.output


def _big_file(path, pairs):
    lines = SAMPLE.read_text().splitlines()
    header, london, elsewhere = lines[0], lines[1], lines[11]
    with path.open("w") as out:
        out.write(header + "\n")
        for i in range(pairs):
            n = f"{i % 10}{chr(65 + i // 10 % 26)}{chr(65 + i // 260 % 26)}"
            out.write(london.replace("SW1A 2AA", f"SW1A {n}").replace("SW1A2AA", f"SW1A{n}") + "\n")
            out.write(elsewhere + "\n")
    return path


def _peak_while_loading(path):
    seen = []
    tracemalloc.start()
    report = postcodes.load_postcodes(path, progress=seen.append)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert sum(seen) == path.stat().st_size  # the progress bar saw every byte
    return report, peak


def test_load_streams_with_flat_memory(app, tmp_path):
    # Four times the rows must not take more memory: the file is streamed in batches.
    _peak_while_loading(_big_file(tmp_path / "warm.csv", 2_500))  # caches, compiled SQL
    report, small_peak = _peak_while_loading(_big_file(tmp_path / "small2.csv", 2_500))
    big_report, big_peak = _peak_while_loading(_big_file(tmp_path / "big.csv", 10_000))
    assert big_report.kept == 10_000 and big_report.skipped == 10_000
    assert big_peak < small_peak * 1.5, (small_peak, big_peak)


def test_full_postcode_finds_its_ward_in_every_finder(loaded, client, htmx_headers,
                                                      make_resident, login):
    for q in ("SW1A 2AA", "sw1a2aa", " Sw1A  2aA "):
        body = client.get("/wards/search", query_string={"q": q},
                          headers=htmx_headers).get_data(as_text=True)
        assert "<strong>SW1A 2AA</strong> is in <strong>St James's</strong>" in body.replace("&#39;", "'")
        assert 'href="/wards/E05013806"' in body
        assert "boundary" not in body
    page = client.get("/wards?q=SW1A+2AA").get_data(as_text=True)
    assert 'href="/wards/E05013806"' in page
    # The survey's and settings' finders give choices.
    login(client, make_resident(completed=False))
    survey = client.get("/survey?step=1&q=SW1A+2AA").get_data(as_text=True)
    assert 'name="ward" value="E05013806"' in survey
    settings = client.get("/settings?q=SE24+9AA").get_data(as_text=True)
    assert 'name="ward" value="E05011100"' in settings


def test_postcode_on_a_boundary_offers_the_neighbour(loaded, client, htmx_headers):
    body = client.get("/wards/search?q=SE24+0PB", headers=htmx_headers).get_data(as_text=True)
    assert "is in <strong>Brixton Windrush</strong>" in body
    assert "on a ward boundary" in body and "Herne Hill &amp; Loughborough Junction" in body
    assert 'href="/wards/E05014104"' in body and 'href="/wards/E05014098"' in body


def test_outward_code_lists_the_wards_it_touches(loaded, client, htmx_headers):
    body = client.get("/wards/search?q=se24", headers=htmx_headers).get_data(as_text=True)
    assert "SE24 touches 3 wards" in body
    for code in ("E05014104", "E05014098", "E05011100"):
        assert f'href="/wards/{code}"' in body
    assert 'href="/wards/E05013806"' not in body


def test_malformed_street_and_unknown(loaded, client, htmx_headers):
    body = client.get("/wards/search?q=SW1A+2A", headers=htmx_headers).get_data(as_text=True)
    assert "is not a full postcode" in body and "SW1A 2AA" in body
    body = client.get("/wards/search?q=Jermyn+Street", headers=htmx_headers).get_data(as_text=True)
    assert "No ward or borough matches" in body and "try your postcode" in body
    assert "use your location" in body
    body = client.get("/wards/search?q=SE24+0QQ", headers=htmx_headers).get_data(as_text=True)
    assert "can't find the postcode SE24 0QQ" in body
    body = client.get("/wards/search?q=EH1+1YZ", headers=htmx_headers).get_data(as_text=True)
    assert "can't find the postcode EH1 1YZ" in body


def test_without_postcode_data_the_finder_says_it_is_not_set_up(client, htmx_headers):
    body = client.get("/wards/search?q=SW1A+2AA", headers=htmx_headers).get_data(as_text=True)
    assert "Postcode search is not set up on this server" in body
    assert "flask postcodes load" in body and "POSTCODES_API_URL" in body
    assert "No ward or borough matches" not in body
    # Names still work.
    body = client.get("/wards/search?q=vauxhall", headers=htmx_headers).get_data(as_text=True)
    assert 'href="/wards/E05014117"' in body


def test_api_lookup_when_the_table_has_no_row(client, htmx_headers, fake_api):
    fake_api.add_postcode("SW1A 1AA", ward_name="St James's", ward_code="E05013806",
                          district="Westminster", district_code="E09000033",
                          lat=51.501009, lon=-0.141588)
    # A newer ward code the app does not know: the ward comes from the coordinates.
    fake_api.add_postcode("SE24 0PB", ward_name="Brixton Windrush", ward_code="E05099999",
                          district="Lambeth", district_code="E09000022", lat=51.458, lon=-0.106)
    fake_api.add_postcode("BR8 7RE", ward_name="Hextable", ward_code="E05004875",
                          district="Sevenoaks", district_code="E07000111",
                          lat=51.411831, lon=0.178871)
    fake_api.outcodes["SE24"] = {"outcode": "SE24", "admin_district": ["Lambeth", "Southwark"],
                                 "admin_ward": ["Herne Hill & Loughborough Junction",
                                                "Brixton Windrush", "Champion Hill"]}
    body = client.get("/wards/search?q=sw1a1aa", headers=htmx_headers).get_data(as_text=True)
    assert "is in <strong>St James" in body and 'href="/wards/E05013806"' in body
    body = client.get("/wards/search?q=SE24+0PB", headers=htmx_headers).get_data(as_text=True)
    assert "is in <strong>Brixton Windrush" in body and "on a ward boundary" in body
    body = client.get("/wards/search?q=BR8+7RE", headers=htmx_headers).get_data(as_text=True)
    assert "BR8 7RE is outside London" in body
    body = client.get("/wards/search?q=N1+9GU", headers=htmx_headers).get_data(as_text=True)
    assert "can't find the postcode N1 9GU" in body
    body = client.get("/wards/search?q=SE24", headers=htmx_headers).get_data(as_text=True)
    assert "SE24 touches 3 wards" in body and 'href="/wards/E05014104"' in body
    assert fake_api.bad_requests == []
    assert "/postcodes/SW1A%201AA" in fake_api.requests
    # Cached: asking again does not ask the server again.
    asked = len(fake_api.requests)
    client.get("/wards/search?q=SW1A+1AA", headers=htmx_headers)
    client.get("/wards/search?q=N1+9GU", headers=htmx_headers)
    assert len(fake_api.requests) == asked


def test_api_timeout_says_try_again_and_is_not_cached(app, client, htmx_headers, fake_api,
                                                      monkeypatch):
    fake_api.add_postcode("SW1A 1AA", ward_name="St James's", ward_code="E05013806",
                          district="Westminster", district_code="E09000033",
                          lat=51.501009, lon=-0.141588)
    monkeypatch.setitem(app.config, "POSTCODES_API_TIMEOUT", 0.2)
    fake_api.delay = 0.6
    response = client.get("/wards/search?q=SW1A+1AA", headers=htmx_headers)
    assert response.status_code == 200
    assert "couldn't look up SW1A 1AA just now" in response.get_data(as_text=True)
    fake_api.delay = 0
    body = client.get("/wards/search?q=SW1A+1AA", headers=htmx_headers).get_data(as_text=True)
    assert "is in <strong>St James" in body


def test_table_row_wins_over_the_api(loaded, client, htmx_headers, fake_api):
    body = client.get("/wards/search?q=SW1A+2AA", headers=htmx_headers).get_data(as_text=True)
    assert "is in <strong>St James" in body
    assert fake_api.requests == []


@pytest.mark.parametrize("query,kind", [
    ("SW1A 2AA", "full"), ("sw1a2aa", "full"), ("EC1A 1BB", "full"), ("W1A 0AX", "full"),
    ("M1 1AE", "full"), ("SE24", "outward"), ("n1", "outward"), ("SW1A 2A", "malformed"),
    ("SE24 0", "malformed"), ("Herne Hill", "name"), ("Jermyn Street", "name"), ("", "name")])
def test_classify(query, kind):
    assert postcodes.classify(query)[0] == kind
