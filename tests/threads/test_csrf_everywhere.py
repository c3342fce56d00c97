"""CSRF on every state-changing request of the accounts, wards, threads, admin and core pages
(issues 2 and 3): each POST rule refuses a request without the token (400) whoever sends it,
and nothing changes."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests.conftest import HTMX
from webapp.accounts.models import User
from webapp.extensions import db
from webapp.posts import WardPost
from webapp.threads.models import Conversation, Message

DOMAINS = ("core", "accounts", "wards", "threads", "admin")


def _state_changing_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in DOMAINS:
            for method in sorted({"POST", "DELETE", "PUT", "PATCH"} & rule.methods):
                yield rule, method


def _counts():
    return [db.session.scalar(select(func.count()).select_from(model))
            for model in (User, Conversation, Message, WardPost)]


@pytest.mark.parametrize("who", ["visitor", "resident", "officer", "admin"])
def test_every_state_changing_rule_needs_the_csrf_token(app, client, login, make_resident,
                                                        make_staff, start_conversation, who):
    resident = make_resident()
    conv = start_conversation(resident)
    people = {"resident": resident, "officer": make_staff("officer", wards=["E05013806"]),
              "admin": make_staff("admin")}
    if who != "visitor":
        login(client, people[who])
    before = _counts()
    data = {"email": "new@example.org", "display_name": "New", "body": "Hello", "subject": "Hi",
            "ward": str(resident.home_ward.id), "title": "t", "answer": "a", "question": "q",
            "reason": "r", "name": "Team", "wards": "E05013806", "step": "1", "role": "home"}
    refused, accepted = set(), set()
    for rule, method in _state_changing_rules(app):
        url = re.sub(r"<int:[^>]+>", str(conv.id), rule.rule)
        url = re.sub(r"<any\('?([a-z0-9-]+)'?[^>]*>", r"\1", url)
        url = re.sub(r"<[^>]+>", "E05013806", url)
        for headers in ({}, HTMX):
            response = client.open(url, method=method, data=data, headers=headers, csrf=False)
            (refused if response.status_code == 400 else accepted).add(rule.endpoint)
    assert len(refused) >= 25
    assert not accepted, f"no CSRF check on {sorted(accepted)}"
    db.session.expire_all()
    assert _counts() == before
    assert conv.status == "awaiting" and conv.assigned_to_id is None
    if who == "resident":  # sign-out and deletion without the token did nothing either
        assert client.get("/settings").status_code == 200
