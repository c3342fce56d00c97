"""Outbox email for a notification going to many residents is built once per batch
(``webapp.platform.mail_once``): each resident's copy is what ``build_message`` would have
built for them, byte for byte, and where that cannot be shown each is built as before."""
from __future__ import annotations

import email
import email.policy
import re

import dkim
import pytest
from jinja2 import ChoiceLoader, DictLoader

import webapp.platform.mail as mail_module
import webapp.platform.mail_once as mail_once
from tests.delivery.test_email_headers import dkim_key, mail_from  # noqa: F401 (fixtures)
from webapp.accounts import residents_following
from webapp.delivery import Event, fan_out
from webapp.delivery.emails import read_unsubscribe_token
from webapp.delivery.worker import deliver_due
from webapp.extensions import db
from webapp.platform.mail import MIME_POLICY, build_message
from webapp.platform.mail_once import prepare
from webapp.wards.services import get_ward

ST_JAMES = "E05013806"
WIRE = MIME_POLICY.clone(linesep="\r\n")


def broadcast(make_resident, n: int, body: str = "Lock your bike.", title: str = "Bike thefts",
              source_id: int = 1):
    """``n`` more residents of one ward, and an alert fanned out to everyone there (one
    notification)."""
    users = [make_resident(ST_JAMES) for _ in range(n)]
    fan_out(Event(kind="alert", source_type="test", source_id=source_id, title=title, body=body,
                  url="/alerts/1", category="events"),
            residents_following([get_ward(ST_JAMES).id], "events"), channels=("email",))
    db.session.commit()
    return users


def counting(monkeypatch):
    """Count calls of the one builder (the real one runs)."""
    calls = []

    def counted(*args, **kwargs):
        calls.append(args[0])
        return build_message(*args, **kwargs)
    monkeypatch.setattr(mail_module, "build_message", counted)
    monkeypatch.setattr(mail_once, "build_message", counted)
    return calls


def test_a_broadcast_is_built_once_per_batch_and_each_copy_is_the_residents_own(
        app, make_resident, mail, monkeypatch):
    users = broadcast(make_resident, 6, body="Café £5 · lock your bike.")
    calls = counting(monkeypatch)
    assert deliver_due()["sent"] == 6
    # Two builds with markers (the second checks the values go in as they are), not six.
    assert len(calls) == 2 and all(to.startswith("wlmark") for to in calls)
    messages = mail.wait_for(6)
    assert mail.connections == 1
    assert sorted(m["To"] for m in messages) == sorted(u.email for u in users)
    assert len({m["Message-ID"] for m in messages}) == 6
    by_id = {u.id: u for u in users}
    for msg in messages:
        url = msg["List-Unsubscribe"][1:-1]
        token = url.rsplit("/", 1)[1]
        payload = read_unsubscribe_token(token)
        assert by_id[payload["u"]].email == msg["To"] and payload["c"] == "events"
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert "Café £5" in text and "Café £5" in html
        assert f"Unsubscribe: {url}" in text and f'href="{url}"' in html
        assert "wlmark" not in msg.as_string()
    assert deliver_due()["claimed"] == 0


def test_a_one_resident_notification_is_built_as_before(app, make_resident, mail, monkeypatch):
    [user] = broadcast(make_resident, 1)
    calls = counting(monkeypatch)
    assert deliver_due()["sent"] == 1
    assert calls == [user.email]


def _same(a: bytes, b: bytes) -> tuple[bytes, bytes]:
    """Both messages with their Date, Message-ID and MIME boundary made equal."""
    def norm(data):
        boundary = re.search(rb'boundary="([^"]+)"', data).group(1)
        data = data.replace(boundary, b"BOUNDARY")
        data = re.sub(rb"\r\nDate: [^\r]+", b"\r\nDate: D", data)
        return re.sub(rb"\r\nMessage-ID: [^\r]+", b"\r\nMessage-ID: M", data)
    return norm(a), norm(b)


@pytest.mark.parametrize("body", [
    "Lock your bike.",                       # text part 7bit US-ASCII
    "Café £5 · lock your bike.",             # both parts UTF-8, base64
    "A line.\n" + "x" * 950,                 # ASCII but a line too long: UTF-8
    "From the station: <b>&</b> 'quotes'",   # escaped in HTML, as it is in text
])
def test_a_prepared_copy_is_the_bytes_build_message_gives(app, make_resident, body):
    from webapp.delivery.models import Notification
    broadcast(make_resident, 2, body=body)
    notification = db.session.scalars(db.select(Notification)).one()
    context = {"notification": notification, "link": "http://wardline.test/alerts/1"}
    headers = {"List-Unsubscribe": "<{unsubscribe_url}>", "List-Id": "Alerts <alerts.x>"}
    prepared = prepare("Bike thefts", "delivery/notification", headers=headers,
                       varying=("unsubscribe_url",), **context)
    assert prepared is not None
    for n in range(3):
        url = f"http://wardline.test/unsubscribe/tok{n}.a&b"
        to = f"resident{n}@example.org"
        fast = prepared.message(to, unsubscribe_url=url)
        slow = build_message(to, "Bike thefts", "delivery/notification",
                             headers={"List-Unsubscribe": f"<{url}>",
                                      "List-Id": "Alerts <alerts.x>"},
                             unsubscribe_url=url, **context).as_bytes(policy=WIRE)
        assert _same(fast, slow)[0] == _same(fast, slow)[1]


