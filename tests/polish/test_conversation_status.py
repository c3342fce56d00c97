"""Issue 13 point 5: the conversation header's status ("Awaiting reply · waiting 2 min")
comes with every reply and every live update (an htmx out-of-band swap)."""
from __future__ import annotations

import re


def _status(html: str) -> str | None:
    m = re.search(r'<span id="conversation-status"[^>]*><span[^>]*>([^<]*)</span>([^<]*)</span>', html)
    return " ".join((m.group(1) + m.group(2)).split()) if m else None


def test_officer_reply_brings_the_new_status_out_of_band(client, login, make_resident, make_staff,
                                                         start_conversation, htmx_headers):
    resident = make_resident()
    conversation = start_conversation(resident)
    officer = make_staff("officer", wards=["E05013806"])
    login(client, officer)
    page = client.get(f"/officer/messages/{conversation.id}").get_data(as_text=True)
    assert "Awaiting reply · waiting" in _status(page)
    response = client.post(f"/officer/messages/{conversation.id}",
                           data={"body": "We will patrol there.", "after": conversation.last_message_id},
                           headers=htmx_headers)
    html = response.get_data(as_text=True)
    assert '<span id="conversation-status" hx-swap-oob="true">' in html
    assert _status(html) == "Answered"


def test_a_poll_with_new_messages_updates_the_residents_header(client, login, make_resident,
                                                               make_staff, start_conversation,
                                                               reply, htmx_headers):
    resident = make_resident()
    conversation = start_conversation(resident)
    login(client, resident)
    assert "Awaiting reply" in _status(client.get(f"/messages/{conversation.id}").get_data(as_text=True))
    after = conversation.last_message_id
    reply(conversation, make_staff("officer", wards=["E05013806"]))
    html = client.get(f"/messages/{conversation.id}/poll?after={after}", headers=htmx_headers).get_data(as_text=True)
    assert '<span id="conversation-status" hx-swap-oob="true">' in html and _status(html) == "Answered"
    # The resident writes again: awaiting once more, said with the sent message.
    html = client.post(f"/messages/{conversation.id}", data={"body": "Thanks!"},
                       headers=htmx_headers).get_data(as_text=True)
    assert _status(html).startswith("Awaiting reply · waiting")
