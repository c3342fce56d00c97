"""``flask seed-demo``: demo people with survey answers, staff and teams, idempotent."""
from sqlalchemy import func, select

from webapp.accounts.models import User
from webapp.accounts.passwords import verify_password
from webapp.extensions import db
from webapp.accounts.ward_chart import concern_chart
from webapp.wards.services import covered_wards, get_ward


def _seed():
    from webapp.accounts.demo import seed
    return seed()


def test_accounts_seeder_runs_first():
    from webapp.core.cli import SEEDERS
    assert SEEDERS[0] == "webapp.accounts.demo:seed"


def test_demo_people_and_charts(app, client, mail):
    summary = _seed()
    assert "resident@demo.wardline" in summary
    residents = db.session.scalar(select(func.count()).select_from(User)
                                  .where(User.role == "resident"))
    assert 55 <= residents <= 70
    boroughs = {u.home_ward.borough.name for u in db.session.scalars(
        select(User).where(User.role == "resident"))}
    assert len(boroughs) >= 5
    for code in ("E05013806", "E05014104", "E05014117"):
        chart = concern_chart(get_ward(code))
        assert chart is not None and chart["respondents"] >= 5, code
    assert concern_chart(get_ward("E05013654")) is None  # a ward with too few answers

    officer = db.session.scalar(select(User).where(User.email == "officer@demo.wardline"))
    sergeant = db.session.scalar(select(User).where(User.email == "sergeant@demo.wardline"))
    admin = db.session.scalar(select(User).where(User.email == "admin@demo.wardline"))
    assert (officer.role, officer.rank, sergeant.rank, admin.role) == \
        ("officer", "PC", "Sergeant", "admin")
    assert [t.name for t in officer.teams] == ["Westminster St James's SNT"]
    assert [w.code for w in covered_wards(officer)] == ["E05013806"]
    assert {w.code for w in covered_wards(sergeant)} == {"E05014104", "E05014117"}
    assert verify_password(officer.password_hash, app.config["DEMO_PASSWORD"])

    # the demo resident signs in by emailed link like anyone else
    from tests.accounts.helpers import signin_path
    client.post("/login", data={"email": "resident@demo.wardline"})
    assert client.post(signin_path(mail.wait_for(1)[0])).status_code == 303
    assert client.get("/").headers["Location"] == "/wards/E05014104"
    assert "What residents here care about most" in client.get("/wards/E05014104").get_data(
        as_text=True)


def test_seed_demo_is_idempotent(app, runner):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    count = db.session.scalar(select(func.count()).select_from(User))
    from webapp.accounts.models import Concern
    concerns = db.session.scalar(select(func.count()).select_from(Concern))
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0, second.output
    assert db.session.scalar(select(func.count()).select_from(User)) == count
    assert db.session.scalar(select(func.count()).select_from(Concern)) == concerns
