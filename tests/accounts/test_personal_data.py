"""Issue 9, point 7: every column that can hold personal data is classified, "Download my
data" holds everything about the resident, and deleting the account leaves nothing that
identifies them (anonymous counts stay).

The classification (``webapp/accounts/personal_data.py``) is checked against
``db.metadata``: a new table or column that can hold personal data (text, JSON, or a
reference to ``users``) fails here until it says how it is exported and deleted, or why it
is not personal."""
from __future__ import annotations

import json

from sqlalchemy import JSON, String, Text, cast, func, select

from tests.support.world import (BLOCK_REASON, CONCERN_TEXT, ENDPOINT, HIDE_REASON, MESSAGE,
                                 PENDING_PHONE, PHONE, REPLY, RESIDENT_EMAIL, RESIDENT_NAME, SUBJECT, USER_AGENT,
                                 build_world)
from webapp.accounts.personal_data import (COLUMNS, KEPT, MENTIONS, NOT_PERSONAL,
                                           NOT_PERSONAL_TABLES, RESIDENT, STAFF, needs_classifying,
                                           refers_to_users)
from webapp.extensions import db

TRACES = [RESIDENT_NAME, RESIDENT_EMAIL, SUBJECT, MESSAGE, REPLY, CONCERN_TEXT, BLOCK_REASON,
          HIDE_REASON, USER_AGENT, ENDPOINT, "quillfeather", PHONE, PENDING_PHONE]


def _user_fk(table):
    """The columns of ``table`` that refer to a user (a foreign key, or marked so)."""
    return [c for c in table.columns if refers_to_users(c)]


def test_every_column_that_can_hold_personal_data_is_classified(app):
    missing, stale = [], []
    for table in db.metadata.sorted_tables:
        if table.name in NOT_PERSONAL_TABLES:
            assert not _user_fk(table), f"{table.name} refers to users: classify its columns"
            assert not [c for c in table.columns if c.name not in ("id",) and
                        isinstance(c.type, (String, Text, JSON)) and
                        table.name not in ("boroughs", "wards")], table.name
            continue
        for column in table.columns:
            if needs_classifying(column) and f"{table.name}.{column.name}" not in COLUMNS:
                missing.append(f"{table.name}.{column.name}")
    for key in COLUMNS:
        table, column = key.split(".")
        if table not in db.metadata.tables or column not in db.metadata.tables[table].c:
            stale.append(key)
    stale += [t for t in NOT_PERSONAL_TABLES if t not in db.metadata.tables]
    assert not missing, f"classify in webapp/accounts/personal_data.py: {missing}"
    assert not stale, f"no longer in the schema: {stale}"
    assert {category for category, _ in COLUMNS.values()} <= {RESIDENT, MENTIONS, KEPT, STAFF,
                                                              NOT_PERSONAL}
    assert all(len(reason) > 3 for _, reason in COLUMNS.values())


def _resident_tables():
    """{table: user-reference column classified RESIDENT} (their rows are theirs)."""
    out = {}
    for key, (category, _) in COLUMNS.items():
        table, column = key.split(".")
        col = db.metadata.tables[table].c[column]
        if category == RESIDENT and _user_fk(db.metadata.tables[table]) and col in _user_fk(db.metadata.tables[table]):
            out.setdefault(table, col)
    out["users"] = db.metadata.tables["users"].c.id
    return out


def test_export_holds_every_resident_value_of_every_table(client, login, make_resident, make_staff):
    world = build_world(make_resident, make_staff)
    resident = world.resident
    login(client, resident)
    export = client.get("/settings/export")
    assert export.status_code == 200
    dumped = json.dumps(export.get_json())
    tables = _resident_tables()
    missing = []
    for table_name, link in tables.items():
        table = db.metadata.tables[table_name]
        rows = db.session.execute(select(table).where(link == resident.id)).mappings().all()
        assert rows, f"the test resident has no row in {table_name}: add one to tests/support/world.py"
        for key, (category, _) in COLUMNS.items():
            t, column = key.split(".")
            if t != table_name or category != RESIDENT or column == link.name:
                continue
            if isinstance(table.c[column].type, (String, Text)):
                for row in rows:
                    if row[column] and json.dumps(row[column])[1:-1] not in dumped:
                        missing.append(f"{key}={row[column]!r}")
    assert not missing, missing
    data = export.get_json()
    # The review's three gaps, by name.
    assert data["push_devices"]["devices"][0]["user_agent"] == USER_AGENT
    assert data["push_devices"]["removed_device_hashes"]
    hidden = [m for c in data["conversations"]["conversations"] for m in c["messages"]
              if m["moderation"]]
    assert hidden and hidden[0]["moderation"]["reason"] == HIDE_REASON
    assert data["conversations"]["block_history"][0] == {
        "action": "stopped", "at": data["conversations"]["block_history"][0]["at"],
        "reason": BLOCK_REASON}
    assert any(e["action"] == "conversation.view" for e in data["audit_events_about_you"])
    # Text messages: the number, its categories and the code waiting for another number.
    assert data["text_messages"]["number"] == PHONE
    assert data["text_messages"]["categories"] == ["appeals"]
    assert [c["number"] for c in data["text_messages"]["codes_sent"]] == [PENDING_PHONE]


def _counts():
    from webapp.accounts.models import Concern
    from webapp.platform.audit import AuditEvent
    from webapp.alerts.models import AlertAnswer
    return {
        "concerns": db.session.scalar(select(func.count()).select_from(Concern)),
        "alert_answers": db.session.scalar(select(func.count()).select_from(AlertAnswer)
                                           .where(AlertAnswer.useful.is_(True))),
        "audit_events": db.session.scalar(select(func.count()).select_from(AuditEvent)),
    }


def _find_traces() -> list[str]:
    """Every text or JSON column of every table, searched for every trace (any case, and in
    its JSON-escaped form)."""
    found = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if not isinstance(column.type, (String, Text, JSON)):
                continue
            as_text = func.lower(cast(column, Text))
            for trace in TRACES:
                for needle in {trace.lower(), json.dumps(trace.lower())[1:-1]}:
                    hits = db.session.scalars(select(cast(column, Text)).where(
                        as_text.contains(needle, autoescape=True))).all()
                    found += [f"{table.name}.{column.name}: {hit[:80]!r}" for hit in hits]
    return sorted(set(found))


def test_deletion_leaves_nothing_that_identifies_the_resident(client, login, make_resident,
                                                              make_staff):
    world = build_world(make_resident, make_staff)
    resident_id = world.resident.id
    before = _find_traces()
    # The world really holds the traces everywhere the review found them.
    for where in ("notifications.title", "notifications.email_context", "audit_events.detail",
                  "conversations.subject", "messages.body", "messaging_blocks.reason",
                  "push_subscriptions.user_agent", "concerns.text", "users.email",
                  "conversation_access.reason", "sms_numbers.phone", "phone_codes.phone"):
        assert any(hit.startswith(where) for hit in before), where
    counts = _counts()

    login(client, world.resident)
    assert client.post("/settings/delete").status_code == 303
    db.session.expire_all()

    assert _find_traces() == []
    for table_name, link in _resident_tables().items():
        table = db.metadata.tables[table_name]
        assert db.session.scalar(select(func.count()).select_from(table)
                                 .where(link == resident_id)) == 0, table_name
    assert _counts() == counts  # anonymous counts stay
    # The officers' side keeps working: the digest and the audit log still read.
    login(client, world.admin)
    assert client.get("/admin/audit").status_code == 200
