"""HTTP caching: versioned static files are immutable for a year, what visitors see answers
conditional requests with 304, and nothing a signed-in person gets is ever public."""
from __future__ import annotations

import pytest

from tests.pages import PAGES, ST_JAMES, build_world
from webapp.extensions import db


def test_versioned_static_files_are_immutable(app, client):
    from webapp.platform.static_assets import asset_url
    with app.test_request_context():
        url = asset_url("css/app.css")
    assert "?v=" in url
    response = client.get(url)
    assert response.status_code == 200
    assert response.cache_control.public and response.cache_control.immutable
    assert response.cache_control.max_age == 31536000 and not response.cache_control.no_cache
    # Only the current version: without it, or with a stale one, the browser must ask again.
    for other in ("/static/css/app.css", "/static/css/app.css?v=0123456789"):
        response = client.get(other)
        assert response.status_code == 200
        assert not response.cache_control.immutable and not response.cache_control.max_age, other
        assert response.cache_control.no_cache, other


def test_every_versioned_asset_in_a_page_is_immutable(client):
    import re
    html = client.get(f"/wards/{ST_JAMES}").get_data(as_text=True)
    urls = re.findall(r'(?:src|href)="(/static/[^"]+\?v=[^"]+)"', html)
    assert len(urls) >= 2
    for url in urls:
        response = client.get(url.replace("&amp;", "&"))
        assert response.cache_control.immutable, url


@pytest.fixture
def world(app, make_resident, make_staff):
    return build_world(make_resident, make_staff)


PUBLIC = [f"/wards/{ST_JAMES}", "/alerts/{alert}", "/meetings/{meeting}", "/meetings/{meeting}.ics",
          f"/wards/{ST_JAMES}/meetings.ics", "/manifest.webmanifest", f"/wards/{ST_JAMES}/posts",
          "/"]


@pytest.mark.parametrize("path", PUBLIC)
def test_public_pages_and_feeds_answer_304(app, world, path):
    url = path.format(**world.values)
    browser = app.test_client()
    first = browser.get(url)
    assert first.status_code == 200 and first.headers["ETag"].startswith('W/"')
    assert "no-store" not in first.headers.get("Cache-Control", "")
    again = browser.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    # A visitor's page holds no CSRF token (nor does a feed): it is the same for everyone,
    # so another browser gets a 304 too.
    other = app.test_client().get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert other.status_code == 304


def test_a_changed_page_gets_a_new_etag(app, world, make_staff):
    from webapp.posts import create_ward_post
    from webapp.wards.services import get_ward
    browser = app.test_client()
    etag = browser.get(f"/wards/{ST_JAMES}").headers["ETag"]
    create_ward_post(get_ward(ST_JAMES), world.users["officer"], "Road closed", "Until Friday.")
    db.session.commit()
    response = browser.get(f"/wards/{ST_JAMES}", headers={"If-None-Match": etag})
    assert response.status_code == 200 and "Road closed" in response.get_data(as_text=True)
    assert response.headers["ETag"] != etag


def test_nothing_a_signed_in_person_gets_is_public(app, world):
    """Every page of the sweep list, and the feeds, as each signed-in role: private or
    no-store, Vary: Cookie, never public."""
    checked = 0
    for page in PAGES:
        roles = [page.role] if page.role not in ("visitor", "mailed") else ["resident", "officer"]
        for role in roles:
            if role in ("enrolling", "verifying"):
                continue  # not signed in yet
            client = app.test_client()
            with client.session_transaction() as sess:
                sess.update(world.session_for(role))
            response = client.get(page.url(world), headers={"HX-Request": "true"} if page.fragment else {})
            if response.status_code >= 300 and response.status_code != 304:
                continue  # a redirect or refusal for this role
            cache = response.cache_control
            assert not cache.public, (page.id, role, response.headers.get("Cache-Control"))
            assert cache.private or cache.no_store, (page.id, role, response.headers.get("Cache-Control"))
            assert "cookie" in {v.lower() for v in response.vary}, (page.id, role)
            checked += 1
    assert checked > len(PAGES)
    client = app.test_client()
    with client.session_transaction() as sess:
        sess.update(world.session_for("resident"))
    for path in (f"/wards/{ST_JAMES}/meetings.ics", "/manifest.webmanifest"):
        cache = client.get(path).cache_control
        assert not cache.public and cache.private, path


