"""Issue 9, point 2: every state-changing route checks the same scope as its page.

The walk enumerates ``app.url_map``, so a new POST/PUT/PATCH/DELETE route is covered the
day it is added: an officer of a second team sends it against the first team's objects
(conversation, message, alert, meeting, RSVP, concern, device, delivery, officer, team)
with a form that would succeed for the first team, and must be refused (403/404) with no
row of any table changed. Routes open to anyone (they act on the caller's own things or
carry their own token) are listed with the reason."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.support.world import HERNE_HILL, build_world, snapshot
from webapp.accounts.personal_data import refers_to_users
from webapp.extensions import db

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}

# endpoint -> why a second team's officer may use it at all (it names no first-team object).
OPEN_TO_ANYONE = {
    "accounts.login": "sign-in form for visitors",
    "accounts.signup": "sign-up form for visitors",
    "accounts.signin_link": "carries its own single-use token",
    "accounts.logout": "ends the caller's own session",
    "accounts.officer_login": "staff sign-in, first step",
    "accounts.officer_enrol": "staff sign-in, authenticator set-up for the caller",
    "accounts.officer_verify": "staff sign-in, second step for the caller",
    "accounts.officer_logout": "ends the caller's own session",
    "accounts.sign_out_everywhere": "ends the caller's own sessions on every device",
    "accounts.settings_email": "asks to change the caller's own address (residents only)",
    "accounts.confirm_email": "carries its own single-use token (the link to the new address)",
    "accounts.officer_password": "changes the caller's own password",
    "threads.admin_access": "an admin's own audited access step (refused to officers)",
    "delivery.unsubscribe_post": "RFC 8058 one-click unsubscribe: carries its own signed token",
    "delivery.unsubscribe_choose": "the unsubscribe page's choices: carries its own signed token",
    "meetings.cancel_by_link": "the confirmation email's cancel link: carries its own signed token",
    "incidents.stop_following": "an update email's Stop following link: carries its own signed token",
    "pwa.push_subscribe": "registers the caller's own device",
    "pwa.push_unsubscribe": "removes the caller's own device",
    "pwa.push_check": "checks the caller's own device",
    "alerts.new_alert": "composes an alert for the caller's own wards (resolve_target checks)",
    "alerts.preview": "counts an audience of the caller's own wards; changes nothing",
    "meetings.officer_new": "creates a meeting in the caller's own wards",
    "threads.officer_new_post": "posts to one of the caller's own wards",
    "accounts.follow_ward": "the caller (a resident) follows a public ward",
    "accounts.unfollow_ward": "the caller (a resident) stops following a ward",
}


def state_changing_rules(app):
    """(rule, method) for every state-changing route of the app, sorted."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted(STATE_CHANGING & rule.methods):
            yield rule, method


def urls_for(rule, ids: dict) -> list[str]:
    """The rule's URL(s) with the first team's ids; one URL per ``any(...)`` option."""
    urls = [rule.rule]
    for match in re.finditer(r"<any\(([^)]*)\):([a-z_]+)>", rule.rule):
        options = [o.strip().strip("'\"") for o in match.group(1).split(",")]
        urls = [u.replace(match.group(0), option) for u in urls for option in options]
    out = []
    for u in urls:
        def value(m):
            name = m.group(1)
            if name not in ids:
                raise AssertionError(f"{rule.rule}: no first-team object for <{name}>; add one "
                                     "to tests/support/world.py")
            return str(ids[name])
        out.append(re.sub(r"<(?:int:)?([a-z_]+)>", value, u))
    return out