def test_a_value_that_would_change_the_encoding_is_left_to_build_message(app, make_resident):
    from webapp.delivery.models import Notification
    broadcast(make_resident, 2)
    notification = db.session.scalars(db.select(Notification)).one()
    prepared = prepare("Bike thefts", "delivery/notification", headers={},
                       varying=("unsubscribe_url",), notification=notification, link="x")
    long_url = "http://wardline.test/unsubscribe/" + "t" * 880  # its text line > 900
    assert prepared.message("a@example.org", unsubscribe_url=long_url) is None
    assert prepared.message("a@example.org", unsubscribe_url="bad\r\nBcc: x") is None
    assert prepared.message("é@example.org", unsubscribe_url="http://x/u") is None


@pytest.mark.parametrize("template", ["incidents/update", "accounts/signin"])
def test_templates_that_use_the_resident_are_not_prepared(app, template):
    # They name ``user`` (a greeting, a per-person link): one rendering cannot serve all.
    assert prepare("Subject", template, headers={}, varying=("unsubscribe_url",),
                   notification=None) is None


def test_a_template_that_transforms_a_value_is_not_prepared(app, monkeypatch):
    loader = ChoiceLoader([DictLoader({
        "email/t/upper.txt": "Stop: {{ unsubscribe_url|upper }}",
        "email/t/upper.html": "<p>{{ unsubscribe_url }}</p>",
        "email/t/plain.txt": "Stop: {{ unsubscribe_url }}",
        "email/t/plain.html": "<p>{{ unsubscribe_url }}</p>",
    }), app.jinja_env.loader])
    monkeypatch.setattr(app.jinja_env, "loader", loader)
    assert prepare("S", "t/upper", headers={}, varying=("unsubscribe_url",)) is None
    prepared = prepare("S", "t/plain", headers={}, varying=("unsubscribe_url",))
    data = prepared.message("a@example.org", unsubscribe_url="http://x/u/1")
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg.get_body(("plain",)).get_content() == "Stop: http://x/u/1"


def test_prepared_copies_are_dkim_signed(app, make_resident, mail, mail_from,  # noqa: F811
                                         dkim_key, monkeypatch):  # noqa: F811
    broadcast(make_resident, 3)
    calls = counting(monkeypatch)
    assert deliver_due()["sent"] == 3
    assert len(calls) == 2
    mail.wait_for(3)
    for raw in mail.raw:
        assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: dkim_key)
        assert b"list-unsubscribe-post" in raw.split(b"\r\n\r\n")[0].lower()


def test_an_error_building_a_broadcast_is_recorded_for_each_delivery(app, make_resident, mail,
                                                                      monkeypatch):
    broadcast(make_resident, 3)

    def broken(*args, **kwargs):
        raise RuntimeError("template bug")
    monkeypatch.setattr(mail_module, "build_message", broken)
    monkeypatch.setattr(mail_once, "build_message", broken)
    result = deliver_due()
    assert result["dead"] == 3 and result["sent"] == 0
    from webapp.delivery.models import Delivery
    errors = {d.last_error for d in db.session.scalars(db.select(Delivery))}
    assert errors == {"building the email failed: RuntimeError: template bug"}


def test_a_batch_is_spread_over_several_connections_each_email_sent_once(app, make_resident,
                                                                         mail):
    app.config.update(SMTP_CONNECTIONS=3, SMTP_PER_CONNECTION=4)
    try:
        users = broadcast(make_resident, 10)
        assert deliver_due()["sent"] == 10
        messages = mail.wait_for(10)
        assert mail.connections == 2  # 10 emails, at least 4 per connection
        assert sorted(m["To"] for m in messages) == sorted(u.email for u in users)
        mail.clear()
        more = broadcast(make_resident, 2, source_id=2)  # another alert, to twelve
        assert deliver_due()["sent"] == 12 and mail.connections == 3
        assert len(mail.wait_for(12)) == 12 and {u.email for u in more} <= {
            m["To"] for m in mail.messages}
        assert deliver_due()["claimed"] == 0
    finally:
        app.config.update(SMTP_CONNECTIONS=4, SMTP_PER_CONNECTION=25)


def test_a_connection_that_fails_leaves_only_its_own_emails_for_a_retry(app, make_resident,
                                                                       mail, monkeypatch):
    app.config.update(SMTP_CONNECTIONS=2, SMTP_PER_CONNECTION=2)
    opened = []
    real_enter = mail_module.SMTPConnection.__enter__

    def enter(self):  # the second connection cannot be opened (the real error)
        opened.append(self)
        if len(opened) == 2:
            raise ConnectionRefusedError("connection refused")
        return real_enter(self)
    monkeypatch.setattr(mail_module.SMTPConnection, "__enter__", enter)
    try:
        broadcast(make_resident, 4)
        result = deliver_due()
        assert result["sent"] == 2 and result["retry"] == 2
        assert len(mail.wait_for(2)) == 2
        from webapp.delivery.models import Delivery
        waiting = [d for d in db.session.scalars(db.select(Delivery)) if d.state == "queued"]
        assert len(waiting) == 2 and all("SMTP connection" in d.last_error for d in waiting)
    finally:
        app.config.update(SMTP_CONNECTIONS=4, SMTP_PER_CONNECTION=25)
