"""The embedded database under its own companions (SQLite, WAL): every transaction begins
as a writer (BEGIN IMMEDIATE) and waits for the lock instead of failing "database is
locked" at once; error pages roll back a failed transaction before rendering."""
from __future__ import annotations

import sqlite3
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from tests.conftest import is_postgres, wait_until
from webapp.extensions import db

sqlite_only = pytest.mark.skipif(is_postgres(), reason="SQLite's one-writer rule")


@sqlite_only
def test_read_then_write_waits_for_another_writer(app, make_resident):
    """The bug class behind the 500 on choosing a ward: a request reads, another process
    commits a write, the request then writes. With a deferred (read) transaction SQLite
    cannot upgrade it and fails at once; begun IMMEDIATE, the other writer waits."""
    from webapp.accounts.models import User
    first_id, second_id = make_resident().id, make_resident().id
    read_done, errors, finished = threading.Event(), [], []

    def reader_then_writer():
        try:
            with app.app_context():
                name = db.session.scalar(select(User.display_name).where(User.id == first_id))
                read_done.set()
                time.sleep(0.5)  # the other writer tries to commit meanwhile
                db.session.execute(update(User).where(User.id == first_id)
                                   .values(display_name=name + " (edited)"))
                db.session.commit()
                finished.append("reader")
                db.session.remove()
        except Exception as exc:
            read_done.set()
            errors.append(exc)

    def other_writer():
        try:
            read_done.wait(10)
            with app.app_context():
                db.session.execute(update(User).where(User.id == second_id)
                                   .values(display_name="Other"))
                db.session.commit()
                finished.append("other")
                db.session.remove()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader_then_writer), threading.Thread(target=other_writer)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert not errors, errors
    assert finished == ["reader", "other"]  # the second writer waited for the first
    db.session.rollback()
    assert db.session.get(User, first_id).display_name.endswith("(edited)")


def test_error_page_renders_after_a_failed_flush(app, make_resident):
    """A request whose flush fails (here a duplicate address) gets the app's own 500 page,
    with the signed-in navigation, not a bare 500 from a PendingRollbackError."""
    from webapp import create_app
    from webapp.accounts.models import User
    resident = make_resident(name="Ada")
    config = {k: v for k, v in app.config.items() if k.isupper()}
    config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    failing = create_app(config)

    @failing.get("/test-failed-flush")
    def failed_flush():
        db.session.add(User(email=resident.email, display_name="Copy", role="resident"))
        db.session.flush()  # IntegrityError: the address is taken
        return "unreachable"

    client = failing.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = resident.get_id()
    try:
        response = client.get("/test-failed-flush")
        html = response.get_data(as_text=True)
        assert response.status_code == 500
        assert "Something went wrong" in html
        assert "Settings" in html  # the page's own queries (the signed-in user) worked
    finally:
        with failing.app_context():
            db.session.remove()
            db.engine.dispose()


@sqlite_only
def test_scheduler_first_tick_waits_for_a_busy_database(app, make_staff, make_resident, mail):
    """issue 13 point 20: the real ``flask scheduler`` starts while another process holds the
    write lock; its first ticks wait (busy timeout) and then do their work, instead of
    logging "database is locked"."""
    from tests.delivery.test_processes import start, stop
    from webapp.delivery.models import Delivery, Notification
    from webapp.threads import services
    officer = make_staff("officer", wards=["E05013806"])
    resident = make_resident("E05013806")
    services.start_conversation(resident, resident.home_ward, "Bikes", "Fast bikes on the path.")
    db.session.commit()
    # Awaiting since a minute ago, so the officer digest tick has work at once.
    from webapp.threads.models import Conversation
    from webapp.platform.timeutil import utcnow
    db.session.execute(update(Conversation).values(awaiting_since=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    officer_id = officer.id

    holder = sqlite3.connect(make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database,
                             isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE users SET display_name = display_name WHERE id = ?", (officer_id,))
    scheduler = start(["scheduler"], app, mail)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(scheduler.stdout.readline, "")),
                              daemon=True)
    reader.start()
    try:
        assert wait_until(lambda: any("scheduler running" in line for line in lines), 60), lines
        time.sleep(2)  # the first ticks have begun and are waiting for the lock
        holder.execute("COMMIT")

        def digest_queued():
            db.session.rollback()
            return db.session.scalar(select(Delivery.id).join(Delivery.notification).where(
                Notification.kind == "officer_digest", Delivery.user_id == officer_id))
        queued = wait_until(digest_queued, timeout=60)
    finally:
        holder.close()
        scheduler.stdout = None  # the reader thread owns the pipe
        code, _ = stop(scheduler)
        reader.join(5)
    out = "".join(lines)
    assert queued, out
    assert "database is locked" not in out and "failed" not in out, out


@sqlite_only
def test_sending_a_sign_in_email_does_not_hold_the_write_lock(app, make_resident, mail):
    """Transactional mail goes out after the commit, and the read transaction that building
    it began ends before talking to the mail server: a slow server must not hold up every
    other writer (on SQLite every transaction holds the write lock)."""
    from webapp.accounts.models import User
    resident_id = make_resident().id
    mail.delay = 3
    signing_up, timings, errors = threading.Event(), {}, []

    def sign_up():
        try:
            with app.app_context():
                client = app.test_client()
                signing_up.set()
                started = time.monotonic()
                response = client.post("/signup", data={"email": "slow@example.org",
                                                        "display_name": "Slow"})
                timings["signup"] = time.monotonic() - started
                assert response.status_code == 303
                db.session.remove()
        except Exception as exc:
            errors.append(exc)

    def write_meanwhile():
        try:
            signing_up.wait(10)
            time.sleep(1)  # the sign-up is waiting for the mail server now
            with app.app_context():
                started = time.monotonic()
                db.session.execute(update(User).where(User.id == resident_id)
                                   .values(display_name="Renamed"))
                db.session.commit()
                timings["write"] = time.monotonic() - started
                db.session.remove()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sign_up), threading.Thread(target=write_meanwhile)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert not errors, errors
    assert timings["signup"] >= 3
    assert timings["write"] < 1.5, timings


def _write_lock_is_held(app) -> bool:
    """Whether another connection would fail to take the write lock right now."""
    other = sqlite3.connect(make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database,
                            timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return True
    finally:
        other.close()


@sqlite_only
def test_write_blocks_take_the_lock_inside_read_only(app, make_resident):
    """A write inside read_only() (the test thread's mode, a worker's digest rendering)
    still begins IMMEDIATE: begun DEFERRED, a read before the write lets a live server's
    commit in between, and the write fails "database is locked" at once (a browser test
    did, adding an incident update while the page was still saving)."""
    from webapp.accounts.models import User
    from webapp.platform.db import read_only, write_connection, write_transaction
    user_id = make_resident().id
    db.session.commit()
    with read_only():
        db.session.scalar(select(User.id).where(User.id == user_id))
        assert not _write_lock_is_held(app)  # a read in read_only() holds no write lock
        db.session.rollback()
        with write_transaction():
            db.session.scalar(select(User.id).where(User.id == user_id))
            assert _write_lock_is_held(app)
        assert not _write_lock_is_held(app)
        with write_connection() as conn:
            conn.execute(select(User.id).where(User.id == user_id))
            assert _write_lock_is_held(app)
        assert not _write_lock_is_held(app)
