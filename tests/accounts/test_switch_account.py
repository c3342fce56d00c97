"""Opening another account's sign-in link while signed in asks first (issue 9, point 10)."""
from __future__ import annotations

from tests.accounts.helpers import signin_path


def _who(client) -> str:
    return client.get("/settings").text


def test_another_accounts_link_asks_before_switching(app, mail, make_resident):
    alice = make_resident(email_address="alice@example.org")
    bob = make_resident(email_address="bob@example.org")
    client = app.test_client()
    client.post("/login", data={"email": alice.email})
    assert client.post(signin_path(mail.wait_for(1)[-1])).status_code == 303
    assert "alice@example.org" in _who(client)
    alice_cookies = {"session": client.get_cookie("session").value}

    app.test_client().post("/login", data={"email": bob.email})  # Bob asks elsewhere
    bob_link = signin_path(mail.wait_for(2)[-1])
    page = client.get(bob_link)
    assert page.status_code == 200
    assert "You are signed in as <strong>alice@example.org</strong>" in page.text
    assert "Continue as bob@example.org" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    # A POST without the confirmation (an old page, a script) does not switch.
    silent = client.post(bob_link)
    assert silent.status_code == 409 and "Continue as bob@example.org" in silent.text
    assert "alice@example.org" in _who(client)
    # Confirmed: now Bob, and Alice's session on this browser has ended for good.
    switched = client.post(bob_link, data={"switch": str(bob.id)})
    assert switched.status_code == 303
    assert "bob@example.org" in _who(client)
    replay = app.test_client()
    replay.set_cookie("session", alice_cookies["session"])
    assert replay.get("/settings").status_code == 302


def test_own_link_while_signed_in_needs_no_question(app, mail, make_resident):
    alice = make_resident(email_address="alice@example.org")
    client = app.test_client()
    client.post("/login", data={"email": alice.email})
    assert client.post(signin_path(mail.wait_for(1)[-1])).status_code == 303
    app.test_client().post("/login", data={"email": alice.email})
    link = signin_path(mail.wait_for(2)[-1])
    assert "Switch account" not in client.get(link).text
    assert client.post(link).status_code == 303
