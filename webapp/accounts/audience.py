"""Who a message reaches: the residents following some wards who chose a category; the
officers of a ward's team.

Alerts, meeting invitations and ward posts all reach the same people; the SQL is here,
with the accounts whose preferences it reads, and :func:`webapp.delivery.fan_out` writes
their outbox rows from it.
"""
from __future__ import annotations

from sqlalchemy import exists, select

from webapp.accounts.models import User, UserCategory, UserWard
from webapp.extensions import db
from webapp.wards.models import TeamMember, TeamWard, Ward


def residents_following(ward_ids, category: str, users: tuple[int, int] | None = None):
    """SELECT (user_id, email_frequency) of the confirmed residents following one of
    ``ward_ids`` (home or extra ward, unless they stopped updates about it) who chose
    ``category``; only user ids ``users`` (first, last, both included) when given.

    ``ward_ids``: a list or a SELECT of ward ids, or None for every ward. EXISTS (not a
    join) keeps each resident once however many of their wards are targeted. None (a
    London-wide alert) asks only that the resident follows some ward: the same people,
    without testing each of their wards against ~700 ids (the ids were bound in every
    part's statement of a fan-out, and a worker's prepared statement then built their
    array for every resident).
    """
    follows = exists().where(UserWard.user_id == User.id, UserWard.muted.is_(False))
    if ward_ids is not None:
        follows = follows.where(UserWard.ward_id.in_(ward_ids))
    chose = exists().where(UserCategory.user_id == User.id, UserCategory.category == category)
    who = [User.role == "resident", User.confirmed_at.is_not(None)]
    if users is not None:
        # The range on every table, not only on users: PostgreSQL carries an equality
        # across a join, never a range, and without it each part of a London-wide
        # fan-out (webapp.delivery.fanout) hashed all ~625,000 of a category's choices
        # to keep the 12,000 of its range (1.6 s of a 2.2 s part at 1,000,000 residents).
        follows = follows.where(UserWard.user_id.between(*users))
        chose = chose.where(UserCategory.user_id.between(*users))
        who.append(User.id.between(*users))
    return (select(User.id.label("user_id"), User.email_frequency.label("email_frequency"))
            .where(*who, follows, chose))


def ward_team_members(ward: Ward) -> list:
    """Officers of the teams that cover ``ward`` ("Your ward team"), by name."""
    stmt = (select(User).join(TeamMember, TeamMember.user_id == User.id)
            .join(TeamWard, TeamWard.team_id == TeamMember.team_id)
            .where(TeamWard.ward_id == ward.id, User.role == "officer")
            .distinct().order_by(User.display_name))
    return list(db.session.scalars(stmt))
