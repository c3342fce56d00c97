"""Helpers of the PWA browser tests (tests/browser/test_pwa_*.py)."""
from __future__ import annotations

from sqlalchemy import func, select

from tests.browser.conftest import cached_paths
from webapp.extensions import db

WARD = "E05013806"


def all_cached(page) -> set[str]:
    return {path for paths in cached_paths(page).values() for path in paths}


def start_conversation(resident, text="When is the next ward panel meeting?"):
    from webapp.threads import services as threads
    conversation = threads.start_conversation(resident, resident.home_ward, "Ward panel", text)
    db.session.commit()
    return conversation


def message_count(conversation_id: int, body: str | None = None) -> int:
    from webapp.threads.models import Message
    db.session.rollback()  # end the read snapshot: see what the live server committed
    query = select(func.count()).select_from(Message).where(Message.conversation_id == conversation_id)
    if body is not None:
        query = query.where(Message.body == body)
    return db.session.scalar(query)


def subscriptions(user) -> list:
    from webapp.delivery.subscriptions import subscriptions_for
    db.session.rollback()  # end the read snapshot: see what the live server committed
    return subscriptions_for(user)
