"""Both push senders (``PUSH_SENDER``: "threads", webapp/delivery/push.py; "asyncio",
webapp/delivery/push_async.py) keep every rule: the outbox's push tests run against each,
and neither trusts a certificate it cannot verify."""
from __future__ import annotations

import socket
import ssl
import threading
import time

import pytest

from tests.delivery import test_outbox, test_push_safety
from tests.support.push_service import FakeUserAgent
from tests.support.tls import certificate
from webapp.delivery.push import PushClient
from webapp.delivery.push_async import AsyncPushClient
from webapp.delivery.subscriptions import vapid

SENDERS = ["threads", "asyncio"]


@pytest.fixture(params=SENDERS)
def sender(request, app):
    before = app.config["PUSH_SENDER"]
    app.config["PUSH_SENDER"] = request.param
    yield request.param
    app.config["PUSH_SENDER"] = before


def run_with(check, sender, request):
    """Run the test function ``check`` with its fixtures; the worker sent with ``sender``."""
    import inspect
    import webapp.delivery.worker as worker
    check(**{name: request.getfixturevalue(name)
             for name in inspect.signature(check).parameters})
    assert type(worker._push_client) is {"threads": PushClient,
                                         "asyncio": AsyncPushClient}[sender]


@pytest.mark.parametrize("check", [
    test_outbox.test_worker_sends_multipart_email_with_one_click_unsubscribe_and_push,
    test_outbox.test_gone_subscription_is_removed,
    test_outbox.test_429_retry_after_is_honoured,
    test_outbox.test_429_retry_after_as_an_http_date_is_honoured,
    test_outbox.test_absurd_retry_after_is_capped_not_a_crash,
    test_outbox.test_5xx_retries_with_backoff_until_a_day_old_then_dead,
    test_outbox.test_urgent_events_are_pushed_with_high_urgency,
    test_outbox.test_push_payload_stays_under_4kb,
], ids=lambda f: f.__name__.removeprefix("test_"))
def test_outbox_push_rules_hold_for_each_sender(check, sender, request):
    run_with(check, sender, request)


@pytest.mark.parametrize("check", [
    test_push_safety.test_worker_never_contacts_an_endpoint_no_longer_allowed,
    test_push_safety.test_a_slow_push_service_holds_up_neither_its_batch_nor_email,
], ids=lambda f: f.__name__.removeprefix("test_"))
def test_push_safety_holds_for_each_sender(check, sender, request):
    run_with(check, sender, request)


@pytest.fixture
def untrusted_https(tmp_path):
    """An HTTPS server on loopback whose certificate (self-signed, for localhost) nobody
    trusts; it would answer 201 to anything."""
    context, _trusting_client = certificate(tmp_path, "localhost")
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    hits = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(65536)
                    hits.append(1)
                    tls.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
            except (OSError, ssl.SSLError):
                pass  # the client refused the certificate
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"https://localhost:{server.getsockname()[1]}/push/1", hits
    stop.set()
    thread.join()
    server.close()


@pytest.mark.parametrize("kind", [PushClient, AsyncPushClient], ids=SENDERS)
def test_neither_sender_trusts_an_unverifiable_certificate(app, untrusted_https, kind):
    endpoint, hits = untrusted_https
    client = kind(vapid(), "mailto:test@wardline.example", timeout=5)
    try:
        result = client.send_many([(FakeUserAgent(endpoint).subscription, '{"title":"x"}')],
                                  deadline=10)[0]
    finally:
        client.close()
    assert result.status == "retry"
    assert "certificate" in result.error.lower() or "ssl" in result.error.lower()
    assert hits == []  # no request reached the server


