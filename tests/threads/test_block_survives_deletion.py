"""Issue 9, point 10: a blocked resident cannot delete their account and sign up again to
escape the block. A keyed HMAC of the address (``BLOCKLIST_KEY``) is kept, with no link to
any account, and checked whenever the new account messages."""
from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.threads import services
from webapp.threads.models import BlockedAddress, Conversation, MessagingBlock

ADDRESS = "blocked.person@example.org"


def _start(client, resident, subject="Hello again"):
    return client.post("/messages", data={"subject": subject, "body": "Let me in",
                                          "ward": str(resident.home_ward.id)})


def test_delete_and_sign_up_again_keeps_the_block_until_an_officer_lifts_it(
        app, client, login, make_resident, make_staff, start_conversation):
    first = make_resident(email_address=ADDRESS)
    officer = make_staff("officer", wards=["E05013806"])
    conv = start_conversation(first)
    login(client, officer)
    client.post(f"/officer/messages/{conv.id}/block", data={"reason": "Threats to staff"})
    assert db.session.get(MessagingBlock, first.id) is not None

    # What is kept is a keyed hash: not the address, not its plain SHA-256.
    kept = db.session.scalars(select(BlockedAddress.address_hmac)).all()
    assert kept == [services.address_hmac(ADDRESS)]
    assert ADDRESS not in kept[0] and hashlib.sha256(ADDRESS.encode()).hexdigest() not in kept

    login(client, first)
    assert client.post("/settings/delete").status_code == 303
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(MessagingBlock)) == 0
    assert db.session.scalar(select(func.count()).select_from(BlockedAddress)) == 1

    # The same address (or a +tag of it, any case) signs up again: still stopped.
    for address in (ADDRESS, "Blocked.Person+new@example.org"):
        again = make_resident(email_address=address.lower())
        login(client, again)
        response = _start(client, again)
        assert response.status_code == 422
        assert "earlier account with this email address" in response.get_data(as_text=True)
        assert db.session.scalar(select(func.count()).select_from(Conversation)) == 0
        assert "earlier account" in client.get("/messages").get_data(as_text=True)
        export = client.get("/settings/export").get_json()
        assert export["conversations"]["messaging_stopped"]["reason"].startswith("An earlier")

    # Someone else is not affected.
    other = make_resident(email_address="someone.else@example.org")
    login(client, other)
    assert _start(client, other).status_code in (200, 303)

    # An officer lifting the block (from a conversation of the new account) clears the hash.
    services.unblock_resident(again, officer)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(BlockedAddress)) == 0
    login(client, again)
    assert _start(client, again).status_code in (200, 303)


def test_the_hash_depends_on_the_key(app):
    first = services.address_hmac(ADDRESS)
    app.config["BLOCKLIST_KEY"] = "another-key"
    try:
        assert services.address_hmac(ADDRESS) != first
    finally:
        app.config["BLOCKLIST_KEY"] = None


def test_a_residents_block_and_carried_block_are_read_in_one_statement(app, make_resident):
    """block_for (on /messages and every conversation page): one query, found or not."""
    from sqlalchemy import event

    from webapp.threads.moderation import address_hmac, block_for
    resident = make_resident("E05013806")
    seen = []

    def note(*args):
        seen.append(args[2])
    event.listen(db.engine, "before_cursor_execute", note)
    try:
        assert block_for(resident) is None
        db.session.add(BlockedAddress(address_hmac=address_hmac(resident.email)))
        db.session.flush()
        seen.clear()
        carried = block_for(resident)
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert carried is not None and carried.reason.startswith("An earlier account")
    assert len(seen) == 1
