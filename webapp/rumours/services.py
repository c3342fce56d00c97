"""Rumour checks: a resident tells their ward team what they heard; an officer covering
the ward publishes a verdict (true, false, partly true, not known yet) with a short
explanation and the claim in public wording, scrubbed of the asker's identity. The asker
is told (a personal notification); residents of the ward who chose incident updates
("appeals") get it like an alert (set-based, by their preferences); the ward home lists
it under "Checked by your team". A later verdict changes it; every verdict stays visible.

Services flush; views commit.
"""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import delete, select, update
from sqlalchemy.orm import joinedload, selectinload

from webapp.accounts import residents_following
from webapp.accounts.models import User
from webapp.delivery import Event, fan_out, notify
from webapp.extensions import db
from webapp.platform.account_data import Gathered, register_account_data
from webapp.platform.audit import record
from webapp.posts import scrub_identity
from webapp.rumours.models import (CLAIM_MAX, EXPLANATION_MAX, TEXT_MAX, VERDICTS, Rumour,
                                   RumourVerdict)
from webapp.platform.timeutil import utcnow
from webapp.threads.services import resident_wards
from webapp.wards.models import Ward
from webapp.wards.services import Officer, covered_ward_ids, is_officer

FEED_CATEGORY = "appeals"  # "Incident updates and appeals for information"


class RumourError(ValueError):
    """Bad input (the message says what)."""


