"""The officers' digest: conversations awaiting reply in their wards, at most hourly."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.threads.models import (Conversation, OfficerDigestState)
from webapp.platform.timeutil import format_london, utcnow
from webapp.accounts.models import User
from webapp.delivery import Event, notify
from webapp.wards.models import TeamMember, TeamWard

from webapp.threads.conversations import inbox
DIGEST_INTERVAL = timedelta(hours=1)


# --------------------------------------------------------------------------- digests
def send_officer_digests(now: datetime | None = None) -> int:
    """Email each officer a digest of conversations awaiting reply in their wards, at most
    once per DIGEST_INTERVAL, and only when something new has been waiting since their last
    digest. Idempotent (a scheduler tick): each officer's ``last_digest_at`` is claimed with
    a conditional UPDATE, so parallel runs send one digest. Commits; returns how many were
    queued."""
    now = now or utcnow()
    due_before = now - DIGEST_INTERVAL
    state = OfficerDigestState
    newest_waiting = func.max(Conversation.awaiting_since)
    stmt = (select(User.id, newest_waiting)
            .join(TeamMember, TeamMember.user_id == User.id)
            .join(TeamWard, TeamWard.team_id == TeamMember.team_id)
            .join(Conversation, Conversation.ward_id == TeamWard.ward_id)
            .outerjoin(state, state.user_id == User.id)
            .where(User.role == "officer", Conversation.status == "awaiting",
                   or_(state.last_digest_at.is_(None), state.last_digest_at <= due_before))
            .group_by(User.id, state.last_digest_at)
            .having(or_(state.last_digest_at.is_(None), newest_waiting > state.last_digest_at)))
    sent = 0
    for user_id, _newest in db.session.execute(stmt).all():
        officer = db.session.get(User, user_id)
        if not _claim_digest(officer, now, due_before):
            db.session.rollback()
            continue
        count = db.session.scalar(select(state.digest_count).where(state.user_id == user_id))
        rows, total = inbox(officer, status="awaiting", per_page=20)
        items = [{"id": r.conversation.id, "subject": r.conversation.subject,
                  "ward": r.conversation.ward.name,
                  # Formatted now: the email context is stored as JSON in the outbox.
                  "since": format_london(r.conversation.awaiting_since),
                  "url": f"/officer/messages/{r.conversation.id}"} for r in rows]
        notify(officer, Event(
            # This officer's count-th digest: one notification of their own (the
            # recipient and the text are part of its identity).
            kind="officer_digest", source_type="officer_digest", source_id=officer.id,
            occasion=f"digest {count}",
            title=f"{total} conversation{'s' if total != 1 else ''} awaiting reply",
            body="\n".join(f"{i['ward']}: {i['subject']}" for i in items), url="/officer/inbox",
            email_template="threads/officer_digest",
            email_context={"items": items, "total": total, "officer": officer.display_name},
            category=None, urgent=False))
        db.session.commit()
        sent += 1
    return sent


def _claim_digest(officer, now: datetime, due_before: datetime) -> bool:
    """Take this hour's digest for ``officer`` (True), or find another run took it."""
    state = OfficerDigestState
    if db.session.get(state, officer.id) is None:
        try:
            with db.session.begin_nested():
                db.session.add(state(user_id=officer.id, last_digest_at=None, digest_count=0))
        except IntegrityError:
            pass
    claimed = db.session.execute(
        update(state).where(state.user_id == officer.id,
                            or_(state.last_digest_at.is_(None), state.last_digest_at <= due_before))
        .values(last_digest_at=now, digest_count=state.digest_count + 1)
        .execution_options(synchronize_session=False)).rowcount
    return claimed == 1
