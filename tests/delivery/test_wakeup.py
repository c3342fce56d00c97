"""``flask deliver`` wakes when outbox rows are committed (PostgreSQL LISTEN/NOTIFY,
webapp/delivery/wakeup.py) instead of waiting for its next look: an idle loop sends
within moments of Send though it would sleep half a minute, a part writer starts the
parts of a fan-out at once, a rolled-back write wakes nobody, and the listening
connection comes back after PostgreSQL cut it. On SQLite the workers poll as before, and
stopping wakes them."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select, text

from tests.alerts.test_alerts import alert_input
from tests.conftest import is_postgres
from tests.delivery.test_outbox import reply_event
from webapp.alerts.services import create_alert, resolve_target
from webapp.delivery import notify
from webapp.delivery.fanout import write_parts
from webapp.delivery.models import Fanout
from webapp.delivery.wakeup import Wakeup, listener_url
from webapp.delivery.worker import batch_loop
from webapp.extensions import db
from webapp.wards.services import get_ward

ST_JAMES = "E05013806"
postgresql = pytest.mark.skipif(not is_postgres(), reason="LISTEN/NOTIFY: PostgreSQL")


@pytest.fixture
def wakeup(app):
    """A started Wakeup (on PostgreSQL: listening), stopped at the end."""
    woken = Wakeup(threading.Event())
    url = listener_url(db.engine)
    if url:
        woken.start(url)
        assert woken.listening.wait(10)
    yield woken
    woken.stop()
    woken.join(10)


def in_thread(app, target, *args, **kwargs) -> threading.Thread:
    def run():
        with app.app_context():
            target(*args, **kwargs)
            db.session.remove()
    thread = threading.Thread(target=run)
    thread.start()
    return thread


@postgresql
def test_a_commit_wakes_the_workers_and_a_rollback_does_not(app, make_resident, wakeup):
    user = make_resident(email_frequency="immediate")
    seen = wakeup.generation
    notify(user, reply_event(1))
    assert not wakeup.wait(seen, 0.3)  # not before the commit
    db.session.rollback()
    assert not wakeup.wait(seen, 0.5)
    notify(user, reply_event(2))
    db.session.commit()
    started = time.monotonic()
    assert wakeup.wait(seen, 5)
    assert time.monotonic() - started < 1


@postgresql
def test_an_idle_batch_loop_sends_at_once_after_a_commit(app, make_resident, mail, wakeup):
    """The loop has looked and found nothing; it would sleep 30 s; the resident's email
    arrives within a few seconds of the commit all the same."""
    user = make_resident(email_frequency="immediate")
    loop = in_thread(app, batch_loop, wakeup.stopping, batch_size=10, idle_sleep=30,
                     pause=0, wakeup=wakeup)
    try:
        time.sleep(0.5)  # its first look is done: it waits
        notify(user, reply_event(1))
        db.session.commit()
        assert len(mail.wait_for(1, timeout=5)) == 1
    finally:
        wakeup.stop()
        loop.join(10)
    assert not loop.is_alive()


@postgresql
def test_a_part_writer_starts_a_fan_out_at_once(app, make_staff, make_resident, wakeup,
                                                monkeypatch):
    """Send commits a fan-out of several parts; the part writer, which would look again
    only in 30 s, writes them within moments."""
    monkeypatch.setitem(app.config, "FANOUT_PART_SIZE", 2)
    officer = make_staff("officer", wards=[ST_JAMES])
    for _ in range(7):
        make_resident(ST_JAMES)
    db.session.commit()
    writer = in_thread(app, write_parts, wakeup.stopping, poll=30, wakeup=wakeup)
    try:
        time.sleep(0.5)  # its first look is done: it waits
        create_alert(officer, alert_input(resolve_target(officer, "wards",
                                                         [get_ward(ST_JAMES).id]),
                                          channels=["email"]))
        db.session.commit()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            db.session.rollback()
            if db.session.scalar(select(Fanout.state)) == "done":
                break
            time.sleep(0.05)
        assert db.session.scalar(select(Fanout.state)) == "done"
    finally:
        wakeup.stop()
        writer.join(10)


@postgresql
def test_the_listening_connection_comes_back(app, make_resident, wakeup, monkeypatch):
    import webapp.delivery.wakeup as module
    monkeypatch.setattr(module, "RECONNECT_AFTER", 0.1)
    cut = db.session.execute(text(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'wardline outbox wake-up' AND datname = current_database()"
    )).scalars().all()
    db.session.commit()
    assert cut == [True]
    deadline = time.monotonic() + 10
    while wakeup.listening.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)  # the thread notices the cut
    assert wakeup.listening.wait(10)  # and listens again
    seen = wakeup.generation
    notify(make_resident(email_frequency="immediate"), reply_event(1))
    db.session.commit()
    assert wakeup.wait(seen, 5)


def test_stopping_wakes_a_waiting_loop(app, wakeup):
    """On either database: a loop waiting for its next look ends as soon as the worker
    stops (SIGTERM), not when its sleep is over."""
    loop = in_thread(app, batch_loop, wakeup.stopping, batch_size=10, idle_sleep=30,
                     pause=0, wakeup=wakeup)
    time.sleep(0.5)
    started = time.monotonic()
    wakeup.stop()
    loop.join(10)
    assert not loop.is_alive()
    assert time.monotonic() - started < 2


def test_sqlite_has_no_listener(app):
    assert (listener_url(db.engine) is None) == (not is_postgres())
