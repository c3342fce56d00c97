"""A large alert is written to the outbox in parts of user ids (webapp.delivery.fanout):
the first in the Send transaction, the rest by the workers, each part exactly once, and a
worker killed half-way leaves nothing half-written (the next one finishes the job)."""
from __future__ import annotations

import signal
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from tests.alerts.test_alerts import alert_input
from tests.delivery.test_processes import start
from webapp.alerts.services import audience_counts, create_alert, resolve_target, send_alert
from webapp.alerts.audience import audience_of
from webapp.delivery.fanout import progress, write_next_part, write_parts
from webapp.delivery.models import Delivery, Fanout, FanoutPart
from webapp.delivery.services import Event, fan_out
from webapp.delivery.worker import claim
from webapp.extensions import db
from webapp.platform.db import write_transaction
from webapp.wards.services import get_ward

ST_JAMES = "E05013806"


@pytest.fixture
def small_parts(app):
    """Parts of ``size`` user ids (the default, 20,000, puts a test's users in one part)."""
    before = app.config["FANOUT_PART_SIZE"]

    def set_size(size):
        app.config["FANOUT_PART_SIZE"] = size
    yield set_size
    app.config["FANOUT_PART_SIZE"] = before


def write_every_part(spy, when: str) -> None:
    """Write every waiting part (as a part writer does) with ``spy`` listening to the
    engine's statements (``when``: "before_cursor_execute" or "after_cursor_execute")."""
    from sqlalchemy import event
    event.listen(db.engine, when, spy)
    try:
        while write_next_part() is not None:
            pass
    finally:
        event.remove(db.engine, when, spy)


def email_alert_to_residents(n: int, make_staff, make_resident) -> None:
    """An officer of St James's sends an email alert to its ``n`` residents (committed)."""
    officer = make_staff("officer", wards=[ST_JAMES])
    for _ in range(n):
        make_resident(ST_JAMES)
    create_alert(officer, alert_input(resolve_target(officer, "wards", [get_ward(ST_JAMES).id]),
                                      channels=["email"]))
    db.session.commit()


def rows_by_user():
    return Counter((d.user_id, d.channel) for d in db.session.scalars(select(Delivery)))


def test_a_small_audience_is_written_whole_in_the_send_transaction(app, make_staff,
                                                                   make_resident):
    officer = make_staff("officer", wards=[ST_JAMES])
    people = [make_resident(ST_JAMES) for _ in range(3)]
    alert = create_alert(officer, alert_input(resolve_target(officer, "wards",
                                                             [get_ward(ST_JAMES).id])))
    db.session.commit()
    assert rows_by_user() == Counter({(p.id, "email"): 1 for p in people})
    job = db.session.scalar(select(Fanout))
    assert (job.state, job.parts, job.parts_done, job.rows) == ("done", 1, 1, 3)
    assert progress("alert", alert.id) is None
    assert write_next_part() is None  # nothing left for the workers


def test_parts_are_written_by_the_workers_exactly_once(app, make_staff, make_resident,
                                                       small_parts):
    small_parts(2)
    officer = make_staff("officer", wards=[ST_JAMES])
    people = [make_resident(ST_JAMES, email_frequency=f)
              for f in ("immediate", "digest", "off", "immediate", "immediate", "digest", "immediate")]
    ward = [get_ward(ST_JAMES).id]
    expected = audience_counts(ward, "prevention", ["email"], False)
    alert = create_alert(officer, alert_input(resolve_target(officer, "wards", ward),
                                              channels=["email"]))
    db.session.commit()
    job = progress("alert", alert.id)
    assert job is not None and job.state == "sending"
    assert job.parts == 4 and job.parts_done == 1  # officer + 7 residents, 2 ids a part
    # The first part (the officer and the first resident) is already due.
    assert rows_by_user() == Counter({(people[0].id, "email"): 1})
    db.session.rollback()
    assert claim(10)[1]  # the workers can start before the rest is written
    # Sending the alert again (a double click, a second scheduler) writes nothing more.
    with write_transaction():
        assert send_alert(alert.id) == 0
    written = []
    while (n := write_next_part()) is not None:
        written.append(n)
    assert written == [1, 2, 2]  # (digest, off), (immediate × 2), (digest, immediate)
    db.session.rollback()
    rows = rows_by_user()
    assert set(rows.values()) == {1}  # exactly once
    assert sum(1 for _, c in rows if c == "email") == expected.email_now
    assert sum(1 for _, c in rows if c == "digest") == expected.digest
    job = db.session.get(Fanout, job.id)
    db.session.refresh(job)
    assert (job.state, job.parts_done, job.rows) == ("done", 4, len(rows))
    assert job.finished_at is not None
    assert progress("alert", alert.id) is None
    assert all(p.done_at is not None for p in db.session.scalars(select(FanoutPart)))


