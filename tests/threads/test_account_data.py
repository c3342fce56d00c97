"""A resident's conversations in "Download my data", and gone with their account."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.posts import WardPost
from webapp.threads.models import Conversation, Message

ST_JAMES = "E05013806"


def test_export_includes_conversations(client, login, make_resident, make_staff, start_conversation, reply):
    resident = make_resident(ST_JAMES)
    officer = make_staff("officer", wards=[ST_JAMES], name="Jane Smith")
    conv = start_conversation(resident, subject="Noise", body="Loud music")
    reply(conv, officer, "We will visit.")
    login(client, resident)
    response = client.get("/settings/export")
    assert response.status_code == 200
    data = json.loads(response.data)
    exported = data["conversations"]["conversations"]
    assert exported[0]["subject"] == "Noise"
    assert [m["text"] for m in exported[0]["messages"]] == ["Loud music", "We will visit."]
    assert exported[0]["messages"][1]["from"] == officer.officer_label


def test_deleting_account_removes_conversations_but_not_ward_posts(client, login, make_resident,
                                                                   make_staff, start_conversation, reply):
    from webapp.accounts.services import delete_account
    from webapp.threads import services
    resident = make_resident(ST_JAMES)
    officer = make_staff("officer", wards=[ST_JAMES])
    conv = start_conversation(resident)
    reply(conv, officer)
    services.publish_answer(db.session.get(Conversation, conv.id), officer, "Bikes", "Q?", "A.")
    services.block_resident(resident, officer, "abuse")
    db.session.commit()
    delete_account(resident)
    db.session.commit()  # the view commits
    assert db.session.scalar(select(func.count()).select_from(Conversation)) == 0
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0
    assert db.session.scalar(select(func.count()).select_from(WardPost)) == 1
