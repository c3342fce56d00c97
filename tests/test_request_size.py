"""Issue 9, point 10: request bodies have a size limit (``MAX_CONTENT_LENGTH``).

An 18 MB JSON body used to be read and parsed. Now any body over the limit is refused
with a 413 and a clear page (JSON for JSON clients), before a form or JSON is parsed and
before anything is stored, on every route."""
from __future__ import annotations

import json
import re

from sqlalchemy import func, select

from webapp.delivery.models import PushSubscription
from webapp.extensions import db
from webapp.threads.models import Message

BIG = 18 * 1024 * 1024


def test_limit_is_set(app):
    assert 64 * 1024 <= app.config["MAX_CONTENT_LENGTH"] <= 1024 * 1024


def test_an_18_mb_json_body_is_refused_with_413(client, login, make_resident):
    login(client, make_resident())
    body = json.dumps({"endpoint": "https://fcm.googleapis.com/fcm/send/x",
                       "keys": {"p256dh": "x" * BIG, "auth": "y"}})
    response = client.post("/push/subscriptions", data=body, content_type="application/json")
    assert response.status_code == 413
    assert "larger than we accept" in response.get_json()["error"]
    assert db.session.scalar(select(func.count()).select_from(PushSubscription)) == 0


def test_a_huge_form_gets_a_clear_413_page(client, login, make_resident):
    login(client, make_resident())
    response = client.post("/messages", data={"subject": "Hi", "body": "x" * BIG})
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "Too large to send" in page and "Shorten the text" in page
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_every_state_changing_route_refuses_an_oversized_body(app, client, login, make_staff):
    login(client, make_staff("admin"))
    big = b"a=" + b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    walked = 0
    for rule in app.url_map.iter_rules():
        for method in {"POST", "PUT", "PATCH", "DELETE"} & rule.methods:
            url = re.sub(r"<any\('?([a-z0-9-]+)'?[^>]*>", r"\1", rule.rule)
            url = re.sub(r"<int:[^>]+>", "1", url)
            url = re.sub(r"<[^>]+>", "x", url)
            response = client.open(url, method=method, data=big,
                                   content_type="application/x-www-form-urlencoded")
            assert response.status_code == 413, (method, rule.rule, response.status_code)
            walked += 1
    assert walked >= 40


def test_a_normal_form_still_works(client, login, make_resident):
    resident = make_resident()
    login(client, resident)
    response = client.post("/messages", data={"subject": "Hi", "body": "Bins not collected.",
                                              "ward": str(resident.home_ward.id)})
    assert response.status_code in (200, 303)
    assert db.session.scalar(select(func.count()).select_from(Message)) == 1
