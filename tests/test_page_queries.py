"""Every page of ``tests/pages.py`` runs at most ``MAX_QUERIES`` SQL statements, however much
data there is, and no template lazy-loads (a relationship or an expired column read while
rendering: one query per row of a list).

Counted on a fresh database session per request (as in production, where every request
has its own), on the second request for the URL: process-wide caches (the page cache's
aggregates, the wards) are warm, as they are on a busy server; a visitor's stored response
(``webapp.platform.pagestore``, one statement on a connection of its own) is forgotten
first, so the page is rendered and counted. Lazy loads are refused on
both requests. Every page is held to it: a page over fails the sweep, with what it runs.
"""
from __future__ import annotations

import pytest

from tests.pages import PAGES, build_world
from tests.support.queries import QueryGuard
from webapp.extensions import db
from webapp.platform import pagestore

MAX_QUERIES = 6


@pytest.fixture
def world(app, make_resident, make_staff, monkeypatch):
    # The wards' per-process copy is checked against its generation every 10 s: on a slow
    # run a sweep's counted request could pay that check (a query a page pays at most once
    # in 10 s, not per request). Checked once, then held, so the counts do not depend on time.
    from webapp.wards import services as wards
    monkeypatch.setattr(wards, "REFERENCE_CHECK_SECONDS", float("inf"))
    return build_world(make_resident, make_staff)


def sweep(app, world) -> dict[str, tuple[int, list[str], list[str]]]:
    """{page id: (statements, their first lines, lazy loads while rendering)}."""
    sessions = {role: world.session_for(role) for role in {page.role for page in PAGES}}
    found = {}
    with QueryGuard(app) as guard:
        for page in PAGES:
            client = app.test_client()
            if sessions[page.role]:
                with client.session_transaction() as sess:
                    sess.update(sessions[page.role])
            headers = {"HX-Request": "true"} if page.fragment else {}
            lazy = []
            for _ in range(2):
                db.session.remove()  # a request's own session, as in production
                pagestore.clear()  # counted when rendered
                guard.reset()
                response = client.get(page.url(world), headers=headers)
                assert response.status_code == page.status, page.id
                lazy += guard.lazy_in_render
            found[page.id] = (len(guard.statements),
                              [s.split("\n")[0][:100] for s in guard.statements], lazy)
    db.session.remove()
    return found


def test_no_page_runs_more_than_six_queries_or_lazy_loads(app, world):
    found = sweep(app, world)
    over = {pid for pid, (count, _, lazy) in found.items() if count > MAX_QUERIES or lazy}
    report = "\n".join(f"{pid}: {found[pid][0]} queries, lazy loads in templates: {found[pid][2]}\n    "
                       + "\n    ".join(found[pid][1]) for pid in sorted(over))
    assert over == set(), "pages over the limit:\n" + report


def test_the_guard_sees_a_lazy_load_in_a_template(app, world):
    """The guard itself: a template reading a relationship nobody loaded is caught."""
    from flask import render_template_string
    from sqlalchemy import select

    from webapp.wards.models import Ward
    with QueryGuard(app) as guard, app.test_request_context():
        db.session.remove()
        ward = db.session.scalar(select(Ward).where(Ward.code == "E05013806"))
        render_template_string("{{ ward.neighbours|length }}", ward=ward)
    assert guard.lazy_in_render and len(guard.statements) == 2


def test_query_counts_do_not_grow_with_the_data(app, world, make_resident):
    """Ten times the conversations, messages, posts and residents: the same counts."""
    from webapp import posts
    from webapp.threads import services as threads
    from webapp.wards.services import get_ward
    before = {pid: count for pid, (count, _, _) in sweep(app, world).items()}
    ward = get_ward("E05013806")
    resident = db.session.merge(world.users["resident"])
    officer = db.session.merge(world.users["officer"])
    for i in range(10):
        conversation = threads.start_conversation(resident, ward, f"More {i}", "Another question.")
        db.session.flush()
        threads.add_message(conversation, officer, "An answer.")
        posts.create_ward_post(ward, officer, f"Post {i}", "More news.")
        make_resident("E05013806", concerns=("burglary", "asb"))
    db.session.commit()
    after = {pid: count for pid, (count, _, _) in sweep(app, world).items()}
    grew = {pid: (before[pid], after[pid]) for pid in before if after[pid] > before[pid]}
    assert grew == {}
