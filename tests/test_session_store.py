"""Signed-in pages stored for their session (issue 14): answered again, before Flask runs,
only to a request carrying the very same cookies, until one of the page's tables (or the
session's: the user, their wards, signed-out sessions) changes; never when the response
set a cookie, and never past the end of a staff session."""
from __future__ import annotations

import re
import time

import pytest

from tests.pages import ST_JAMES, build_world
from tests.test_pagestore import Statements
from webapp.extensions import db
from webapp.platform import pagecache, pagestore

RESIDENT_PAGES = [f"/wards/{ST_JAMES}", "/alerts/{alert}", "/messages/{conversation}",
                  "/messages", "/meetings", "/settings"]
OFFICER_PAGES = ["/officer/inbox", f"/wards/{ST_JAMES}", "/alerts/{alert}"]
SIGNED_IN = [(p, "resident") for p in RESIDENT_PAGES] + [(p, "officer") for p in OFFICER_PAGES]


@pytest.fixture
def world(app, make_resident, make_staff):
    return build_world(make_resident, make_staff)


def browser(app, world, role="resident"):
    """A test client signed in as ``role``, past its first page (as a browser is: the first
    page stores the session's CSRF secret, which sets a new cookie)."""
    client = app.test_client()
    with client.session_transaction() as sess:
        sess.update(world.session_for(role))
    client.get("/privacy")
    return client


def stored() -> list:
    """Every response stored in this process, visitors' and sessions'."""
    return [*pagestore._visitors.entries.values(), *pagestore._sessions.entries.values()]


def cookie_of(client) -> str:
    return "; ".join(f"{c.key}={c.value}" for c in client._cookies.values())


def replay(app, cookie: str):
    """A new client carrying exactly ``cookie`` (a saved copy of a browser's cookies)."""
    client = app.test_client()
    for part in cookie.split("; "):
        name, value = part.split("=", 1)
        client.set_cookie(name, value)
    return client


def stored_after_two(client, url, **kw):
    """Ask twice (the first asks to be stored, the second is stored), then once more."""
    client.get(url, **kw)
    second = client.get(url, **kw)
    with Statements() as statements:
        third = client.get(url, **kw)
    return second, third, statements


# A FROM or JOIN and what follows up to the next clause: "FROM a, b AS c WHERE" names a and b.
FROM_LIST = re.compile(r'\b(?:FROM|JOIN)\s+(.+?)(?=\s+(?:WHERE|ORDER|GROUP|LIMIT|OFFSET|HAVING|'
                       r'UNION|FOR|ON|JOIN|LEFT|RIGHT|INNER|OUTER|FULL|CROSS)\b|\)|$)',
                       re.I | re.S)


def tables_read(statements) -> set[str]:
    found = set()
    for sql in statements.sent:
        for listing in FROM_LIST.findall(sql):
            for item in listing.split(","):
                name = item.strip().split()[0].strip('"') if item.strip() else ""
                if re.fullmatch(r"[a-z_]+", name):
                    found.add(name)
    return found - {"cache_generations"}


@pytest.mark.parametrize("path,role", SIGNED_IN)
def test_stored_signed_in_pages_declare_every_table_they_read(app, world, path, role):
    """The user's statement and the page's: a table read but not declared would leave the
    stored page stale."""
    url = path.format(**world.values)
    endpoint, _ = app.url_map.bind("localhost").match(url)
    declared = set(app.view_functions[endpoint].session_tables) | pagestore._session_tables
    client = browser(app, world, role)
    for hx in (False, True):
        pagecache.clear()
        pagestore.clear()
        with Statements() as statements:
            response = client.get(url, headers={"HX-Request": "true"} if hx else {})
        assert response.status_code == 200
        read = statements.tables() | tables_read(statements)
        assert read <= declared, f"{url} {role}: {' '.join(sorted(read - declared))}"