def _clean(value: str | None, limit: int, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise RumourError(f"Write the {what}.")
    if len(value) > limit:
        raise RumourError(f"The {what} must be {limit:,} characters or fewer.")
    return value


def ask(resident, ward, text: str, now=None) -> Rumour:
    """A resident's "Heard something?" for one of their wards."""
    if ward is None or ward.id not in {w.id for w in resident_wards(resident)}:
        raise RumourError("Choose one of your wards.")
    now = now or utcnow()
    rumour = Rumour(ward_id=ward.id, asker_id=resident.id, text=_clean(text, TEXT_MAX, "what you heard"),
                    status="open", created_at=now, updated_at=now)
    db.session.add(rumour)
    db.session.flush()
    return rumour


def checks_for_officer(user, limit: int = 50) -> dict:
    """The inbox's rumour checks: open ones first (oldest first), then recent verdicts."""
    stmt = _officer_checks(user.id, limit) if is_officer(user) else _checks(user, limit)
    rows = list(db.session.scalars(stmt))
    return {"open": sorted((r for r in rows if r.status == "open"), key=lambda r: (r.created_at, r.id)),
            "published": sorted((r for r in rows if r.status == "published"),
                                key=lambda r: (r.updated_at, r.id), reverse=True)}


@lru_cache(maxsize=1024)
def _officer_checks(user_id: int, limit: int):
    """An officer's statement, built once per process (its SQL, never its results)."""
    return _checks(Officer(user_id), limit)


def _checks(user, limit: int):
    covered = covered_ward_ids(user)
    base = select(Rumour.id).where(Rumour.ward_id.in_(covered))
    open_ids = base.where(Rumour.status == "open").order_by(Rumour.created_at).limit(limit)
    done_ids = base.where(Rumour.status == "published").order_by(
        Rumour.updated_at.desc()).limit(10)
    # One query for both lists.
    return select(Rumour).where(
        Rumour.id.in_(open_ids.scalar_subquery()) | Rumour.id.in_(done_ids.scalar_subquery()))


def get_for_officer(user, rumour_id: int) -> Rumour | None:
    """A rumour in a ward ``user`` covers (else None: a 404)."""
    return db.session.scalar(select(Rumour).where(Rumour.id == rumour_id,
                                                  Rumour.ward_id.in_(covered_ward_ids(user)))
                             .options(joinedload(Rumour.asker), selectinload(Rumour.verdicts)))


def public(rumour_id: int) -> Rumour | None:
    return db.session.scalar(select(Rumour).where(Rumour.id == rumour_id,
                                                  Rumour.status == "published")
                             .options(selectinload(Rumour.verdicts)))


def checked_for_ward(ward, limit: int = 5) -> list[Rumour]:
    """The ward home's "Checked by your team": latest published checks."""
    return list(db.session.scalars(select(Rumour).where(
        Rumour.ward_id == ward.id, Rumour.status == "published")
        .options(selectinload(Rumour.verdicts))
        .order_by(Rumour.updated_at.desc(), Rumour.id.desc()).limit(limit)))


def mine(user) -> list[Rumour]:
    return list(db.session.scalars(select(Rumour).where(Rumour.asker_id == user.id)
                                   .order_by(Rumour.created_at.desc()).limit(50)))


def default_claim(rumour: Rumour) -> str:
    """Suggested public wording: the asker's text, scrubbed, cut to the claim's size."""
    return scrub_identity(rumour.text, rumour.asker)[:CLAIM_MAX]


def publish_verdict(officer, rumour: Rumour, claim: str, verdict: str, explanation: str,
                    now=None) -> RumourVerdict:
    """Publish (or change) the verdict on ``rumour``; tell the asker and the ward's
    residents who chose incident updates. Audit-logged. The caller commits."""
    if get_for_officer(officer, rumour.id) is None:
        raise PermissionError("Not a ward you cover.")
    if verdict not in VERDICTS:
        raise RumourError("Choose a verdict.")
    claim = scrub_identity(_clean(claim, CLAIM_MAX, "claim"), rumour.asker)
    explanation = scrub_identity(_clean(explanation, EXPLANATION_MAX, "explanation"), rumour.asker)
    now = now or utcnow()
    first = rumour.status != "published"
    changed = rumour.verdict is not None and rumour.verdict != verdict
    row = RumourVerdict(rumour_id=rumour.id, verdict=verdict, explanation=explanation,
                        author_id=officer.id,
                        author_label=(getattr(officer, "officer_label", "") or "")[:120],
                        created_at=now)
    db.session.add(row)
    rumour.claim, rumour.verdict, rumour.status, rumour.updated_at = claim, verdict, "published", now
    if first:
        rumour.published_at = now
    db.session.flush()
    record(officer, "rumour.verdict", rumour, f"{VERDICTS[verdict]}: {claim}"[:500])
    label = VERDICTS[verdict]
    url = f"/rumours/{rumour.id}"
    title = (f"Checked by your team: {label}" if first else f"Verdict changed: {label}")
    body = f"\u201c{claim}\u201d \u2014 {label}. {explanation}"
    if rumour.asker is not None:
        notify(rumour.asker, Event(
            kind="rumour_answer", source_type="rumour_verdict", source_id=row.id,
            title=f"Your team checked what you heard: {label}", body=body, url=url,
            email_template="rumours/answer",
            email_context={"claim": claim, "verdict": label, "explanation": explanation,
                           "ward_name": rumour.ward.name, "changed": changed},
            tag=f"rumour-{rumour.id}"))
    who = residents_following([rumour.ward_id], FEED_CATEGORY)
    if rumour.asker_id is not None:
        who = who.where(User.id != rumour.asker_id)  # told personally above
    fan_out(Event(kind="rumour_check", source_type="rumour_verdict", source_id=row.id,
                  title=title, body=body, url=url, category=FEED_CATEGORY,
                  email_template="rumours/check",
                  email_context={"claim": claim, "verdict": label, "explanation": explanation,
                                 "ward_name": rumour.ward.name, "changed": changed},
                  tag=f"rumour-{rumour.id}"), who, now=now)
    return row


# --------------------------------------------------------------------------- account data
def _rumour_parts(user) -> dict:
    return {"rumours": (select(Rumour.id, Ward.name.label("ward"), Rumour.text, Rumour.status,
                               Rumour.claim, Rumour.verdict, Rumour.created_at)
                        .join(Ward, Ward.id == Rumour.ward_id).where(Rumour.asker_id == user.id)
                        .order_by(Rumour.created_at.desc()).limit(50), ("-created_at",))}


def _rumour_section(user, rows) -> tuple[str, list]:
    return "rumour_checks", [
        {"id": r["id"], "ward": r["ward"], "what_you_heard": r["text"], "status": r["status"],
         "public_claim": r["claim"], "verdict": VERDICTS.get(r["verdict"] or "", "") or None,
         "asked_at": r["created_at"].isoformat() + "Z"} for r in rows["rumours"]]


def forget_rumours(user) -> None:
    """Unchecked rumours go; a published check stays public (its claim was scrubbed at
    publication and is redacted again like every public text), without its asker and
    with the asker's own words erased."""
    db.session.execute(delete(Rumour).where(Rumour.asker_id == user.id, Rumour.status == "open")
                       .execution_options(synchronize_session=False))
    db.session.execute(update(Rumour).where(Rumour.asker_id == user.id)
                       .values(asker_id=None, text="")
                       .execution_options(synchronize_session=False))


def rumours_identifying(user) -> list[str]:
    """What the resident wrote (an officer's explanation might quote it)."""
    return list(db.session.scalars(select(Rumour.text).where(Rumour.asker_id == user.id)))


register_account_data(export=Gathered(_rumour_parts, _rumour_section), identify=rumours_identifying,
                      forget=forget_rumours)