def test_a_page_from_a_304_still_posts(app, world):
    """The page a browser keeps after a 304 carries a CSRF token its session accepts (a
    page with a form: a visitor's other pages carry none), and another browser's session
    does not get that page's 304."""
    import re
    browser = app.test_client()
    first = browser.get("/signup")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', first.get_data(as_text=True)).group(1)
    assert browser.get("/signup", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    other = app.test_client().get("/signup", headers={"If-None-Match": first.headers["ETag"]})
    assert other.status_code == 200 and other.headers["ETag"] != first.headers["ETag"]
    response = browser.post("/signup", data={"email": "sam@example.org", "display_name": "Sam",
                                              "csrf_token": token}, csrf=False)
    assert response.status_code == 303


@pytest.mark.parametrize("path", ["/meetings/{meeting}.ics", f"/wards/{ST_JAMES}/meetings.ics"])
def test_a_calendar_made_a_second_later_still_answers_304(app, world, path, monkeypatch):
    """DTSTAMP is when the file was made (RFC 5545), so it differs between two requests a
    second apart; the feed itself has not changed and must still be a 304."""
    import datetime as dt

    from webapp.meetings import ical
    url = path.format(**world.values)
    browser = app.test_client()
    first = browser.get(url)
    assert b"DTSTAMP" in first.data
    later = ical.utcnow() + dt.timedelta(seconds=5)
    monkeypatch.setattr(ical, "utcnow", lambda: later)
    again = browser.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def stored_by_a_shared_cache(response) -> bool:
    """Would a shared cache (RFC 9111 section 3, as CDNs apply it) store this response?
    Not when it says no-store or private, nor when it sets a cookie; otherwise when it is
    public or gives a freshness lifetime (max-age, s-maxage)."""
    cache = response.cache_control
    if cache.no_store or cache.private or "Set-Cookie" in response.headers:
        return False
    return bool(cache.public or cache.max_age is not None or cache.s_maxage is not None)


SHARED = ["/meetings/{meeting}.ics", f"/wards/{ST_JAMES}/meetings.ics", "/manifest.webmanifest",
          f"/wards/{ST_JAMES}/feed.atom", "/feed.atom"]


@pytest.mark.parametrize("path", SHARED)
def test_what_every_visitor_gets_alike_is_kept_by_shared_caches(app, world, path):
    response = app.test_client().get(path.format(**world.values))
    assert response.status_code == 200 and stored_by_a_shared_cache(response)
    cache = response.cache_control
    assert 0 < cache.max_age <= 3600  # a minute by default; an hour where the view says so
    if cache.max_age == 60:
        assert cache.public and cache.stale_while_revalidate == 600
    assert "cookie" in {v.lower() for v in response.vary}  # a signed-in request is not served it
    assert response.headers["ETag"].startswith('W/"')


def test_no_page_with_a_session_is_stored_by_a_shared_cache(app, world):
    """Every page of the sweep list as every role sees it, visitors included: a page that
    carries a CSRF token (so a session) or sets a cookie, and anything a signed-in person
    gets, is never stored by a shared cache."""
    checked = 0
    for page in PAGES:
        client = app.test_client()
        session = world.session_for(page.role) if page.role not in ("enrolling", "verifying") else None
        if session:
            with client.session_transaction() as sess:
                sess.update(session)
        response = client.get(page.url(world), headers={"HX-Request": "true"} if page.fragment else {})
        body = response.get_data()
        personal = session is not None or b"csrf" in body.lower() or "Set-Cookie" in response.headers
        if personal:
            assert not stored_by_a_shared_cache(response), (page.id, response.headers.get("Cache-Control"))
            checked += 1
    assert checked > len(PAGES) // 2


def test_an_edited_asset_gets_a_new_url_within_the_recheck_time(app, tmp_path, monkeypatch):
    """asset_url keeps each URL for RECHECK_SECONDS only: an edited file's URL changes."""
    import os
    from types import SimpleNamespace

    from webapp.platform import static_assets
    clock = [1000.0]
    monkeypatch.setattr(static_assets, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(app, "static_folder", str(tmp_path))
    asset = tmp_path / "edited.css"
    asset.write_text("a {}")
    with app.test_request_context("/"):
        first = static_assets.asset_url("edited.css")
        asset.write_text("b {}")
        os.utime(asset, (asset.stat().st_mtime + 5, asset.stat().st_mtime + 5))
        assert static_assets.asset_url("edited.css") == first  # trusted for a second
        clock[0] += static_assets.RECHECK_SECONDS + 0.1
        second = static_assets.asset_url("edited.css")
    assert second != first and second.startswith("/static/edited.css?v=")
