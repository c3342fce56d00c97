"""``platform.gather``: many SELECTs in one statement, the values as their columns' types
give them (on SQLite and on PostgreSQL), each part in its own order."""
from datetime import datetime, timedelta

from sqlalchemy import select

from tests.support.queries import QueryGuard
from webapp.accounts.models import Concern, User, UserWard
from webapp.extensions import db
from webapp.platform.gather import gather
from webapp.platform.timeutil import utcnow
from webapp.wards.services import get_ward


def test_parts_come_back_typed_and_ordered_from_one_statement(app, make_resident):
    resident = make_resident("E05013806", concerns=("burglary",))
    ward = get_ward("E05013806")
    at = utcnow().replace(microsecond=120000)
    for days, topic, text in ((3, "asb", "Loud"), (1, "drugs", None), (2, "other", "Bins")):
        db.session.add(Concern(user_id=resident.id, respondent_key="k", ward_id=ward.id,
                               topic=topic, text=text, source="survey",
                               created_at=at - timedelta(days=days)))
    db.session.commit()
    parts = {
        "concerns": (select(Concern.topic, Concern.text, Concern.created_at)
                     .where(Concern.user_id == resident.id, Concern.topic != "burglary"),
                     ("-created_at",)),
        "wards": (select(UserWard.ward_id, UserWard.is_home).where(UserWard.user_id == resident.id),
                  ()),
        "nobody": (select(User.id, User.email).where(User.id == -1), ("id",)),
    }
    with QueryGuard(app) as guard:
        found = gather(parts)
    assert len(guard.statements) == 1
    assert [(c["topic"], c["text"]) for c in found["concerns"]] == \
        [("drugs", None), ("other", "Bins"), ("asb", "Loud")]
    first = found["concerns"][0]["created_at"]
    assert isinstance(first, datetime) and first == at - timedelta(days=1)
    assert found["wards"] == [{"ward_id": ward.id, "is_home": True}]
    assert found["nobody"] == []
