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


def residents_following(ward_ids, category: str):
    """SELECT (user_id, email_frequency) of the confirmed residents following one of
    ``ward_ids`` (home or extra ward) who chose ``category``.

    ``ward_ids``: a list or a SELECT of ward ids. EXISTS (not a join) keeps each resident
    once however many of their wards are targeted.
    """
    follows = exists().where(UserWard.user_id == User.id, UserWard.ward_id.in_(ward_ids))
    chose = exists().where(UserCategory.user_id == User.id, UserCategory.category == category)
    return (select(User.id.label("user_id"), User.email_frequency.label("email_frequency"))
            .where(User.role == "resident", User.confirmed_at.is_not(None), follows, chose))


def ward_team_members(ward: Ward) -> list:
    """Officers of the teams that cover ``ward`` ("Your ward team"), by name."""
    stmt = (select(User).join(TeamMember, TeamMember.user_id == User.id)
            .join(TeamWard, TeamWard.team_id == TeamMember.team_id)
            .where(TeamWard.ward_id == ward.id, User.role == "officer")
            .distinct().order_by(User.display_name))
    return list(db.session.scalars(stmt))
