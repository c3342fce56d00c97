"""The page cache (webapp/platform/pagecache.py): what the ward home computes once is shown
again without its queries, and a change to one of its tables shows at once, even when
another process (here: another database session, as another gunicorn worker would) made it."""
from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.pages import ST_JAMES
from tests.support.queries import QueryGuard
from webapp.extensions import db
from webapp.platform import pagecache


def _respondents(html: str) -> int | None:
    found = re.search(r"(\d+) residents answered", html)
    return int(found.group(1)) if found else None


def test_the_ward_chart_changes_at_once(app, make_resident):
    for _ in range(5):
        make_resident(ST_JAMES, concerns=("burglary",))
    browser = app.test_client()
    assert _respondents(browser.get(f"/wards/{ST_JAMES}").get_data(as_text=True)) == 5
    with QueryGuard(app) as guard:
        db.session.remove()
        html = browser.get(f"/wards/{ST_JAMES}").get_data(as_text=True)
    assert _respondents(html) == 5
    assert not any("concerns" in s for s in guard.statements), "the chart was not cached"
    make_resident(ST_JAMES, concerns=("asb",))  # one more answer: the very next page shows it
    db.session.remove()
    html = browser.get(f"/wards/{ST_JAMES}").get_data(as_text=True)
    assert _respondents(html) == 6


def test_a_change_made_elsewhere_shows_at_once(app, make_resident, make_staff):
    """A ward post written through a session of its own (another worker): the next request
    here shows it, though this process cached the ward home before."""
    from webapp.posts.models import WardPost
    from webapp.wards.models import Ward
    officer = make_staff("officer", wards=[ST_JAMES])
    browser = app.test_client()
    assert "Road closed on Friday" not in browser.get(f"/wards/{ST_JAMES}").get_data(as_text=True)
    with Session(db.engine) as other:
        ward_id = other.scalar(select(Ward.id).where(Ward.code == ST_JAMES))
        other.add(WardPost(ward_id=ward_id, author_id=officer.id, author_label="PC",
                           kind="post", title="Road closed on Friday", body="Until noon."))
        other.commit()
    db.session.remove()
    assert "Road closed on Friday" in browser.get(f"/wards/{ST_JAMES}").get_data(as_text=True)


def test_a_rolled_back_write_raises_no_generation(app, make_resident):
    make_resident(ST_JAMES, concerns=("burglary",))
    before = dict(pagecache.generations())
    db.session.remove()
    make_resident(ST_JAMES, concerns=("asb",))
    db.session.remove()
    after = dict(pagecache.generations())
    assert after["concerns"] == before["concerns"] + 1
    from webapp.accounts.models import Concern
    db.session.add(Concern(user_id=None, respondent_key="x" * 24, ward_id=1, topic="asb"))
    db.session.flush()
    db.session.rollback()
    db.session.remove()
    assert pagecache.generations()["concerns"] == after["concerns"]


def test_staff_see_the_ward_home_uncached(app, make_staff, login):
    """Staff get their own tools in the sections (set priorities): never the cached ones."""
    officer = make_staff("officer", wards=[ST_JAMES])
    visitor = app.test_client().get(f"/wards/{ST_JAMES}").get_data(as_text=True)
    assert "Set priorities for" not in visitor
    client = app.test_client()
    login(client, officer)
    assert "Set priorities for" in client.get(f"/wards/{ST_JAMES}").get_data(as_text=True)


def test_a_commit_needs_one_connection_at_a_time(app, make_resident):
    """Raising the generations waits until the session has given its connection back: with
    a pool of one connection, a write to a watched table still commits and raises them (it
    used to take a second connection while holding the first, so as many writers at once
    as the pool held waited on each other for the pool's timeout, then failed)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import QueuePool

    from webapp.accounts.models import Concern
    resident = make_resident(ST_JAMES)
    engine = create_engine(db.engine.url, poolclass=QueuePool, pool_size=1, max_overflow=0,
                           pool_timeout=1)
    try:
        with engine.connect() as conn:
            before = dict(conn.execute(select(pagecache.CacheGeneration.name,
                                              pagecache.CacheGeneration.generation)).all())
        with Session(engine) as session:
            session.add(Concern(user_id=resident.id, respondent_key=resident.respondent_key,
                                ward_id=resident.home_ward.id, topic="asb"))
            session.commit()  # raised a pool TimeoutError before
        with engine.connect() as conn:
            after = dict(conn.execute(select(pagecache.CacheGeneration.name,
                                             pagecache.CacheGeneration.generation)).all())
    finally:
        engine.dispose()
    assert after["concerns"] != before.get("concerns")


def test_rows_reads_on_the_sessions_connection_after_flushing(app, make_resident):
    """``rows()`` (platform/db.py): a statement of columns without the ORM's execution path,
    in the session's transaction, seeing what the session has pending (as its autoflush)."""
    from sqlalchemy import event, func
    from sqlalchemy.orm import Session as OrmSession

    from webapp.accounts.models import User
    from webapp.platform.db import rows
    resident = make_resident(ST_JAMES)
    resident_id = resident.display_name and resident.id  # loaded before listening
    seen = []

    def listener(state):
        seen.append(state.statement)
    event.listen(OrmSession, "do_orm_execute", listener)
    try:
        before = rows(select(func.count()).select_from(User)).scalar()
        resident.display_name = "Renamed"  # pending: flushed before the read
        assert rows(select(User.display_name).where(User.id == resident_id)).scalar() == "Renamed"
        db.session.add(User(email="new.person@example.org", display_name="New"))
        assert rows(select(func.count()).select_from(User)).scalar() == before + 1
        pagecache.generations()
    finally:
        event.remove(OrmSession, "do_orm_execute", listener)
    db.session.rollback()
    assert seen == []  # none went through Session.execute
