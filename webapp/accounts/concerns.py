"""How many residents raised each concern topic: for a ward's chart and a meeting's.

A resident counts once per topic (distinct ``respondent_key``), and answers kept
anonymously after an account was deleted still count.
"""
from __future__ import annotations

from sqlalchemy import func, select

from webapp.accounts.models import Concern
from webapp.extensions import db
from webapp.platform.taxonomy import CONCERN_TOPICS


def _criteria(ward_id: int | None, source: tuple[str, int] | None) -> list:
    criteria = []
    if ward_id is not None:
        criteria.append(Concern.ward_id == ward_id)
    if source is not None:
        criteria += [Concern.source == source[0], Concern.source_id == source[1]]
    return criteria


def concern_counts(*, ward_id: int | None = None,
                   source: tuple[str, int] | None = None) -> list[tuple[str, str, int]]:
    """``[(topic, label, residents), ...]`` for the concerns of a ward (``ward_id``: the
    residents' home ward) or raised for one thing (``source=("meeting", id)``), most
    raised first, then by label."""
    residents = func.count(func.distinct(Concern.respondent_key))
    rows = db.session.execute(select(Concern.topic, residents)
                              .where(*_criteria(ward_id, source)).group_by(Concern.topic)).all()
    counts = [(topic, CONCERN_TOPICS.get(topic, topic), n) for topic, n in rows]
    return sorted(counts, key=lambda item: (-item[2], item[1]))


def counts_of(concerns) -> list[tuple[str, str, int]]:
    """What :func:`concern_counts` answers, from the concerns already loaded (a meeting's
    managers see the whole list anyway)."""
    residents: dict[str, set] = {}
    for concern in concerns:
        residents.setdefault(concern.topic, set())
        if concern.respondent_key is not None:
            residents[concern.topic].add(concern.respondent_key)
    counts = [(topic, CONCERN_TOPICS.get(topic, topic), len(keys)) for topic, keys in residents.items()]
    return sorted(counts, key=lambda item: (-item[2], item[1]))


def respondent_count(*, ward_id: int | None = None, source: tuple[str, int] | None = None) -> int:
    """How many residents answered at all (the same filters as :func:`concern_counts`)."""
    return db.session.scalar(select(func.count(func.distinct(Concern.respondent_key)))
                             .where(*_criteria(ward_id, source))) or 0
