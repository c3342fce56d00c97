"""A read marker counts as a write of ``conversation_reads`` (raising its page-cache
generation, which ends the pages stored for it) only when it moved: a conversation seen
again, or polled, with nothing new writes nothing."""
from __future__ import annotations

from webapp.extensions import db
from webapp.platform import pagecache
from webapp.threads.conversations import _mark_read


def _generation() -> int:
    db.session.remove()
    return pagecache.generations().get("conversation_reads", 0)


def test_the_read_marker_raises_its_generation_only_when_it_moves(
        app, make_resident, start_conversation):
    resident = make_resident()
    conversation = start_conversation(resident, subject="Noise at night")
    ids = (conversation.id, resident.id, conversation.last_message_id)
    with app.test_request_context():
        before = _generation()
        _mark_read(*ids[:2], ids[2] + 1)
        db.session.commit()
        moved = _generation()
        assert moved != before
        for message_id in (ids[2] + 1, ids[2]):  # the same place, then backwards: no change
            _mark_read(*ids[:2], message_id)
            db.session.commit()
            assert _generation() == moved