def test_the_part_written_in_the_send_is_the_smaller_first_part(app, make_staff, make_resident,
                                                                small_parts):
    """With more than one part, the part written in the Send transaction is
    ``FANOUT_FIRST_PART_SIZE`` ids: Send commits sooner (and the workers, which wait for
    it, start sooner); the others are ``FANOUT_PART_SIZE`` ids. Every id is in one part."""
    small_parts(3)
    before = app.config["FANOUT_FIRST_PART_SIZE"]
    app.config["FANOUT_FIRST_PART_SIZE"] = 1
    try:
        officer = make_staff("officer", wards=[ST_JAMES])
        people = [make_resident(ST_JAMES) for _ in range(6)]
        create_alert(officer, alert_input(resolve_target(officer, "wards",
                                                         [get_ward(ST_JAMES).id]),
                                          channels=["email"]))
        db.session.commit()
    finally:
        app.config["FANOUT_FIRST_PART_SIZE"] = before
    parts = db.session.execute(select(FanoutPart.first_user_id, FanoutPart.last_user_id)
                               .order_by(FanoutPart.id)).all()
    lo, hi = officer.id, people[-1].id
    assert parts[0] == (lo, lo) and all(b - a == 2 for a, b in parts[1:-1])
    assert [a for a, _ in parts[1:]] == [b + 1 for _, b in parts[:-1]] and parts[-1][1] == hi
    assert rows_by_user() == Counter()  # the officer alone: no email for them
    while write_next_part() is not None:
        pass
    db.session.rollback()
    assert rows_by_user() == Counter({(p.id, "email"): 1 for p in people})


def test_the_officer_sees_the_alert_sending_until_every_part_is_written(
        app, client, login, make_staff, make_resident, small_parts):
    small_parts(2)
    officer = make_staff("officer", wards=[ST_JAMES])
    for _ in range(3):
        make_resident(ST_JAMES)
    alert = create_alert(officer, alert_input(resolve_target(officer, "wards",
                                                             [get_ward(ST_JAMES).id])))
    db.session.commit()
    login(client, officer)
    html = client.get(f"/officer/alerts/{alert.id}").get_data(as_text=True)
    assert "Sending: 1 of 2 parts of the audience written, 1 message queued so far." in html
    while write_next_part() is not None:
        pass
    html = client.get(f"/officer/alerts/{alert.id}").get_data(as_text=True)
    assert 'id="fanout-progress"' not in html


def test_a_worker_killed_half_way_loses_and_duplicates_nothing(app, make_staff, make_resident,
                                                               small_parts, mail):
    """A real ``flask deliver`` writes parts of one user id each (and sends what they
    queue); SIGKILL half-way, then the remaining parts are written by another worker."""
    small_parts(1)
    officer = make_staff("officer", wards=[ST_JAMES])
    people = [make_resident(ST_JAMES) for _ in range(40)]
    ward = [get_ward(ST_JAMES).id]
    alert = create_alert(officer, alert_input(resolve_target(officer, "wards", ward),
                                              channels=["email"]))
    db.session.commit()
    job_id = progress("alert", alert.id).id
    db.session.rollback()

    def parts_done():
        db.session.rollback()
        return db.session.scalar(select(func.count()).select_from(FanoutPart).where(
            FanoutPart.done_at.is_not(None)))

    worker = start(["deliver", "--idle-sleep", "0.05", "--loops", "1"], app, mail,
                   FANOUT_PART_SIZE="1")
    try:
        deadline = time.monotonic() + 60
        while parts_done() < 6 and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.communicate(timeout=15)
    done = parts_done()
    assert 6 <= done < 41, "the worker was to be killed half-way"
    db.session.rollback()
    assert len(rows_by_user()) == done - 1  # each part done holds its resident's row (the
    # officer's part holds none), and no part is half-written
    while write_next_part() is not None:  # the next worker finishes the job
        pass
    db.session.rollback()
    assert rows_by_user() == Counter({(p.id, "email"): 1 for p in people})
    job = db.session.get(Fanout, job_id)
    assert (job.state, job.parts_done, job.rows) == ("done", 41, 40)


