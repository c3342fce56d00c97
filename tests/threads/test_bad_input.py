"""Numbers too big for the database's INTEGER (as ids, pages or poll positions) find
nothing instead of overflowing the query (a 500 on SQLite and PostgreSQL)."""
import pytest

from tests.conftest import HTMX

HUGE = "4611686018427387903"  # 2**62 - 1: a valid Python int, far past INTEGER


@pytest.mark.parametrize("url", [f"/wards/E05013806/posts?page={HUGE}", "/wards/E05013806/posts?page=-5"])
def test_ward_posts_page_out_of_range(client, url):
    response = client.get(url, headers=HTMX)
    assert response.status_code == 200


def test_resident_params_out_of_range(client, make_resident, login, start_conversation):
    resident = make_resident()
    conv = start_conversation(resident, body="Hello there")
    login(client, resident)
    for url in (f"/messages/{conv.id}?before={HUGE}", f"/messages/{conv.id}/earlier?before={HUGE}",
                f"/messages/{conv.id}/poll?after={HUGE}"):
        assert client.get(url, headers=HTMX).status_code in (200, 204), url
    page = client.get(f"/messages/{conv.id}?before={HUGE}").text
    assert "Hello there" in page  # out of range: the latest messages, as without ?before


def test_officer_params_out_of_range(client, make_resident, make_staff, login, start_conversation):
    conv = start_conversation(make_resident(), subject="Noisy bikes")
    login(client, make_staff("officer", wards=["E05013806"]))
    for url in (f"/officer/inbox?ward={HUGE}", f"/officer/inbox?page={HUGE}",
                f"/officer/messages/{conv.id}?before={HUGE}",
                f"/officer/messages/{conv.id}/earlier?before={HUGE}",
                f"/officer/messages/{conv.id}/poll?after={HUGE}"):
        assert client.get(url, headers=HTMX).status_code in (200, 204), url
    assert "Noisy bikes" in client.get(f"/officer/inbox?page={HUGE}").text