def test_a_replaced_push_client_is_not_closed_under_another_loop(app, push_service,
                                                                 monkeypatch):
    """Two batch loops share the worker's client: replacing it (another sender, a new
    VAPID key) must not close the one a loop is still sending through."""
    import webapp.delivery.worker as worker
    monkeypatch.setattr(worker, "_push_client", None)
    monkeypatch.setitem(app.config, "PUSH_SENDER", "asyncio")
    first = worker.push_client()
    agent = push_service.agent()
    push_service.delay(agent, 1.0)
    results = []
    sending = threading.Thread(target=lambda: results.extend(
        first.send_many([(agent.subscription, '{"title":"x"}')], deadline=10)))
    sending.start()
    time.sleep(0.3)  # the request is in flight
    monkeypatch.setitem(app.config, "PUSH_SENDER", "threads")
    assert worker.push_client() is not first
    sending.join()
    assert [r.status for r in results] == ["sent"]


def test_a_batch_names_its_rows_in_one_parameter_on_postgresql(app, make_resident, push_service):
    """Claiming, loading and recording a batch bind its ids as one array on PostgreSQL, not
    an IN list of a parameter per row (rendered, converted and parsed again for every batch
    size: a quarter of the CPU of the rows' encryption)."""
    from sqlalchemy import event

    from tests.delivery.test_outbox import reply_event, subscribe
    from webapp.delivery import notify
    from webapp.delivery.worker import deliver_due
    from webapp.extensions import db
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no arrays: IN lists there")
    users = [make_resident(email_frequency="off") for _ in range(15)]
    agents = [subscribe(u, push_service) for u in users for _ in range(2)]
    for u in users:
        notify(u, reply_event())
    db.session.commit()
    counts = []

    def count(conn, cursor, statement, parameters, context, executemany):
        counts.append((len(parameters or ()), statement.split()[0]))
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert deliver_due(batch_size=100)["sent"] == len(agents) == 30
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert {"SELECT", "UPDATE"} <= {kind for _n, kind in counts}
    assert max(n for n, _kind in counts) < 10, counts
    assert len(push_service.messages()) == 30


def test_a_batch_without_email_does_not_look_for_digest_rows_to_mark_sent(
        app, make_resident, push_service, mail):
    """Only a digest email carries digest rows: a batch of push messages records its rows
    without the statement that marks carried rows sent (a round trip a batch); a batch
    with email still runs it."""
    from sqlalchemy import event

    from tests.delivery.test_outbox import reply_event, subscribe
    from webapp.delivery import notify
    from webapp.delivery.worker import deliver_due
    from webapp.extensions import db
    pushed = [make_resident(email_frequency="off") for _ in range(3)]
    for u in pushed:
        subscribe(u, push_service)
        notify(u, reply_event())
    db.session.commit()
    statements = []

    def spy(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)
    event.listen(db.engine, "before_cursor_execute", spy)
    try:
        assert deliver_due(batch_size=100)["sent"] == 3
        carried = [s for s in statements if "digest_delivery_id" in s
                   and s.lstrip().startswith("UPDATE")]
        assert carried == []
        emailed = make_resident()
        notify(emailed, reply_event())
        db.session.commit()
        statements.clear()
        assert deliver_due(batch_size=100)["sent"] == 1
    finally:
        event.remove(db.engine, "before_cursor_execute", spy)
    assert [s for s in statements if "digest_delivery_id" in s
            and s.lstrip().startswith("UPDATE")]
    assert len(push_service.messages()) == 3 and len(mail.wait_for(1)) == 1


