""""Ask residents again" rounds: opening one (inviting the ward's residents), closing it,
residents' answers (confirming or changing their top three), and the results beside the
standing survey answers."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from webapp.accounts.models import Concern, User, UserWard
from webapp.accounts.services import AnswerError, set_concerns, survey_concerns
from webapp.delivery import Event, fan_out
from webapp.extensions import db
from webapp.platform.audit import record
from webapp.platform.taxonomy import MAX_CONCERNS
from webapp.platform.timeutil import utcnow
from webapp.priorities.models import QUESTION_MAX, PriorityRound
from webapp.priorities.ranking import RoundResults, residents_said
from webapp.priorities.scope import PriorityError, _scrub, may_edit
from webapp.wards.models import Ward


def open_round(user, ward: Ward, question: str, now: datetime | None = None) -> PriorityRound:
    """Open a round for ``ward`` (one open at a time) and invite the ward's residents
    (home ward) to confirm or change their top three."""
    now = now or utcnow()
    if not may_edit(user, ward.id):
        raise PermissionError("not your ward")
    text = " ".join((question or "").split())
    if not text:
        raise PriorityError("question", "Write the question residents will see.")
    if len(text) > QUESTION_MAX:
        raise PriorityError("question", f"Use at most {QUESTION_MAX} characters.")
    if open_round_for(ward.id) is not None:
        raise PriorityError("question", "A round is already open here. Close it first.")
    rnd = PriorityRound(ward_id=ward.id, question=_scrub(text), opened_by_id=user.id,
                        opened_at=now)
    db.session.add(rnd)
    db.session.flush()
    record(user, "priority.round_open", rnd, text)
    home = (select(User.id.label("user_id"), User.email_frequency.label("email_frequency"))
            .join(UserWard, UserWard.user_id == User.id)
            .where(UserWard.ward_id == ward.id, UserWard.is_home.is_(True),
                   User.role == "resident", User.confirmed_at.is_not(None)))
    fan_out(Event(kind="priority_round", source_type="priority_round", source_id=rnd.id,
                  title=f"{ward.name}: {rnd.question}",
                  body="Your ward team is asking again. Confirm or change your top three in one tap.",
                  url=f"/rounds/{rnd.id}", tag=f"round-{rnd.id}"), home)
    return rnd


def close_round(user, rnd: PriorityRound, now: datetime | None = None) -> None:
    if rnd.closed_at is None:
        rnd.closed_at = now or utcnow()
        record(user, "priority.round_close", rnd, rnd.question)
        db.session.flush()


def open_round_for(ward_id: int) -> PriorityRound | None:
    return db.session.scalar(select(PriorityRound).where(
        PriorityRound.ward_id == ward_id, PriorityRound.closed_at.is_(None))
        .order_by(PriorityRound.id.desc()).limit(1))


def rounds_for(ward_id: int, limit: int = 5) -> list[PriorityRound]:
    return list(db.session.scalars(select(PriorityRound).where(PriorityRound.ward_id == ward_id)
                                   .order_by(PriorityRound.id.desc()).limit(limit)))


def round_for_resident(user, round_id: int) -> PriorityRound | None:
    """A round the resident is invited to: one for their home ward."""
    home = user.home_ward if user and getattr(user, "is_resident", False) else None
    if home is None:
        return None
    return db.session.scalar(select(PriorityRound).where(PriorityRound.id == round_id,
                                                         PriorityRound.ward_id == home.id))


def round_answer(user, rnd: PriorityRound) -> list[str]:
    return list(db.session.scalars(select(Concern.topic).where(
        Concern.source == "round", Concern.source_id == rnd.id,
        Concern.respondent_key == user.respondent_key).order_by(Concern.id)))


def answer_round(user, rnd: PriorityRound, topics=None, other_text: str | None = None,
                 now: datetime | None = None) -> list[str]:
    """The resident's answer to an open round: ``topics`` None confirms their current top
    three; a list changes it (their standing survey answer too). Answering again replaces
    the answer. Raises :class:`webapp.accounts.services.AnswerError` for bad input."""
    if not rnd.is_open:
        raise AnswerError("concerns", "This question has closed. Thank you.")
    if topics is None:
        current = survey_concerns(user)
        chosen = [c.topic for c in current]
        if not chosen:
            raise AnswerError("concerns", "Choose up to three topics.")
    else:
        chosen = list(dict.fromkeys(topics))
        if not chosen:
            raise AnswerError("concerns", "Choose at least one topic.")
        if len(chosen) > MAX_CONCERNS:
            raise AnswerError("concerns", f"Choose up to {MAX_CONCERNS} topics.")
        set_concerns(user, chosen, other_text)
    db.session.execute(delete(Concern).where(Concern.source == "round",
                                             Concern.source_id == rnd.id,
                                             Concern.respondent_key == user.respondent_key))
    for topic in chosen:
        db.session.add(Concern(user_id=user.id, respondent_key=user.respondent_key,
                               ward_id=rnd.ward_id, topic=topic, source="round",
                               source_id=rnd.id, created_at=now or utcnow()))
    db.session.flush()
    return chosen


def round_results(rnd: PriorityRound) -> RoundResults:
    """The round's answers beside the standing (survey) ones, by topic. Counts appear
    only once :func:`min_count` residents answered the round."""
    return residents_said(rnd.ward_id, [rnd.id])[1][rnd.id]