@pytest.mark.parametrize("path,role", SIGNED_IN)
def test_the_same_cookies_get_the_stored_page_without_the_app(app, world, path, role):
    url = path.format(**world.values)
    client = browser(app, world, role)
    second, third, statements = stored_after_two(client, url)
    assert statements.sent == []  # only the generations, on the store's own connection
    assert third.status_code == 200 and third.data == second.data
    assert third.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    assert third.headers["Content-Security-Policy"] == second.headers["Content-Security-Policy"]
    assert third.cache_control.private and not third.cache_control.public
    assert "Set-Cookie" not in third.headers


def test_another_person_never_gets_my_stored_page(app, world, make_resident):
    url = "/messages"
    mine = browser(app, world)
    _, stored, _ = stored_after_two(mine, url)
    assert b"Bikes on the pavement" in stored.data
    other = make_resident(ST_JAMES, name="Other Person")
    db.session.commit()
    theirs = app.test_client()
    with theirs.session_transaction() as sess:
        sess.update({"_user_id": other.get_id(), "_fresh": True})
    page = theirs.get(url)
    assert page.status_code == 200 and b"Bikes on the pavement" not in page.data
    assert b"Other Person" in page.data or b"Sam Resident" not in page.data
    assert theirs.get("/officer/inbox").status_code in (302, 403)


def test_a_second_teams_officer_never_gets_the_first_teams_stored_inbox(app, world, make_staff):
    officer = browser(app, world, "officer")
    _, stored, _ = stored_after_two(officer, "/officer/inbox")
    assert b"Bikes on the pavement" in stored.data
    other = make_staff("officer", wards=["E05013792"], name="Other Team")
    db.session.commit()
    theirs = app.test_client()
    with theirs.session_transaction() as sess:
        sess.update({"_user_id": other.get_id(), "_fresh": True, "mfa_user_id": other.id,
                     "staff_since": int(time.time()), "staff_seen": int(time.time())})
    for _ in range(3):
        page = theirs.get("/officer/inbox")
        assert page.status_code == 200 and b"Bikes on the pavement" not in page.data


def test_a_new_message_shows_at_the_very_next_request(app, world):
    from webapp.threads import services as threads
    from webapp.threads.models import Conversation
    url = f"/messages/{world.values['conversation']}"
    client = browser(app, world)
    _, stored, _ = stored_after_two(client, url)
    listing = stored_after_two(client, "/messages")[1]
    assert b"A new reply from the team" not in stored.data
    conversation = db.session.get(Conversation, world.values["conversation"])
    threads.add_message(conversation, world.users["officer"], "A new reply from the team")
    db.session.commit()
    assert b"A new reply from the team" in client.get(url).data
    assert client.get("/messages").data != listing.data


def test_a_changed_setting_shows_at_the_very_next_request(app, world):
    client = browser(app, world)
    stored_after_two(client, "/settings")
    stored_after_two(client, f"/wards/{ST_JAMES}")
    world.users["resident"].display_name = "Samira Renamed"
    db.session.commit()
    assert b"Samira Renamed" in client.get("/settings").data


def test_a_saved_cookie_stops_working_at_sign_out_even_when_its_page_was_stored(
        app, world, mail):
    from tests.accounts.helpers import signin_path
    client = app.test_client()
    client.post("/login", data={"email": world.users["resident"].email})
    assert client.post(signin_path(mail.wait_for(1)[-1])).status_code == 303
    client.get("/privacy")
    saved = cookie_of(client)
    assert "remember_token=" in saved
    _, stored, _ = stored_after_two(replay(app, saved), "/messages")
    assert stored.status_code == 200 and b"Bikes on the pavement" in stored.data
    assert client.post("/logout").status_code == 303
    again = replay(app, saved).get("/messages")
    assert again.status_code == 302 and b"Bikes on the pavement" not in again.data


def test_sign_out_everywhere_ends_a_stored_page_on_the_other_devices(app, world):
    from webapp.accounts.sessions import sign_out_everywhere
    phone = browser(app, world)
    _, stored, _ = stored_after_two(phone, "/meetings")
    assert stored.status_code == 200
    with app.test_request_context():
        sign_out_everywhere(world.users["resident"])
    assert phone.get("/meetings").status_code == 302


