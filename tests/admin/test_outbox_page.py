"""/admin/outbox: the outbox's figures in words, for admins only."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import update

from tests.delivery.test_digest_unsubscribe import alert
from webapp.delivery import notify
from webapp.delivery.models import Delivery
from webapp.delivery.worker import deliver_due
from webapp.extensions import db
from webapp.platform.timeutil import utcnow


def words(client, item: str) -> str:
    html = client.get("/admin/outbox").get_data(as_text=True)
    text = re.search(rf'<li id="outbox-{item}">(.*?)</li>\s*(?=<li id|</ul>\s*<p)', html, re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())


def test_the_outbox_in_words(app, client, login, make_staff, make_resident, mail):
    login(client, make_staff("admin"))
    assert words(client, "waiting") == "Nothing is waiting to be sent."
    assert words(client, "oldest") == "No message is overdue."
    people = [make_resident() for _ in range(3)]
    for person in people:
        notify(person, alert(9))
    db.session.commit()
    db.session.execute(update(Delivery).values(next_attempt_at=utcnow() - timedelta(minutes=3, seconds=5)))
    db.session.commit()
    assert words(client, "waiting") == "3 messages waiting to be sent (3 emails), 0 of them being sent now."
    assert words(client, "oldest") == "The oldest due message has waited 3 minutes."

    mail.refuse = True
    deliver_due()
    assert words(client, "retrying") == ("3 messages failed and wait to be tried again: 3 because "
                                         "the mail server refused the address")
    mail.refuse = False
    assert deliver_due(now=utcnow() + timedelta(days=1))["sent"] == 3
    assert words(client, "waiting") == "Nothing is waiting to be sent."
    assert words(client, "dead") == "No message has failed for good."


def test_only_admins_see_the_outbox(client, login, make_staff, make_resident):
    login(client, make_staff("officer", wards=["E05013806"]))
    assert client.get("/admin/outbox").status_code == 403
    client.get("/officer/logout")
    with client.session_transaction() as sess:
        sess.clear()
    login(client, make_resident())
    assert client.get("/admin/outbox").status_code == 403
    with client.session_transaction() as sess:
        sess.clear()
    assert client.get("/admin/outbox").status_code in (302, 303)  # to the sign-in page