def test_a_device_seen_today_is_not_written_again(app, make_resident, push_service):
    """A device's "last worked" is written at most once a day: a batch whose devices were
    all seen within the day sends no statement for them; one seen two days ago is
    written."""
    from datetime import timedelta

    from sqlalchemy import event

    from tests.delivery.test_outbox import reply_event, subscribe
    from webapp.delivery import notify
    from webapp.delivery.worker import deliver_due
    from webapp.extensions import db
    from webapp.platform.timeutil import utcnow
    users = [make_resident(email_frequency="off") for _ in range(2)]
    for user in users:
        subscribe(user, push_service)
    db.session.commit()
    devices = db.session.scalars(select_devices()).all()
    seen_today, seen_before = utcnow() - timedelta(hours=3), utcnow() - timedelta(days=2)
    devices[0].last_success_at, devices[1].last_success_at = seen_today, seen_today
    db.session.commit()
    statements = []

    def spy(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)
    for user in users:
        notify(user, reply_event(1))
    db.session.commit()
    event.listen(db.engine, "before_cursor_execute", spy)
    try:
        assert deliver_due()["sent"] == 2
        assert not [s for s in statements if s.lstrip().startswith("UPDATE push_subscriptions")]
        devices[1].last_success_at = seen_before
        db.session.commit()
        for user in users:
            notify(user, reply_event(2))
        db.session.commit()
        assert deliver_due()["sent"] == 2
    finally:
        event.remove(db.engine, "before_cursor_execute", spy)
    assert [s for s in statements if s.lstrip().startswith("UPDATE push_subscriptions")]
    db.session.expire_all()
    last = {d.id: d.last_success_at for d in db.session.scalars(select_devices())}
    assert last[devices[0].id] == seen_today and last[devices[1].id] > seen_before


def select_devices():
    from sqlalchemy import select

    from webapp.delivery.models import PushSubscription
    return select(PushSubscription).order_by(PushSubscription.id)


def test_batch_loops_take_turns_for_their_work_not_for_their_waits(app, make_resident,
                                                                   push_service, monkeypatch):
    """A batch loop claims, loads, encrypts and records holding the worker's TURN (the
    asyncio client's cpu_lock), and lets go of it while the push service answers: the
    process's other loop works meanwhile instead of both fighting for the interpreter."""
    import webapp.delivery.push_async as push_async
    import webapp.delivery.worker as worker
    from tests.delivery.test_outbox import reply_event, subscribe
    from webapp.delivery import notify
    from webapp.extensions import db
    monkeypatch.setattr(worker, "_push_client", None)
    monkeypatch.setitem(app.config, "PUSH_SENDER", "asyncio")
    assert worker.push_client().cpu_lock is worker.TURN
    held = []

    def spied(name, module):
        real = getattr(module, name)

        def spy(*args, **kwargs):
            held.append((name, worker.TURN.locked()))
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, spy)
    for name in ("claim_rows", "load_claimed", "record", "endpoint_problem"):
        spied(name, worker)
    spied("encrypt", push_async)
    user = make_resident(email_frequency="off")
    push_service.delay(subscribe(user, push_service), 1.0)
    notify(user, reply_event(1))
    db.session.commit()
    results = []

    def loop():
        with app.app_context():
            results.append(worker.deliver_due())
    sending = threading.Thread(target=loop)
    sending.start()
    time.sleep(0.5)  # the push is in flight, its answer 0.5 s away
    waiting_free = not worker.TURN.locked()
    sending.join()
    assert results[0]["sent"] == 1
    assert waiting_free
    assert sorted(held) == sorted((name, True) for name in (
        "claim_rows", "load_claimed", "endpoint_problem", "encrypt", "record"))
    assert not worker.TURN.locked()


def test_one_batch_is_encrypted_at_a_time(app, push_service, monkeypatch):
    """Two batch loops sending through one asyncio client at once encrypt in turn, never
    side by side (encrypting lets go of the interpreter lock several times a message)."""
    import webapp.delivery.push_async as push_async
    real, inside, most = push_async.encrypt, [0], [0]

    def slow(subscription, data):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        time.sleep(0.01)  # lets go of the interpreter lock, as the cryptography does
        inside[0] -= 1
        return real(subscription, data)
    monkeypatch.setattr(push_async, "encrypt", slow)
    client = AsyncPushClient(vapid(), "mailto:test@wardline.example", timeout=5)
    agents = [push_service.agent() for _ in range(2)]
    results = []
    try:
        loops = [threading.Thread(target=lambda a=a: results.extend(client.send_many(
            [(a.subscription, '{"title":"x"}')] * 5, deadline=10))) for a in agents]
        for thread in loops:
            thread.start()
        for thread in loops:
            thread.join()
    finally:
        client.close()
    assert [r.status for r in results] == ["sent"] * 10
    assert most[0] == 1