def test_a_flash_is_shown_once_and_never_stored(app, world):
    client = browser(app, world)
    stored_after_two(client, "/messages")
    with client.session_transaction() as sess:
        sess["_flashes"] = [("success", "Thanks for telling us.")]
    flashed = client.get("/messages")
    assert b"Thanks for telling us." in flashed.data and "Set-Cookie" in flashed.headers
    assert b"Thanks for telling us." not in client.get("/messages").data
    assert b"Thanks for telling us." not in client.get("/messages").data


def test_a_page_for_a_session_that_set_a_cookie_is_not_stored(app, world):
    assert not pagestore._storable_privately("200 OK", [("Cache-Control", "private"),
                                                        ("Set-Cookie", "session=x")])
    assert not pagestore._storable_privately("200 OK", [("Cache-Control", "private, no-store")])
    assert not pagestore._storable_privately("302 FOUND", [("Cache-Control", "private")])
    assert not pagestore._storable_privately("200 OK", [("Cache-Control", "public")])
    assert pagestore._storable_privately("200 OK", [("Cache-Control", "private, no-cache")])


def test_a_stored_staff_page_lives_no_longer_than_the_staff_session(app, world):
    client = app.test_client()
    with client.session_transaction() as sess:
        sess.update(world.session_for("officer"))
        sess["staff_since"] = int(time.time()) - app.config["STAFF_SESSION_MAX_AGE"] + 5
    client.get("/privacy")
    stored_after_two(client, "/officer/inbox")
    entries = [e for e in stored() if e.route == "/officer/inbox"]
    assert entries and all(e.expires - time.monotonic() <= 5 for e in entries)


def test_staff_activity_is_noted_once_a_minute_so_the_cookie_stays_put(app, world):
    client = browser(app, world, "officer")
    assert "Set-Cookie" not in client.get("/officer/inbox").headers
    with client.session_transaction() as sess:
        sess["staff_seen"] -= 61
    assert "Set-Cookie" in client.get("/officer/inbox").headers  # noted: a new cookie
    assert "Set-Cookie" not in client.get("/officer/inbox").headers


def test_other_signed_in_requests_read_no_generations_before_the_app(app, world, monkeypatch):
    """Only a path that asked to be stored pays for the read before the app."""
    client = browser(app, world)
    reads = []
    original = pagestore._Generations.read
    monkeypatch.setattr(pagestore._Generations, "read",
                        lambda self: reads.append(1) or original(self))
    client.get("/privacy")
    client.get("/privacy")
    assert reads == []
    client.get("/messages")
    client.get("/messages")
    assert reads == [1]


def test_a_crowd_of_signed_in_pages_never_pushes_out_the_visitors_pages(app, world, monkeypatch):
    monkeypatch.setattr(pagestore._sessions, "max_entries", 2)
    url = f"/wards/{ST_JAMES}"
    app.test_client().get(url)  # a visitor's page, stored
    clients = [browser(app, world), browser(app, world, "officer")]
    other = app.test_client()
    with other.session_transaction() as sess:
        sess.update(world.session_for("newcomer"))
    clients.append(other)
    for client in clients:
        stored_after_two(client, "/privacy")
        client.get(url)
        client.get(url)
    kinds = [e.user_id for e in stored() if e.route == "/wards/<code>"]
    assert kinds.count(None) == 1 and len(kinds) == 3  # the visitor's, and the last two sessions
    with Statements() as statements:
        assert app.test_client().get(url).status_code == 200
    assert statements.sent == []


def test_an_admins_london_wide_inbox_is_stored_no_longer_than_the_access_lasts(app, world):
    from datetime import timedelta

    from webapp.platform.timeutil import utcnow
    from webapp.threads import services as threads
    admin = world.users["admin"]
    access = threads.grant_admin_access(admin, "Checking a complaint about a reply", 30)
    access.expires_at = utcnow() + timedelta(seconds=5)
    db.session.commit()
    client = browser(app, world, "admin")
    second, third, statements = stored_after_two(client, "/officer/inbox")
    assert statements.sent == [] and b"Bikes on the pavement" in third.data
    entries = [e for e in stored() if e.route == "/officer/inbox"]
    assert entries and all(e.expires - time.monotonic() <= 5 for e in entries)
