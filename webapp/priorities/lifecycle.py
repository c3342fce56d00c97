"""Setting, changing, acting on and closing a ward's priorities (each step tells the
residents who raised a linked topic: :mod:`webapp.priorities.telling`), and what an action
may link to."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.platform.audit import record
from webapp.platform.taxonomy import CONCERN_TOPICS
from webapp.platform.timeutil import to_london, utcnow
from webapp.priorities.models import (ACTION_MAX, COMMITMENT_MAX, OUTCOME_MAX, TITLE_MAX,
                                      Priority, PriorityAction, PriorityTopic)
from webapp.priorities.scope import PriorityError, _scrub, max_priorities, may_edit
from webapp.priorities.set_page import linkable
from webapp.priorities.telling import _tell, raisers
from webapp.wards.models import Ward

MAX_REVIEW_AHEAD = timedelta(days=366)


@dataclass
class PriorityInput:
    title: str
    commitment: str
    topics: list[str] = field(default_factory=list)
    review_on: date | None = None


def _validate(data: PriorityInput, today: date) -> PriorityInput:
    title = " ".join((data.title or "").split())
    commitment = (data.commitment or "").strip()
    topics = list(dict.fromkeys(data.topics or []))
    if not title:
        raise PriorityError("title", "Give the priority a short title.")
    if len(title) > TITLE_MAX:
        raise PriorityError("title", f"Use at most {TITLE_MAX} characters.")
    if not commitment:
        raise PriorityError("commitment", "Say what the team will do.")
    if len(commitment) > COMMITMENT_MAX:
        raise PriorityError("commitment", f"Use at most {COMMITMENT_MAX} characters.")
    if not topics:
        raise PriorityError("topics", "Link at least one topic residents raised.")
    if any(t not in CONCERN_TOPICS for t in topics):
        raise PriorityError("topics", "Choose topics from the list.")
    if data.review_on is None:
        raise PriorityError("review_on", "Give a review date.")
    if data.review_on <= today:
        raise PriorityError("review_on", "The review date must be in the future.")
    if data.review_on > today + MAX_REVIEW_AHEAD:
        raise PriorityError("review_on", "Review within a year.")
    return PriorityInput(_scrub(title), _scrub(commitment), topics, data.review_on)


def current_priorities(ward_id: int) -> list[Priority]:
    return list(db.session.scalars(select(Priority).where(
        Priority.ward_id == ward_id, Priority.status == "current")
        .order_by(Priority.created_at, Priority.id)))


def earlier_priorities(ward_id: int) -> list[Priority]:
    return list(db.session.scalars(select(Priority).where(
        Priority.ward_id == ward_id, Priority.status == "closed")
        .order_by(Priority.closed_at.desc(), Priority.id.desc())))


def current_counts(ward_ids) -> dict[int, int]:
    """{ward id: its current priorities} for many wards, in one grouped statement."""
    counts = dict.fromkeys(ward_ids, 0)
    if counts:
        counts.update(db.session.execute(
            select(Priority.ward_id, func.count()).where(Priority.ward_id.in_(counts),
                                                         Priority.status == "current")
            .group_by(Priority.ward_id)).all())
    return counts


def ward_priorities(ward_id: int) -> tuple[list[Priority], list[Priority]]:
    """The ward's current priorities (oldest first) and closed ones (latest closed first),
    read together, each with its topics (joined) and actions."""
    rows = list(db.session.scalars(
        select(Priority).where(Priority.ward_id == ward_id)
        .options(joinedload(Priority.topic_links)).order_by(Priority.id)).unique())
    current = sorted((p for p in rows if p.status == "current"), key=lambda p: (p.created_at, p.id))
    earlier = sorted((p for p in rows if p.status == "closed"),
                     key=lambda p: (p.closed_at, p.id), reverse=True)
    return current, earlier


def public_priority(ward_id: int, priority_id: int) -> Priority | None:
    return db.session.scalar(select(Priority).where(Priority.id == priority_id,
                                                    Priority.ward_id == ward_id))


def create_priority(user, ward: Ward, data: PriorityInput, now: datetime | None = None) -> Priority:
    """Publish a priority for ``ward`` and tell the residents who raised its topics."""
    now = now or utcnow()
    if not may_edit(user, ward.id):
        raise PermissionError("not your ward")
    clean = _validate(data, to_london(now).date())
    if len(current_priorities(ward.id)) >= max_priorities():
        raise PriorityError("title", f"{ward.name} already has {max_priorities()} current "
                                     "priorities. Close one with its outcome first.")
    priority = Priority(ward_id=ward.id, title=clean.title, commitment=clean.commitment,
                        review_on=clean.review_on, created_by_id=user.id, created_at=now,
                        updated_at=now)
    priority.topic_links = [PriorityTopic(topic=t) for t in clean.topics]
    db.session.add(priority)
    db.session.flush()
    record(user, "priority.create", priority, f"{ward.code}: {clean.title}")
    _tell(priority, "We made it a ward priority", f"{clean.title}. {clean.commitment}", "set")
    return priority


def update_priority(user, priority: Priority, data: PriorityInput,
                    now: datetime | None = None) -> Priority:
    """Change a current priority. Residents of a newly linked topic (not already told
    through another of its topics) are told it was set."""
    now = now or utcnow()
    if priority.status != "current":
        raise PriorityError("title", "This priority is closed.")
    clean = _validate(data, to_london(now).date())
    before = set(raisers(priority.ward_id, priority.topics))
    priority.title, priority.commitment = clean.title, clean.commitment
    priority.review_on, priority.updated_at = clean.review_on, now
    keep = [link for link in priority.topic_links if link.topic in clean.topics]
    have = {link.topic for link in keep}
    priority.topic_links = keep + [PriorityTopic(topic=t) for t in clean.topics if t not in have]
    db.session.flush()
    record(user, "priority.update", priority, clean.title)
    newly = set(raisers(priority.ward_id, priority.topics)) - before
    if newly:
        _tell(priority, "We made it a ward priority", f"{clean.title}. {clean.commitment}",
              "set", only=newly)
    return priority


@dataclass
class ActionInput:
    body: str
    acted_on: date | None = None
    link: str = ""  # "alert:12", "post:3", "meeting:7" or ""


def link_choices(user, ward_id: int) -> list[tuple[str, str]]:
    """What an action may link: the ward's sent alerts, ward posts and meetings, latest
    first (all within the officer's wards, since the priority's ward is one)."""
    return linkable(ward_id) if may_edit(user, ward_id) else []


def _resolve_link(user, ward_id: int, link: str) -> tuple[str | None, int | None, str | None]:
    if not link:
        return None, None, None
    titles = dict(link_choices(user, ward_id))
    if link not in titles:
        raise PriorityError("link", "Choose an alert, post or meeting of this ward.")
    kind, _, ident = link.partition(":")
    return kind, int(ident), titles[link].split(": ", 1)[1][:200]


def link_url(action: PriorityAction, ward_code: str) -> str | None:
    if action.link_type == "alert":
        return f"/alerts/{action.link_id}"
    if action.link_type == "post":
        return f"/wards/{ward_code}/posts/{action.link_id}"
    if action.link_type == "meeting":
        return f"/meetings/{action.link_id}"
    return None


def add_action(user, priority: Priority, data: ActionInput,
               now: datetime | None = None) -> PriorityAction:
    """Add a dated action to a current priority and tell the residents who raised it."""
    now = now or utcnow()
    today = to_london(now).date()
    if priority.status != "current":
        raise PriorityError("body", "This priority is closed.")
    body = " ".join((data.body or "").split())
    if not body:
        raise PriorityError("body", "Say what was done.")
    if len(body) > ACTION_MAX:
        raise PriorityError("body", f"Use at most {ACTION_MAX} characters.")
    acted_on = data.acted_on or today
    if acted_on > today:
        raise PriorityError("acted_on", "An action is something already done: no future dates.")
    if acted_on < today - timedelta(days=366):
        raise PriorityError("acted_on", "Give a date within the last year.")
    link_type, link_id, link_title = _resolve_link(user, priority.ward_id, data.link)
    action = PriorityAction(priority_id=priority.id, body=_scrub(body), acted_on=acted_on,
                            link_type=link_type, link_id=link_id, link_title=link_title,
                            author_id=user.id, created_at=now)
    db.session.add(action)
    priority.updated_at = now
    db.session.flush()
    db.session.refresh(priority)
    record(user, "priority.action", priority, body)
    _tell(priority, acted_on.strftime("%-d %b"), action.body, f"action-{action.id}")
    return action


def close_priority(user, priority: Priority, outcome: str, now: datetime | None = None) -> Priority:
    """Close a priority with its outcome and tell the residents who raised it."""
    now = now or utcnow()
    if priority.status != "current":
        raise PriorityError("outcome", "This priority is already closed.")
    text = (outcome or "").strip()
    if not text:
        raise PriorityError("outcome", "Say what came of it.")
    if len(text) > OUTCOME_MAX:
        raise PriorityError("outcome", f"Use at most {OUTCOME_MAX} characters.")
    priority.status, priority.outcome = "closed", _scrub(text)
    priority.closed_at = priority.updated_at = now
    db.session.flush()
    record(user, "priority.close", priority, text)
    _tell(priority, "Priority closed", priority.outcome, "close")
    return priority
