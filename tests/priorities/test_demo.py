"""``flask seed-demo``: every demo ward with residents gets a priority history, idempotently,
and the demo resident is told "here is what we did"."""
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.priorities.models import Priority, PriorityAction

from tests.priorities.conftest import deliveries_by_user


def test_every_demo_ward_with_residents_gets_a_history(app, client, runner):
    from webapp.accounts.demo import DEMO_RESIDENT, RESIDENT_WARDS
    from webapp.accounts.models import User
    from webapp.wards.services import get_ward
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "priorities:" in result.output
    for code, _, _ in RESIDENT_WARDS:
        ward = get_ward(code)
        rows = db.session.scalars(select(Priority).where(Priority.ward_id == ward.id)).all()
        assert sorted(p.status for p in rows) == ["closed", "current", "current"], code
        assert all(p.actions for p in rows), code
        assert all(p.outcome for p in rows if p.status == "closed")
    resident = db.session.scalar(select(User).where(User.email == DEMO_RESIDENT))
    told = deliveries_by_user()[resident.id]
    assert told[0][1] == "You told us about antisocial behaviour. Here is what we did."
    page = client.get("/wards/E05014104").get_data(as_text=True)
    assert "Our priorities" in page and "Antisocial behaviour in the evenings" in page
    from webapp.priorities.models import PriorityRound
    from webapp.priorities.services import round_results
    [rnd] = db.session.scalars(select(PriorityRound)).all()
    assert rnd.ward.code == "E05014104" and round_results(rnd).shown
    count = db.session.scalar(select(func.count()).select_from(PriorityAction))
    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0, again.output
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(PriorityAction)) == count
    assert db.session.scalar(select(func.count()).select_from(Priority)) == 3 * len(RESIDENT_WARDS)
    assert db.session.scalar(select(func.count()).select_from(PriorityRound)) == 1
