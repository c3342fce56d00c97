"""The officer's meetings list asks the database the same number of times for 1 meeting as
for 20: the going/waitlisted counts are one grouped query (they were two per row, called
from the template) and the audience labels load with the list."""
from __future__ import annotations

from datetime import timedelta

from tests.threads.conftest import QueryCounter
from webapp.extensions import db
from webapp.meetings import services


def _list_page_queries(client, login, officer) -> tuple[int, str]:
    login(client, officer)
    client.get("/officer/meetings")  # warm up: session loading, first-request work
    db.session.expire_all()
    with QueryCounter(db.engine) as counter:
        page = client.get("/officer/meetings").get_data(as_text=True)
    return counter.count, page


def test_meetings_list_queries_do_not_grow_with_the_meetings(app, client, login, make_staff,
                                                             make_resident, make_meeting):
    officer = make_staff("officer", wards=["E05013806", "E05014104"])
    first = make_meeting(officer=officer, capacity=1, title="Meeting 0", borough=True)
    going, waiting = make_resident("E05013806"), make_resident("E05013806")
    services.rsvp(first.id, going.id)
    services.rsvp(first.id, waiting.id)
    one, page = _list_page_queries(client, login, officer)
    assert "1 of 1 going · 1 waitlisted" in page

    for n in range(1, 20):
        meeting = make_meeting(officer=officer, title=f"Meeting {n}", wards=("E05014104",),
                               starts_in=timedelta(days=3, hours=n), borough=n % 2 == 0)
        if n % 3 == 0:
            services.rsvp(meeting.id, going.id)
    twenty, page = _list_page_queries(client, login, officer)
    assert page.count("of 50 going") == 19 and page.count("1 of 50 going · 0 waitlisted") == 6
    assert "All of Lambeth" in page
    assert twenty == one, f"{one} queries for 1 meeting, {twenty} for 20"
