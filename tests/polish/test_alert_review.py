"""Issue 13 point 8: sending an alert goes through a review step (the message as the email
and as the notification will look, the audience and the time), without JavaScript too;
the audience preview says "nobody by notification" in plain words."""
from __future__ import annotations

import html as html_lib
import re

from sqlalchemy import select

from webapp.alerts.models import Alert
from webapp.delivery.models import Delivery
from webapp.extensions import db
from tests.alerts.test_alerts import A, form_data, ward_id


def _fields(html: str) -> list[tuple[str, str]]:
    return [(name, html_lib.unescape(value)) for name, value in
            re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', html)]


def test_review_shows_email_notification_audience_then_sends(client, login, make_staff, make_resident):
    make_resident(A, categories=("events",))
    officer = make_staff("officer", wards=[A])
    login(client, officer)
    compose = client.get("/officer/alerts/new").get_data(as_text=True)
    assert 'name="action" value="review"' in compose and "Review before sending" in compose
    body = "Bring your bike to **St James's Square** on Saturday. " + "Frames are marked free. " * 20
    data = form_data(wards=[str(ward_id(A))], body=body, action="review")
    review = client.post("/officer/alerts/new", data=data)
    assert review.status_code == 200
    html = review.get_data(as_text=True)
    assert "Check the alert before it goes" in html
    assert "As an email" in html and "<strong>St James's Square</strong>" in html
    assert "As a notification" in html
    push_body = html_lib.unescape(re.search(r"<p class=\"push-preview-body\">([^<]*)</p>", html).group(1))
    assert push_body.endswith("…") and len(push_body) == 240 and "**" in push_body
    assert "Reaches 1 resident" in html
    assert "No one as a notification: none of them has turned notifications on" in html
    assert " on 0 devices" not in html
    assert db.session.scalar(select(Alert)) is None  # nothing saved yet
    # "Change something" brings the form back filled in.
    fields = dict(_fields(html))
    assert fields["title"] == "Bike marking on Saturday"
    resend = {k: v for k, v in _fields(html)}
    resend["wards"] = str(ward_id(A))
    resend["channels"] = ["email", "push"]
    back = client.post("/officer/alerts/new", data=dict(resend, action="edit"))
    assert back.status_code == 200 and 'value="Bike marking on Saturday"' in back.get_data(as_text=True)
    assert db.session.scalar(select(Alert)) is None
    sent = client.post("/officer/alerts/new", data=dict(resend, action="send"))
    assert sent.status_code == 303
    alert = db.session.scalar(select(Alert))
    assert alert.state == "sent" and alert.body == body.strip()
    assert db.session.scalars(select(Delivery)).all()


def test_review_of_a_scheduled_alert_says_when(client, login, make_staff):
    login(client, make_staff("officer", wards=[A]))
    data = form_data(wards=[str(ward_id(A))], when="later", send_at="2099-05-01T09:30",
                     channels=["email"], action="review")
    html = client.post("/officer/alerts/new", data=data).get_data(as_text=True)
    assert "It goes on Friday 1 May 2099 at 09:30 (London time)" in html
    assert "Schedule it" in html and "As a notification" not in html


def test_invalid_form_is_not_reviewed(client, login, make_staff):
    login(client, make_staff("officer", wards=[A]))
    response = client.post("/officer/alerts/new", data=form_data(title="", action="review"))
    assert response.status_code == 422
    assert "Check the alert before it goes" not in response.get_data(as_text=True)


def test_borough_and_send_at_are_marked_to_hide_unless_chosen(client, login, make_staff):
    login(client, make_staff("officer", wards=[A]))
    html = client.get("/officer/alerts/new").get_data(as_text=True)
    assert re.search(r'<div data-show-when="scope=borough">\s*<div class="field[^"]*">\s*'
                     r'<label class="label" for="borough">', html)
    assert re.search(r'<div data-show-when="when=later">\s*<div class="field[^"]*">\s*'
                     r'<label class="label" for="send_at">', html)


def test_review_page_is_valid_html(client, login, make_staff, tmp_path):
    from tests.test_html_valid import HTMX_ATTRIBUTE, run_vnu
    login(client, make_staff("officer", wards=[A]))
    data = form_data(wards=[str(ward_id(A))], body="Bring your **bike**.\n\n- one\n- two",
                     action="review")
    (tmp_path / "review.html").write_text(client.post("/officer/alerts/new", data=data).get_data(as_text=True))
    problems = [m["message"] for m in run_vnu(tmp_path)
                if (m["type"] == "error" or m.get("subType") == "warning")
                and not HTMX_ATTRIBUTE.match(m["message"])]
    assert problems == []


def test_review_shows_the_text_message_when_anyone_gets_it_by_text(client, login, make_staff,
                                                                  make_resident):
    from webapp.accounts.phone import SmsNumber
    from webapp.platform.timeutil import utcnow
    texted = make_resident(A, categories=("events",))
    make_resident(A, categories=("events",))
    login(client, make_staff("officer", wards=[A]))
    body = "Bring your bike to **St James's Square**.\nFrames are marked free."
    data = form_data(wards=[str(ward_id(A))], body=body, urgent="y", urgent_confirm="y",
                     channels=["email", "push", "sms"], action="review")
    # Nobody has a confirmed mobile yet: no text message to show.
    html = client.post("/officer/alerts/new", data=data).get_data(as_text=True)
    assert "Check the alert before it goes" in html
    assert "0 by text message" in html and "As a text message" not in html
    db.session.add(SmsNumber(user_id=texted.id, phone="+447700900123", confirmed_at=utcnow()))
    db.session.commit()
    html = client.post("/officer/alerts/new", data=data).get_data(as_text=True)
    assert "As a text message" in html and "1 by text message" in html
    text = re.search(r'<div class="sms-preview"><p>(.*?)</p></div>', html, re.S).group(1)
    # The title, the body's first line without its markup, and the link: as the worker sends it.
    assert [html_lib.unescape(line) for line in text.split("<br>")] == [
        "Bike marking on Saturday", "Bring your bike to St James's Square.",
        "http://wardline.test/alerts/…"]
    assert "Sent to 1 resident with a confirmed mobile number" in html
    assert db.session.scalar(select(Alert)) is None  # still only a review