def form_data(ids: dict, own_ward_id: int) -> dict:
    """A form that would succeed for the first team: every field the pages post."""
    return {"title": "Changed by another team", "body": "Changed", "category": "prevention",
            "channels": "email", "scope": "wards", "wards": str(own_ward_id), "when": "now",
            "urgent": "", "reason": "Another team's reason", "summary": "Changed summary",
            "answered": "1", "code": "ABCDEF", "subject": "Hi", "question": "q", "answer": "a",
            "lift": "", "description": "d", "venue_name": "v", "address": "a", "capacity": "5",
            "name": "Changed", "display_name": "Changed", "rank": "PC", "email": "x@example.org",
            "ward": str(own_ward_id), "topic": "burglary", "text": "t", "useful": "yes",
            "endpoint": "https://fcm.googleapis.com/fcm/send/x", "confirm": "y",
            "ward_codes": HERNE_HILL, "email_frequency": "off"}


@pytest.mark.parametrize("alert", ["london", "own"])
def test_second_teams_officer_is_refused_on_every_state_changing_route(
        app, client, login, make_resident, make_staff, alert):
    from webapp.wards.services import get_ward
    world = build_world(make_resident, make_staff)
    ids = dict(world.ids)
    if alert == "own":  # the first team's own alert, not the admin's London-wide one
        ids["alert_id"] = ids["own_alert_id"]
    other = make_staff("officer", wards=[HERNE_HILL], name="Officer Bravo")
    login(client, other)
    data = form_data(ids, get_ward(HERNE_HILL).id)
    before = snapshot()
    walked, holes = set(), []
    for rule, method in state_changing_rules(app):
        if rule.endpoint in OPEN_TO_ANYONE:
            continue
        for url in urls_for(rule, ids):
            for headers in ({}, {"HX-Request": "true"}):
                response = client.open(url, method=method, data=data, headers=headers)
                walked.add(rule.endpoint)
                if response.status_code not in (403, 404):
                    holes.append(f"{method} {url} {headers or ''}→ {response.status_code}")
                after = snapshot()
                changed = [t for t in before if before[t] != after[t]]
                if changed:
                    holes.append(f"{method} {url} changed {changed}")
                    before = after
    assert not holes, "\n".join(holes)
    # Every route was walked or is listed (and the list names only routes that exist).
    endpoints = {rule.endpoint for rule, _ in state_changing_rules(app)}
    assert set(OPEN_TO_ANYONE) <= endpoints, set(OPEN_TO_ANYONE) - endpoints
    assert walked | set(OPEN_TO_ANYONE) == endpoints
    assert len(walked) >= 30
    # The first team's alerts are as they were.
    from webapp.alerts.models import Alert
    db.session.expire_all()
    assert db.session.get(Alert, ids["alert_id"]).state == "scheduled"
    assert db.session.get(Alert, ids["alert_id"]).title != "Changed by another team"


def test_officer_seeing_part_of_a_london_alert_reads_it_but_cannot_change_it(
        app, client, login, make_resident, make_staff):
    """The reported case: an officer whose ward is one of a London-wide alert's audience
    sees it (its stats) but gets 403 on the edit page and on both POSTs; the admin who
    wrote it still can."""
    from webapp.alerts.models import Alert
    from webapp.wards.services import get_ward
    world = build_world(make_resident, make_staff)
    alert_id = world.ids["alert_id"]
    login(client, make_staff("officer", wards=[HERNE_HILL]))
    page = client.get(f"/officer/alerts/{alert_id}")
    assert page.status_code == 200 and b"Cancel this alert" not in page.data
    assert client.get(f"/officer/alerts/{alert_id}/edit").status_code == 403
    edit = client.post(f"/officer/alerts/{alert_id}/edit", data={
        "title": "Rewritten", "body": "Rewritten", "category": "prevention", "channels": "email",
        "scope": "wards", "wards": str(get_ward(HERNE_HILL).id), "when": "now"})
    assert edit.status_code == 403
    assert client.post(f"/officer/alerts/{alert_id}/cancel").status_code == 403
    db.session.expire_all()
    alert = db.session.get(Alert, alert_id)
    assert (alert.state, alert.title, alert.scope) == ("scheduled", "London-wide scheduled alert", "london")

    login(client, world.admin)
    assert b"Cancel this alert" in client.get(f"/officer/alerts/{alert_id}").data
    assert client.post(f"/officer/alerts/{alert_id}/cancel").status_code == 303
    db.session.expire_all()
    assert db.session.get(Alert, alert_id).state == "cancelled"
    # and the first team's own officer still manages their own alert
    login(client, world.officer)
    assert client.get(f"/officer/alerts/{world.ids['own_alert_id']}/edit").status_code == 200