def test_part_writers_take_the_parts_as_soon_as_send_commits_each_part_once(
        app, make_staff, make_resident, small_parts):
    """Four part writers (as two ``flask deliver`` processes run), already waiting when
    Send commits, write the parts side by side: every part once, every row once."""
    small_parts(2)
    officer = make_staff("officer", wards=[ST_JAMES])
    people = [make_resident(ST_JAMES) for _ in range(19)]
    db.session.commit()
    stopping = threading.Event()

    def writer():
        with app.app_context():
            write_parts(stopping, poll=0.01)
            db.session.remove()

    writers = [threading.Thread(target=writer) for _ in range(4)]
    for thread in writers:
        thread.start()
    try:
        alert = create_alert(officer, alert_input(resolve_target(
            officer, "wards", [get_ward(ST_JAMES).id]), channels=["email"]))
        db.session.commit()  # Send: the first part only (officer + one resident)
        job_id = db.session.scalar(select(Fanout.id))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            db.session.rollback()
            if db.session.get(Fanout, job_id).state == "done":
                break
            time.sleep(0.01)
    finally:
        stopping.set()
        for thread in writers:
            thread.join(30)
    db.session.rollback()
    assert rows_by_user() == Counter({(p.id, "email"): 1 for p in people})
    job = db.session.get(Fanout, job_id)
    assert (job.state, job.parts, job.parts_done, job.rows) == ("done", 10, 10, 19)
    assert progress("alert", alert.id) is None


def test_a_part_audience_is_the_audience_within_its_user_ids(app, make_staff, make_resident):
    """Each part reads only its own range of user ids (every table of the audience's
    SELECT is limited to it) and gets exactly the audience's members within it."""
    officer = make_staff("officer", wards=[ST_JAMES])
    people = [make_resident(ST_JAMES, categories=c, extra_wards=x)
              for c, x in ((("prevention",), ()), (("events",), ()), (("prevention",), ()),
                           (("prevention",), ("E05014104",)), (("prevention", "events"), ()))]
    muted = make_resident("E05014104", categories=("prevention",))
    alert = create_alert(officer, alert_input(resolve_target(officer, "wards",
                                                             [get_ward(ST_JAMES).id])))
    db.session.commit()
    everyone = sorted(db.session.scalars(select(audience_of(alert.id).subquery().c.user_id)))
    assert everyone == [people[0].id, people[2].id, people[3].id, people[4].id]
    assert muted.id not in everyone
    lo, hi = people[1].id, people[3].id
    part = audience_of(alert.id, users=(lo, hi))
    assert sorted(db.session.scalars(select(part.subquery().c.user_id))) == [people[2].id,
                                                                          people[3].id]
    sql = str(part.compile(db.engine))
    assert sql.count("BETWEEN") == 3  # users, user_wards and user_categories


def test_a_part_whose_writer_dies_is_taken_by_the_next(app, make_staff, make_resident,
                                                       small_parts):
    """A writer's connection that ends mid-part (its process killed) leaves the part
    waiting, and the next writer takes it (PostgreSQL: the lock goes with the
    connection; SQLite: the write lock)."""
    small_parts(2)
    officer = make_staff("officer", wards=[ST_JAMES])
    people = [make_resident(ST_JAMES) for _ in range(5)]  # three parts, two waiting
    alert = create_alert(officer, alert_input(resolve_target(officer, "wards",
                                                             [get_ward(ST_JAMES).id])))
    db.session.commit()
    job_id = progress("alert", alert.id).id
    db.session.rollback()
    dying = db.engine.connect()
    try:
        held = dying.execute(select(FanoutPart.id).where(FanoutPart.done_at.is_(None))
                             .order_by(FanoutPart.id).limit(1)
                             .with_for_update(skip_locked=True)).scalar()
        assert held is not None
        if db.engine.dialect.name == "postgresql":
            # The other writers skip the part it holds (and take the next).
            assert write_next_part() is not None
    finally:
        dying.invalidate()  # its connection closed, as when the process is killed
        dying.close()
    while write_next_part() is not None:
        pass
    db.session.rollback()
    assert rows_by_user() == Counter({(p.id, "email"): 1 for p in people})
    assert db.session.get(Fanout, job_id).state == "done"


