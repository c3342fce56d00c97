"""Odd ward codes and finder input never reach the database as something it refuses (a NUL
byte is an error on PostgreSQL): they find nothing, never a 500."""
import pytest

from tests.conftest import HTMX
from webapp.wards.services import get_ward, wards_in_borough


@pytest.mark.parametrize("code", ["E05013806\x00", "\x00", "E0501380%", "E05 13806", "É05013806"])
def test_malformed_ward_codes_are_no_ward(app, code):
    assert get_ward(code) is None
    assert wards_in_borough(code) == []


@pytest.mark.parametrize("url", ["/wards/%00", "/wards/E05013806%00", "/wards/a%00b/posts",
                                 "/wards/a%00b/posts/1", "/wards/%E2%80%AE%EF%BB%BF"])
def test_ward_urls_with_nul_or_odd_characters_are_404(client, url):
    assert client.get(url).status_code == 404
    assert client.get(url, headers=HTMX).status_code == 404


@pytest.mark.parametrize("url", ["/wards?q=herne%00", "/wards/search?q=%00%00", "/wards/borough?borough=E09000022%00",
                                 "/wards/locate?lat=51.5%00&lng=-0.1", "/wards?q=" + "x" * 5000])
def test_finder_with_nasty_input_never_500(client, url):
    assert client.get(url).status_code < 500
    assert client.get(url, headers=HTMX).status_code < 500