# endpoint -> why a resident of another ward may use it: it acts on the caller's own things.
RESIDENT_OWN = {
    "accounts.survey": "the caller's own survey", "accounts.choose_ward": "own wards",
    "accounts.remove_ward": "own wards", "accounts.unmute_ward": "own wards", "accounts.settings_name": "own name",
    "accounts.settings_updates": "own choices", "accounts.settings_concerns": "own concerns",
    "accounts.delete_account": "own account (not walked: it would end the walk)",
    "threads.start": "starts the caller's own conversation",
    "meetings.rsvp": "any resident may go to any meeting (a row of their own)",
    "meetings.cancel": "cancels the caller's own RSVP, if any",
    "meetings.add_concern": "adds the caller's own concern (refused unless going)",
    "meetings.delete_concern": "deletes the caller's own concern only",
    "alerts.answer": "the answer is the caller's own (only the alert's audience may answer)",
    "pwa.remove_device": "removes the caller's own device only",
    "pwa.answer_push_prompt": "the caller's own answer to the notifications prompt",
    "accounts.phone_add": "texts a code for the caller's own number",
    "accounts.phone_confirm": "confirms the caller's own number",
    "accounts.phone_categories": "the caller's own text categories",
    "accounts.phone_remove": "removes the caller's own number only",
    "rumours.ask": "the caller's own rumour check, for one of their own wards",
}


def _rows_not_of(user_id: int) -> dict:
    """:func:`snapshot`, without the rows that belong to ``user_id`` (their own changes)."""
    tables = {}
    db.session.expire_all()
    for table in db.metadata.sorted_tables:
        # Reference data, and the page cache's bookkeeping (every write raises a table's
        # generation there: it is nobody's data; webapp/platform/pagecache.py).
        if table.name in ("boroughs", "wards", "ward_neighbours", "cache_generations"):
            continue
        links = [c for c in table.columns if refers_to_users(c)]
        if table.name == "users":
            links = [table.c.id]
        stmt = select(table)
        for link in links:
            stmt = stmt.where((link != user_id) | link.is_(None))
        tables[table.name] = sorted(tuple(map(repr, row)) for row in db.session.execute(stmt))
    return tables


def test_second_wards_resident_changes_nothing_of_the_first_teams(app, client, login,
                                                                   make_resident, make_staff):
    """The same walk as a resident of another ward: whatever a route does for the caller,
    no row of anyone else (the first team's objects, the first resident's) changes."""
    world = build_world(make_resident, make_staff)
    other = make_resident(HERNE_HILL, name="Resident Bravo")
    login(client, other)
    data = form_data(world.ids, other.home_ward.id)
    before = _rows_not_of(other.id)
    holes = []
    for rule, method in state_changing_rules(app):
        if rule.endpoint in OPEN_TO_ANYONE or rule.endpoint == "accounts.delete_account":
            continue
        for url in urls_for(rule, world.ids):
            response = client.open(url, method=method, data=data)
            if rule.endpoint not in RESIDENT_OWN and response.status_code not in (403, 404):
                holes.append(f"{method} {url} → {response.status_code}")
            after = _rows_not_of(other.id)
            changed = [t for t in before if before[t] != after[t]]
            if changed:
                holes.append(f"{method} {url} changed {changed}")
                before = after
    assert not holes, "\n".join(holes)
    assert set(RESIDENT_OWN) <= {rule.endpoint for rule, _ in state_changing_rules(app)}
