"""Visitors' pages (issue 14): no CSRF token and no cookie, cacheable by shared caches, and
answered from a stored response until one of their tables changes; a signed-in person's
page is never stored, by us or by a shared cache."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import event

from tests.pages import ST_JAMES, build_world
from webapp.extensions import db
from webapp.platform import pagecache, pagestore

VISITOR_PAGES = [f"/wards/{ST_JAMES}", "/alerts/{alert}", "/meetings/{meeting}"]
STORED = VISITOR_PAGES + ["/meetings/{meeting}.ics", f"/wards/{ST_JAMES}/meetings.ics",
                          f"/wards/{ST_JAMES}/feed.atom", "/feed.atom"]
TABLE = re.compile(r'\b(?:FROM|JOIN)\s+"?(\w+)"?', re.I)


@pytest.fixture
def world(app, make_resident, make_staff):
    return build_world(make_resident, make_staff)


class Statements:
    """The SQL statements the app sends through SQLAlchemy while the block runs."""

    def __enter__(self):
        self.sent = []
        event.listen(db.engine, "before_cursor_execute", self._note)
        return self

    def _note(self, conn, cursor, statement, *args):
        self.sent.append(statement)

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._note)

    def tables(self) -> set[str]:
        return {t for s in self.sent for t in TABLE.findall(s)} - {"cache_generations"}


def signed_in(app, world, role="resident"):
    client = app.test_client()
    with client.session_transaction() as sess:
        sess.update(world.session_for(role))
    return client


@pytest.mark.parametrize("hx", [False, True])
@pytest.mark.parametrize("path", VISITOR_PAGES)
def test_a_visitor_page_has_no_token_sets_no_cookie_and_shared_caches_may_keep_it(app, world, path, hx):
    response = app.test_client().get(path.format(**world.values),
                                     headers={"HX-Request": "true"} if hx else {})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "X-CSRFToken" not in body and "csrf_token" not in body
    cache = response.cache_control
    assert cache.public and cache.max_age == 0 and cache.must_revalidate
    assert 0 < cache.s_maxage <= 60 and not cache.private and not cache.no_store
    assert {"cookie", "hx-request"} <= {v.lower() for v in response.vary}
    assert response.headers["ETag"]


def test_a_signed_in_page_still_carries_the_token_for_htmx(app, world):
    body = signed_in(app, world).get(f"/wards/{ST_JAMES}").get_data(as_text=True)
    assert re.search(r'hx-headers=\'\{"X-CSRFToken": "[^"]+", "X-Parent-Request-ID"', body)


@pytest.mark.parametrize("path", ["/signup", "/login"])
def test_a_page_with_a_form_keeps_its_token_and_stays_private(app, path):
    response = app.test_client().get(path)
    assert 'name="csrf_token"' in response.get_data(as_text=True)
    assert "Set-Cookie" in response.headers
    assert response.cache_control.private and not response.cache_control.public


@pytest.mark.parametrize("path", STORED)
def test_stored_pages_declare_every_table_they_read(app, world, path):
    """A stored response is answered until one of its declared tables changes: a table the
    page reads but does not declare would leave it stale."""
    url = path.format(**world.values)
    adapter = app.url_map.bind("localhost")
    endpoint, _ = adapter.match(url)
    declared = set(app.view_functions[endpoint].visitor_tables)
    for hx in (False, True):
        pagecache.clear()
        pagestore.clear()
        with Statements() as statements:
            app.test_client().get(url, headers={"HX-Request": "true"} if hx else {})
        assert statements.tables() and statements.tables() <= declared, \
            (url, statements.tables() - declared)


@pytest.mark.parametrize("path", STORED)
def test_the_next_visitor_gets_the_stored_response_without_the_app(app, world, path):
    url = path.format(**world.values)
    first = app.test_client().get(url)
    with Statements() as statements:
        again = app.test_client().get(url)
    assert statements.sent == []  # only the generations, on the store's own connection
    assert again.status_code == 200 and again.data == first.data
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Cache-Control"] == first.headers["Cache-Control"]
    assert again.headers["Content-Security-Policy"] == first.headers["Content-Security-Policy"]
    assert again.headers["X-Request-ID"] != first.headers["X-Request-ID"]


@pytest.mark.parametrize("path", STORED)
def test_if_none_match_gets_a_304_from_the_store(app, world, path):
    url = path.format(**world.values)
    etag = app.test_client().get(url).headers["ETag"]
    with Statements() as statements:
        again = app.test_client().get(url, headers={"If-None-Match": etag})
    assert statements.sent == []
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag and "public" in again.headers["Cache-Control"]
    assert app.test_client().get(url, headers={"If-None-Match": 'W/"other"'}).status_code == 200


def test_a_new_ward_post_shows_on_the_very_next_request(app, world):
    from webapp.posts import create_ward_post
    from webapp.wards.services import get_ward
    url = f"/wards/{ST_JAMES}"
    first = app.test_client().get(url)
    etag = first.headers["ETag"]
    with Statements() as statements:
        assert app.test_client().get(url).data == first.data
    assert statements.sent == []  # stored
    create_ward_post(get_ward(ST_JAMES), world.users["officer"], "Road closed on Friday",
                     "Until the evening.")
    db.session.commit()
    again = app.test_client().get(url, headers={"If-None-Match": etag})
    assert again.status_code == 200 and "Road closed on Friday" in again.get_data(as_text=True)
    assert again.headers["ETag"] != etag


CHANGE_ELSEWHERE = """
import sys
from webapp import create_app
from webapp.extensions import db
from webapp.alerts.models import Alert
app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "INSTANCE_PATH": sys.argv[2]})
with app.app_context():
    db.session.get(Alert, int(sys.argv[3])).title = "Phone snatches on Railton and Dulwich Road"
    db.session.commit()
