"""A resident's outbox rows without an index entry for each row still being sent
(``ix_deliveries_user`` holds texts and finished rows; ``RESIDENT_PARTS`` says which index
holds the others): every row is still found, exported and deleted, and unsubscribing
still stops every email not yet sent."""
from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select, text

from tests.conftest import is_postgres
from tests.delivery.test_outbox_plans import plans
from webapp.accounts.data_rights import delete_account
from webapp.delivery.digest import send_digests
from webapp.delivery.models import (CHANNELS, RESIDENT_PARTS, STATES, Delivery, Notification,
                                    rows_of)
from webapp.delivery.services import stop_email
from webapp.extensions import db
from webapp.platform.account_data import export_all
from webapp.platform.timeutil import utcnow

INDEXES = ("ix_deliveries_user", "ix_deliveries_digest", "ix_deliveries_due",
           "ix_deliveries_leased")


def every_kind_of_row(*users) -> dict[int, set[int]]:
    """A row of every channel in every state for each of ``users``; their ids by user."""
    now = utcnow()
    notes = []
    for n, (channel, state) in enumerate(itertools.product(CHANNELS, STATES)):
        note = Notification(content_key=f"{n:064x}", source_type="test", source_id=n,
                            kind="alert", title=f"{channel} {state}")
        notes.append((note, channel, state))
    db.session.add_all(note for note, *_ in notes)
    db.session.flush()
    rows = {}
    for user in users:
        made = [Delivery(notification_id=note.id, user_id=user.id, channel=channel,
                         device_id=0, state=state, next_attempt_at=now, created_at=now,
                         claimed_by="w:1" if state == "sending" else None,
                         lease_until=now if state == "sending" else None)
                for note, channel, state in notes]
        db.session.add_all(made)
        db.session.flush()
        rows[user.id] = {d.id for d in made}
    db.session.commit()
    return rows


def test_the_parts_of_a_residents_rows_find_each_row_once(app, make_resident):
    resident, other = make_resident(), make_resident()
    rows = every_kind_of_row(resident, other)
    assert len(rows[resident.id]) == len(CHANNELS) * len(STATES)
    found = [i for part in rows_of(resident.id)
             for i in db.session.scalars(select(Delivery.id).where(part))]
    assert sorted(found) == sorted(rows[resident.id])  # each once, none of the other's


def test_export_and_deletion_reach_every_row_of_the_resident(app, make_resident):
    resident, other = make_resident(), make_resident()
    rows = every_kind_of_row(resident, other)
    [deliveries] = [data for key, data in export_all(resident) if key == "deliveries"]
    assert sorted((d["channel"], d["state"]) for d in deliveries) == sorted(
        itertools.product(CHANNELS, STATES))
    resident_id = resident.id
    delete_account(resident)
    db.session.commit()
    left = set(db.session.scalars(select(Delivery.id)))
    assert not left & rows[resident_id] and rows[other.id] <= left


def test_unsubscribing_drops_the_digest_and_the_emails_not_sent_yet(
        app, make_resident, mail):
    """The digest rows waiting for the digest, and those gathered into a digest email still
    waiting, are dropped at once (they were left "batched" for good before); that email
    and an alert's email still waiting are not sent: the worker checks the preference
    before each email."""
    from tests.delivery.test_digest_unsubscribe import alert, at_london
    from webapp.delivery import notify
    from webapp.delivery.worker import deliver_due
    resident = make_resident(email_frequency="digest")
    notify(resident, alert(1))
    db.session.commit()
    db.session.execute(Delivery.__table__.update().values(
        created_at=at_london(2026, 6, 1, 12), next_attempt_at=at_london(2026, 6, 1, 12)))
    db.session.commit()
    seven = at_london(2026, 6, 2, 7)
    assert send_digests(now=seven) == 1  # gathered into today's digest email, waiting
    notify(resident, alert(2))  # a digest row waiting for tomorrow's
    resident.email_frequency = "immediate"
    notify(resident, alert(3))  # an email waiting
    db.session.commit()
    assert sorted(db.session.execute(select(Delivery.channel, Delivery.state).where(
        Delivery.user_id == resident.id)).all()) == [
        ("digest", "batched"), ("digest", "queued"), ("email", "queued"), ("email", "queued")]
    assert stop_email(resident) == 2  # the batched row and the waiting one
    db.session.commit()
    assert deliver_due()["sent"] == 0 and mail.messages == []
    assert set(db.session.scalars(select(Delivery.state).where(
        Delivery.user_id == resident.id))) == {"gone"}


@pytest.mark.skipif(not is_postgres(), reason="PostgreSQL's index sizes and plans")
def test_rows_being_sent_take_no_entry_in_the_index_by_resident(app, make_resident):
    """A London-wide fan-out's 720,000 waiting rows wrote as many entries in the index by
    resident, ~15 % of its PostgreSQL time: waiting email, push and digest rows now write
    none, and each part of a resident's rows is read through the index that holds it."""
    resident = make_resident()

    def size() -> int:
        return db.session.scalar(text("SELECT pg_relation_size('ix_deliveries_user')"))
    before = size()
    for channel in ("email", "push", "digest"):
        db.session.execute(text(
            "INSERT INTO deliveries (notification_id, user_id, channel, device_id, state, "
            "attempts, next_attempt_at, created_at) SELECT 2000000 + n, :user, :channel, 0, "
            "'queued', 0, now(), now() FROM generate_series(1, 5000) AS n"),
            {"user": resident.id, "channel": channel})
    db.session.commit()
    assert size() == before
    db.session.execute(text("UPDATE deliveries SET state = 'sent' WHERE channel = 'email'"))
    db.session.commit()
    assert size() > before  # finished rows are in it
    db.session.execute(text("ANALYZE deliveries"))
    db.session.commit()
    for part, index in zip(rows_of(resident.id), INDEXES, strict=True):
        statement = select(Delivery.id).where(part).compile(db.engine)
        for plan in plans(str(statement), statement.params).values():
            assert index in plan, plan
    assert len(RESIDENT_PARTS) == len(INDEXES)
