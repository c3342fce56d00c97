"""Ask residents again: a round invites the ward's residents, one tap confirms their top
three, a change replaces it (and their standing answer), results beside the standing ones,
shown only from the threshold."""
from __future__ import annotations

from sqlalchemy import select

from webapp.accounts.models import Concern
from webapp.extensions import db
from webapp.priorities.models import PriorityRound

from tests.priorities.conftest import HERNE_HILL, ST_JAMES


def _open(client, login, officer, question="What matters most here this quarter?"):
    login(client, officer)
    return client.post(f"/officer/wards/{ST_JAMES}/rounds", data={"question": question})


def test_opening_a_round_invites_the_wards_residents(app, client, login, make_resident, make_staff):
    from webapp.delivery.models import Delivery, Notification
    officer = make_staff("officer", wards=[ST_JAMES])
    home = make_resident(ST_JAMES, concerns=("asb",))
    make_resident(HERNE_HILL, extra_wards=(ST_JAMES,))  # follows, but not their home ward
    assert _open(client, login, officer).status_code == 303
    rnd = db.session.scalar(select(PriorityRound))
    rows = db.session.execute(select(Delivery.user_id, Notification.url, Notification.title)
                              .join(Delivery.notification).where(Notification.kind == "priority_round")).all()
    assert {r.user_id for r in rows} == {home.id}
    assert rows[0].url == f"/rounds/{rnd.id}"
    assert "What matters most here this quarter?" in rows[0].title
    # one open round at a time
    again = _open(client, login, officer)
    assert again.status_code == 422 and "already open" in again.get_data(as_text=True)
    assert _open(client, login, officer, question="").status_code == 422


def test_one_tap_confirms_and_a_change_replaces(app, client, login, make_resident, make_staff):
    officer = make_staff("officer", wards=[ST_JAMES])
    resident = make_resident(ST_JAMES, concerns=("asb", "burglary"))
    _open(client, login, officer)
    rnd = db.session.scalar(select(PriorityRound))
    login(client, resident)
    page = client.get(f"/rounds/{rnd.id}").get_data(as_text=True)
    assert "Yes, still these" in page and "Antisocial behaviour, Burglary" in page
    assert client.post(f"/rounds/{rnd.id}", data={"confirm": "1"}).status_code == 303

    def answers(source):
        db.session.expire_all()
        return sorted(db.session.scalars(select(Concern.topic).where(
            Concern.user_id == resident.id, Concern.source == source)))
    assert answers("round") == ["asb", "burglary"]
    assert client.post(f"/rounds/{rnd.id}", data={"concerns": ["ebikes", "drugs"]}).status_code == 303
    assert answers("round") == ["drugs", "ebikes"]
    assert answers("survey") == ["drugs", "ebikes"]  # their top three changed too
    bad = client.post(f"/rounds/{rnd.id}", data={"concerns": ["asb", "drugs", "ebikes", "fraud"]})
    assert bad.status_code == 422 and "Choose up to 3 topics." in bad.get_data(as_text=True)
    bad = client.post(f"/rounds/{rnd.id}", data={"concerns": ["other"], "other_text": ""})
    assert bad.status_code == 422
    assert answers("round") == ["drugs", "ebikes"]


def test_residents_of_other_wards_cannot_answer(app, client, login, make_resident, make_staff):
    officer = make_staff("officer", wards=[ST_JAMES])
    _open(client, login, officer)
    rnd = db.session.scalar(select(PriorityRound))
    login(client, make_resident(HERNE_HILL, extra_wards=(ST_JAMES,), concerns=("asb",)))
    assert client.get(f"/rounds/{rnd.id}").status_code == 404
    assert client.post(f"/rounds/{rnd.id}", data={"confirm": "1"}).status_code == 404


def test_results_beside_standing_from_the_threshold_and_closing(app, client, login, make_resident,
                                                                make_staff):
    from webapp.priorities.services import answer_round, round_results
    officer = make_staff("officer", wards=[ST_JAMES])
    residents = [make_resident(ST_JAMES, concerns=("asb",)) for _ in range(5)]
    _open(client, login, officer)
    rnd = db.session.scalar(select(PriorityRound))
    for r in residents[:4]:
        answer_round(r, rnd, ["ebikes"])
    db.session.commit()
    results = round_results(rnd)
    assert (results.respondents, results.shown) == (4, False)
    page = client.get(f"/officer/wards/{ST_JAMES}/priorities").get_data(as_text=True)
    assert "Results show once enough residents have answered" in page
    answer_round(residents[4], rnd, None)  # confirms asb
    db.session.commit()
    results = round_results(rnd)
    assert results.shown and results.respondents == 5
    # round counts beside standing counts: 4 changed to e-bikes, so standing asb is 1
    assert results.rows == [("ebikes", 4, 4), ("asb", 1, 1)]
    page = client.get(f"/officer/wards/{ST_JAMES}/priorities").get_data(as_text=True)
    assert "This round beside the standing survey answers" in page
    assert client.post(f"/officer/rounds/{rnd.id}/close").status_code == 303
    login(client, residents[0])
    closed = client.post(f"/rounds/{rnd.id}", data={"confirm": "1"})
    assert closed.status_code == 422 or "has closed" in closed.get_data(as_text=True)