"""


def test_a_change_made_by_another_process_shows_at_once(app, world):
    """The alert page stored here; its title changed by another process (as another web
    worker would): only the database's generations tell this one."""
    import subprocess
    import sys
    url = f"/alerts/{world.values['alert']}"
    first = app.test_client().get(url).get_data(as_text=True)
    with Statements() as statements:
        assert app.test_client().get(url).get_data(as_text=True) == first
    assert statements.sent == []  # stored
    db.session.commit()  # end the test's own read transaction (SQLite's lock)
    subprocess.run([sys.executable, "-c", CHANGE_ELSEWHERE, app.config["SQLALCHEMY_DATABASE_URI"],
                    app.instance_path, str(world.values["alert"])], check=True, timeout=120)
    again = app.test_client().get(url).get_data(as_text=True)
    assert "Dulwich Road" not in first and "Railton and Dulwich Road" in again


def test_the_htmx_variant_is_stored_apart(app, world):
    url = f"/meetings/{world.values['meeting']}"
    page = app.test_client().get(url)
    fragment = app.test_client().get(url, headers={"HX-Request": "true"})
    assert b"<html" in page.data and b"<html" not in fragment.data
    with Statements() as statements:
        assert app.test_client().get(url, headers={"HX-Request": "true"}).data == fragment.data
        assert app.test_client().get(url).data == page.data
    assert statements.sent == []


def test_a_signed_in_person_never_gets_a_stored_page_and_none_is_stored(app, world):
    url = f"/wards/{ST_JAMES}"
    visitor = app.test_client().get(url)
    resident = signed_in(app, world).get(url)
    assert "Sam Resident" not in visitor.get_data(as_text=True)
    assert b"/logout" in resident.data and b"/logout" not in visitor.data
    assert resident.cache_control.private and not resident.cache_control.public
    assert "X-CSRFToken" in resident.get_data(as_text=True)
    pagestore.clear()
    signed_in(app, world).get(url)  # rendered for a resident first
    assert b"/logout" not in app.test_client().get(url).data


def test_a_flash_or_a_cookie_is_never_stored(app, world):
    url = f"/wards/{ST_JAMES}"
    flashed = app.test_client()
    with flashed.session_transaction() as sess:
        sess["_flashes"] = [("success", "Thanks for telling us.")]
    response = flashed.get(url)
    assert "Thanks for telling us." in response.get_data(as_text=True)
    assert "Set-Cookie" in response.headers and not response.cache_control.public
    assert "Thanks for telling us." not in app.test_client().get(url).get_data(as_text=True)
    assert not pagestore._storable("200 OK", [("Cache-Control", "public, max-age=0"),
                                              ("Set-Cookie", "a=b")])
    assert not pagestore._storable("200 OK", [("Cache-Control", "private, no-cache")])
    assert pagestore._storable("200 OK", [("Cache-Control", "public, max-age=0")])


def test_every_visitor_page_is_either_shared_and_anonymous_or_private(app, world):
    """Every visitor page of the sweep list: one that a shared cache may keep sets no
    cookie, holds no token and says Vary: Cookie (and has a validator); any other is
    private. The ward home, alert and meeting pages are of the first kind."""
    from tests.pages import PAGES
    from tests.test_caching import stored_by_a_shared_cache
    shared = set()
    for page in PAGES:
        if page.role != "visitor" or page.status != 200:
            continue
        response = app.test_client().get(page.url(world),
                                         headers={"HX-Request": "true"} if page.fragment else {})
        if stored_by_a_shared_cache(response):
            assert "Set-Cookie" not in response.headers, page.id
            assert b"csrf" not in response.get_data().lower(), page.id
            assert "cookie" in {v.lower() for v in response.vary} and response.headers["ETag"], page.id
            shared.add(page.endpoint)
        else:
            assert response.cache_control.private or response.cache_control.no_store, page.id
    assert {"wards.ward_home", "alerts.alert_page", "meetings.show"} <= shared
