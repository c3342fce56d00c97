"""Helpers for the threads tests: conversations made through the services."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from webapp.extensions import db

ST_JAMES = "E05013806"


@pytest.fixture
def start_conversation(app):
    """``start_conversation(resident, subject=..., body=...)`` in the resident's home ward."""
    from webapp.threads import services

    def factory(resident, subject="Bikes on the pavement", body="Cyclists ride fast on the pavement.",
                ward=None):
        conv = services.start_conversation(resident, ward or resident.home_ward, subject, body)
        db.session.commit()
        return conv
    return factory


@pytest.fixture
def reply(app):
    """``reply(conversation, officer, body)`` as an officer (through the service)."""
    from webapp.threads import services
    from webapp.threads.models import Conversation

    def factory(conversation, officer, body="Thanks, we will patrol there this week."):
        conv = db.session.get(Conversation, conversation.id)
        message, _ = services.add_message(conv, officer, body)
        db.session.commit()
        return message
    return factory


class QueryCounter:
    """Counts SQL statements sent to the database while active."""

    def __init__(self, engine):
        self.engine = engine
        self.statements: list[str] = []

    def _count(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(statement)

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._count)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(app):
    return lambda: QueryCounter(db.engine)
