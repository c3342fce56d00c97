"""Logs: one line per request and per delivery batch, JSON with LOG_FORMAT=json, with a
request id returned in X-Request-ID and sent back by the page's htmx requests; never a
token, an email address or an email's text (sign-in link, unsubscribe link, an email
batch), captured from the handler the app really writes through."""
from __future__ import annotations

import io
import json
import logging
import re

import pytest

from tests.delivery.test_digest_unsubscribe import alert, unsubscribe_link
from webapp.delivery import notify
from webapp.delivery.worker import deliver_due
from webapp.extensions import db
from webapp.platform.requestlog import configure_logging


@pytest.fixture
def log_lines(app, monkeypatch):
    """The JSON lines the app writes while the test runs."""
    stream = io.StringIO()
    monkeypatch.setitem(app.config, "LOG_FORMAT", "json")
    configure_logging("json", stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    configure_logging("text", logging.sys.stderr)


def test_sign_in_unsubscribe_and_a_batch_leave_no_secret_in_the_log(app, client, log_lines,
                                                                      make_resident, mail):
    address = "log.secret.person@example.org"
    assert client.post("/signup", data={"email": address, "display_name": "Lou Secret"}
                       ).status_code in (200, 303)
    signin = mail.wait_for(1)[0]
    text = signin.get_body(("plain",)).get_content()
    token = re.search(r"/signin/([^\s/]+)", text).group(1)
    assert client.get(f"/signin/{token}").status_code == 200
    assert client.post(f"/signin/{token}").status_code in (200, 302, 303)
    mail.clear()

    resident = make_resident(email_address="batch.reader@example.org")
    notify(resident, alert(42))
    db.session.commit()
    assert deliver_due()["sent"] == 1
    body = mail.wait_for(1)[0].get_body(("plain",)).get_content()
    link = unsubscribe_link(mail)
    assert client.get(link).status_code == 200
    assert client.post(link, csrf=False).status_code in (200, 303)

    # Everything but the test's own SMTP server (aiosmtpd's "mail.log" names recipients).
    lines = [line for line in log_lines() if line["logger"] != "mail.log"]
    assert {line["logger"] for line in lines} >= {"wardline.request", "wardline.delivery.batch"}
    requests = [line for line in lines if line.get("event") == "request"]
    assert {(r["method"], r["route"]) for r in requests} >= {
        ("POST", "/signup"), ("GET", "/signin/<token>"), ("POST", "/signin/<token>"),
        ("GET", "/unsubscribe/<token>"), ("POST", "/unsubscribe/<token>")}
    for line in requests:
        assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"])
        assert isinstance(line["status"], int) and line["duration_ms"] >= 0
    batch = [line for line in lines if line.get("event") == "delivery_batch"]
    assert batch and batch[0]["channel"] == "email" and batch[0]["count"] == 1 \
        and batch[0]["sent"] == 1 and batch[0]["failed"] == 0 and batch[0]["duration_ms"] >= 0
    everything = json.dumps(lines)
    secrets = [address, "batch.reader@example.org", token, link.rsplit("/", 1)[1],
               "Details of alert 42", "Lou Secret"]
    assert len(body) > 20 and "Details of alert 42" in body
    for secret in secrets:
        assert secret not in everything, secret
    assert "@" not in everything


def test_request_ids_go_back_in_the_header_and_the_page_and_htmx_sends_the_parent(
        app, client, log_lines, monkeypatch):
    page = client.get("/wards/E05013806", headers={"X-Request-ID": "spoofed-by-a-client-1"})
    request_id = page.headers["X-Request-ID"]
    assert request_id != "spoofed-by-a-client-1"  # no trusted proxy: never taken from outside
    assert f'"X-Parent-Request-ID": "{request_id}"' in page.get_data(as_text=True)
    fragment = client.get("/wards?q=lambeth", headers={"HX-Request": "true",
                                                       "X-Parent-Request-ID": request_id})
    assert fragment.status_code == 200
    monkeypatch.setitem(app.config, "TRUSTED_PROXIES", 1)
    behind = client.get("/privacy", headers={"X-Request-ID": "from-the-proxy-123"})
    assert behind.headers["X-Request-ID"] == "from-the-proxy-123"
    lines = [line for line in log_lines() if line.get("event") == "request"]
    by_route = {line["route"]: line for line in lines}
    assert by_route["/wards/<code>"]["request_id"] == request_id
    assert by_route["/wards/<code>"]["parent_id"] is None
    assert by_route["/wards"]["parent_id"] == request_id
    assert by_route["/wards"]["request_id"] != request_id
    assert by_route["/privacy"]["request_id"] == "from-the-proxy-123"
    assert all(line["logger"] == "wardline.request" and line["level"] == "INFO" for line in lines)


def test_text_format_is_one_plain_line(app, client):
    stream = io.StringIO()
    configure_logging("text", stream)
    try:
        client.get("/privacy")
    finally:
        configure_logging("text", logging.sys.stderr)
    line = [x for x in stream.getvalue().splitlines() if "wardline.request" in x][-1]
    assert re.search(r"INFO wardline\.request: GET /privacy 200 [\d.]+ms$", line)
