"""PostgreSQL's plans for the outbox's hot statements: each reads the rows it needs by the
index meant for them, whether PostgreSQL plans it for its values (a custom plan, as for
each of a prepared statement's first runs) or once for any values (the generic plan it may
settle on; psycopg prepares a statement from its fifth run on a connection)."""
from __future__ import annotations

import re
from datetime import datetime

import pytest
from sqlalchemy import event, text

from tests.conftest import is_postgres
from webapp.extensions import db

pytestmark = pytest.mark.skipif(not is_postgres(), reason="PostgreSQL's planner")

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        value = value.isoformat(sep=" ")
    return "'" + str(value).replace("'", "''") + "'"


def plans(statement: str, parameters: dict) -> dict[str, str]:
    """EXPLAIN of ``statement`` (as SQLAlchemy sent it to psycopg), prepared with its
    parameters as $1, $2 ..., under a custom plan and under a generic plan."""
    return {mode: _plan(statement, parameters, mode) for mode in ("custom", "generic")}


def _plan(statement: str, parameters: dict, mode: str) -> str:
    names: list[str] = []

    def number(match):
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"
    sql = _PLACEHOLDER.sub(number, statement)
    args = ", ".join(_literal(parameters[name]) for name in names)
    with db.engine.connect() as conn:
        conn.exec_driver_sql(f"SET plan_cache_mode = force_{mode}_plan")
        conn.exec_driver_sql(f"PREPARE planned AS {sql}")
        try:
            return "\n".join(conn.exec_driver_sql(
                f"EXPLAIN EXECUTE planned{f'({args})' if args else ''}").scalars())
        finally:
            conn.exec_driver_sql("DEALLOCATE planned")
            conn.rollback()


def captured(run) -> list[tuple[str, dict]]:
    """The statements (and their parameters) ``run()`` sends."""
    seen = []

    def spy(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, dict(parameters or {})))
    event.listen(db.engine, "before_cursor_execute", spy)
    try:
        run()
    finally:
        event.remove(db.engine, "before_cursor_execute", spy)
    return seen


def pushes_waiting(make_resident, push_service, n: int) -> list:
    """``n`` residents with a device and a reply's push waiting each, in an outbox of some
    size (5,000 sent rows of history, so that reading by an index pays), analysed with
    no row claimed (as after a large fan-out)."""
    from tests.delivery.test_outbox import reply_event, subscribe
    from webapp.delivery import notify
    users = [make_resident(email_frequency="off") for _ in range(n)]
    for user in users:
        subscribe(user, push_service)
        notify(user, reply_event())
    db.session.execute(text(
        "INSERT INTO deliveries (notification_id, user_id, channel, device_id, state, "
        "attempts, next_attempt_at, created_at) SELECT 1000000 + n, :user, 'email', 0, "
        "'sent', 1, now(), now() FROM generate_series(1, 5000) AS n"), {"user": users[0].id})
    db.session.commit()
    db.session.execute(text("ANALYZE deliveries"))
    db.session.commit()
    return users


def test_recording_a_batch_reads_its_rows_by_id_not_every_claimed_row(
        app, make_resident, push_service):
    """A batch's outcome is written by the rows' ids (the primary key), not by walking the
    partial index of every worker's claimed rows: its statistics, taken when no row was
    claimed (as after a large fan-out), say it is nearly empty, and a plan that walked it
    cast the batch's id array (text, the cast not foldable) again for each claimed row."""
    from webapp.delivery.models import Delivery
    from webapp.delivery.worker import Outcome, claim, record
    from webapp.platform.timeutil import utcnow
    pushes_waiting(make_resident, push_service, 8)
    now = utcnow()
    mine, ours = claim(batch_size=5, now=now)
    _other, theirs = claim(batch_size=5, now=now)
    assert len(ours) == 5 and len(theirs) == 3
    outcome = Outcome({}, now)
    outcome.sent += ours[:2]
    outcome.fail(ours[2], 1, "HTTP 503")
    outcome.fail(ours[3], 1, "HTTP 400", permanent=True)
    outcome.gone.append((ours[4], "HTTP 410"))

    updates = [(sql, params) for sql, params in captured(lambda: record(outcome, mine, now))
               if sql.lstrip().startswith("UPDATE deliveries") and mine in params.values()]
    assert len(updates) == 4  # sent; then retry, dead and gone (one statement each)
    for sql, params in updates:
        for plan in plans(sql, params).values():
            assert "ix_deliveries_leased" not in plan and "pk_deliveries" in plan, plan
    db.session.expire_all()
    states = {d.id: d.state for d in db.session.query(Delivery)}
    assert [states[i] for i in ours] == ["sent", "sent", "queued", "dead", "gone"]
    assert {states[i] for i in theirs} == {"sending"}  # another worker's claim untouched


def test_claiming_reads_the_due_and_the_leased_rows_by_their_indexes_in_any_plan(
        app, make_resident, push_service):
    """A claim's two picks read the partial indexes of due and of leased rows, under a
    custom plan and under the generic plan PostgreSQL may settle on: their states and
    channel are literals, not parameters (a generic plan cannot tell from a parameter
    that a partial index holds the rows, and planning every claim afresh cost
    PostgreSQL a planning per batch)."""
    from webapp.delivery.worker import claim
    pushes_waiting(make_resident, push_service, 4)
    picks = [(sql, params) for sql, params in captured(lambda: claim(batch_size=10))
             if sql.lstrip().startswith("SELECT deliveries.id")]
    assert len(picks) == 2
    for (sql, params), index in zip(picks, ("ix_deliveries_leased", "ix_deliveries_due"),
                                    strict=True):
        for plan in plans(sql, params).values():
            assert index in plan, plan