def test_a_part_whose_rows_exist_already_skips_them(app, make_staff, make_resident,
                                                     small_parts):
    """Part writers write with a plain INSERT (no row of a part can exist yet); should
    some exist all the same (the same broadcast written before fan-outs had parts), the
    part is written again skipping them: every row once, the part done."""
    small_parts(2)
    officer = make_staff("officer", wards=[ST_JAMES])
    people = [make_resident(ST_JAMES) for _ in range(5)]
    alert = create_alert(officer, alert_input(resolve_target(officer, "wards",
                                                             [get_ward(ST_JAMES).id]),
                                              channels=["email"]))
    db.session.commit()
    job = progress("alert", alert.id)
    waiting = db.session.scalar(select(FanoutPart).where(FanoutPart.done_at.is_(None))
                                .order_by(FanoutPart.id).limit(1))
    users = (waiting.first_user_id, waiting.last_user_id)
    event = Event(kind="alert", source_type="alert", source_id=alert.id, title=alert.title,
                  category=alert.category)
    with write_transaction():  # one of the part's rows written beforehand
        assert fan_out(event, audience_of(alert.id, users=(users[0], users[0])),
                       channels=("email",), notification_id=job.notification_id,
                       users=(users[0], users[0])) == 1
    assert write_next_part() == (users[1] - users[0])  # the part's other resident only
    while write_next_part() is not None:
        pass
    db.session.rollback()
    assert rows_by_user() == Counter({(p.id, "email"): 1 for p in people})
    assert db.session.get(FanoutPart, waiting.id).done_at is not None
    assert db.session.get(Fanout, job.id).state == "done"


def test_batch_loops_yield_to_the_part_writers_while_they_write(app, make_resident, mail):
    """While a part writer of the process writes, a batch loop sends one batch at once
    (the first messages of an alert are not held back) and then waits (up to
    ``FANOUT_SEND_PAUSE``) before the next, leaving the cores to the writer; once the
    writer is done, the loop goes on at once."""
    from webapp.delivery import notify
    from webapp.delivery.fanout import _writing
    from webapp.delivery.worker import batch_loop
    people = [make_resident(ST_JAMES) for _ in range(3)]
    for person in people:
        notify(person, Event(kind="reply", source_type="report", source_id=person.id,
                             title="A reply"))
    db.session.commit()
    stopping = threading.Event()

    def sent():
        db.session.rollback()
        return db.session.scalar(select(func.count()).select_from(Delivery)
                                 .where(Delivery.state == "sent"))

    def loop():
        with app.app_context():
            batch_loop(stopping, batch_size=1, idle_sleep=0.01, pause=30)
            db.session.remove()

    thread = threading.Thread(target=loop)
    try:
        with _writing:  # a part writer of this process is writing a part
            assert not _writing.idle.is_set()
            thread.start()
            deadline = time.monotonic() + 10
            while sent() < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.5)  # the other two were due all along
            assert sent() == 1
        assert _writing.idle.is_set()
        deadline = time.monotonic() + 10  # far less than the pause
        while sent() < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sent() == 3
    finally:
        stopping.set()
        thread.join(30)
    assert len(mail.wait_for(3)) == 3


def test_a_part_writers_insert_is_compiled_once_not_for_every_part(app, make_staff,
                                                                   make_resident, small_parts):
    """The parts' INSERT is cached by SQLAlchemy (the dialect's INSERT, used for ON
    CONFLICT, cannot be: compiling it again cost every part ~20 ms of its writer's CPU)."""
    from sqlalchemy.engine import default
    small_parts(2)
    email_alert_to_residents(7, make_staff, make_resident)
    seen = []

    def spy(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("WITH") or statement.startswith("INSERT INTO deliveries"):
            seen.append(context.cache_hit)

    write_every_part(spy, "after_cursor_execute")
    assert len(seen) == 3  # the parts after the first, in the Send
    assert seen[1:] == [default.CACHE_HIT] * 2, seen


def test_a_london_wide_part_binds_no_ward_ids_and_reaches_the_same_people(
        app, make_staff, make_resident, small_parts):
    """A London-wide alert's parts ask only that a resident follows some ward they have
    not muted: the same people as testing each of their wards against all ~700 ids,
    which every part's statement carried (and PostgreSQL tested for every resident)."""
    from webapp.accounts import residents_following
    from webapp.accounts.models import UserWard
    small_parts(3)
    admin = make_staff("admin")
    people = [make_resident(code, categories=cats) for code, cats in (
        (ST_JAMES, ("prevention",)), ("E05014104", ("prevention",)),
        (ST_JAMES, ("events",)), ("E05014104", ("prevention", "events")),
        (ST_JAMES, ("prevention",)))]
    db.session.execute(UserWard.__table__.update().where(UserWard.user_id == people[4].id)
                       .values(muted=True))
    db.session.commit()
    london = resolve_target(admin, "london")
    assert len(london.ward_ids) > 600
    create_alert(admin, alert_input(london, channels=["email"]))
    db.session.commit()
    alert_id = db.session.scalar(select(Fanout.audience_id))
    expected = sorted(db.session.scalars(select(residents_following(
        london.ward_ids, "prevention").subquery().c.user_id)))
    assert expected == [people[0].id, people[1].id, people[3].id]
    assert sorted(db.session.scalars(select(audience_of(alert_id).subquery().c.user_id))) \
        == expected
    bound = []

    def spy(conn, cursor, statement, parameters, context, executemany):
        if "INSERT INTO deliveries" in statement:
            bound.append(len(parameters))

    write_every_part(spy, "before_cursor_execute")
    assert bound and max(bound) < 30, bound  # no ward ids (there were ~700 a part)
    assert rows_by_user() == Counter({(p.id, "email"): 1 for p in people[:4] if p.id in expected})


def test_batch_loops_go_on_yielding_between_two_parts(app, monkeypatch):
    """Between two parts of a run a writer is still "writing" for the batch loops (they
    used to send a batch in every such moment), until it finds no part waiting."""
    from webapp.delivery import fanout
    seen, results = [], iter([7, 7, None])
    stopping = threading.Event()

    def one_part(look_first=True, now=None):
        seen.append(fanout._writing.idle.is_set())
        wrote = next(results)
        if wrote is None:
            stopping.set()
        return wrote

    monkeypatch.setattr(fanout, "write_next_part", one_part)
    fanout.write_parts(stopping, poll=0.01)
    assert seen == [True, False, False]  # idle before the first part, not between parts
    assert fanout._writing.idle.is_set()  # none waiting: the loops go on at once


def test_every_part_is_planned_for_its_own_values(app, make_staff, make_resident, small_parts):
    """Once psycopg prepares the parts' INSERT (from its fifth run on a connection),
    PostgreSQL may settle on a generic plan for it, which built an alert's ward ids (a
    parameter each) into an array again for every resident: ~20 % of a London-wide
    fan-out's PostgreSQL time. Each part's transaction asks for a custom plan, even
    where the connection would take the generic one."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plan cache")
    from sqlalchemy import text
    small_parts(1)
    email_alert_to_residents(9, make_staff, make_resident)
    db.session.remove()
    db.engine.dispose()  # from here the pool holds one connection: the writer's
    with db.engine.connect() as conn:
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        conn.commit()
    parts = 0
    while write_next_part(look_first=False) is not None:
        parts += 1
    assert parts >= 8
    plans = db.session.execute(text(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
        "WHERE statement LIKE '%INSERT INTO deliveries%'")).all()
    db.session.execute(text("RESET plan_cache_mode"))
    db.session.commit()
    assert plans and all(generic == 0 for generic, _custom in plans), plans
    assert sum(custom for _generic, custom in plans) >= 3, plans  # the prepared runs
