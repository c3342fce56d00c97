"""Issue 12 part 2: rumour checks, from "Heard something?" to a public verdict and its
changes."""
from __future__ import annotations

from sqlalchemy import select

from webapp.delivery.models import Delivery, Notification
from webapp.extensions import db
from webapp.rumours.models import Rumour, RumourVerdict
from webapp.wards.services import get_ward

ST_JAMES = "E05013806"
HERNE_HILL = "E05014104"


def _told(kind: str) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for user_id, channel in db.session.execute(
            select(Delivery.user_id, Delivery.channel).join(Delivery.notification)
            .where(Notification.kind == kind)):
        out.setdefault(user_id, set()).add(channel)
    return out


def test_verdict_lifecycle(client, login, make_resident, make_staff):
    asker = make_resident(ST_JAMES, name="Priya Asker", email_address="priya.asker@example.org")
    neighbour = make_resident(ST_JAMES, email_frequency="digest")  # chose incident updates
    no_updates = make_resident(ST_JAMES, categories=("prevention",))
    elsewhere = make_resident(HERNE_HILL)
    officer = make_staff("officer", wards=[ST_JAMES], name="Jane Morgan")
    other_officer = make_staff("officer", wards=[HERNE_HILL])

    # The resident asks on the short form (no JavaScript needed: a plain POST).
    login(client, asker)
    page = client.get("/rumours")
    assert page.status_code == 200 and b"Heard something?" in page.data
    response = client.post("/rumours", data={
        "ward": str(get_ward(ST_JAMES).id),
        "text": "People say the station is closing, Priya Asker heard it at the school gate"})
    assert response.status_code == 303
    rumour = db.session.scalar(select(Rumour))
    assert rumour.status == "open" and rumour.asker_id == asker.id
    assert b"Waiting for the team" in client.get("/rumours").data
    assert client.get(f"/rumours/{rumour.id}").status_code == 404  # not public yet

    # Officers of the ward see it in the inbox as its own kind; another team does not.
    login(client, officer)
    inbox = client.get("/officer/inbox").get_data(as_text=True)
    assert "Heard something?" in inbox and "Rumour check: People say the station" in inbox
    form = client.get(f"/officer/rumours/{rumour.id}").get_data(as_text=True)
    assert "[removed] heard it" in form  # the suggested public wording is scrubbed
    login(client, other_officer)
    assert "Rumour check:" not in client.get("/officer/inbox").get_data(as_text=True)
    assert client.get(f"/officer/rumours/{rumour.id}").status_code == 404
    assert client.post(f"/officer/rumours/{rumour.id}", data={
        "claim": "x", "verdict": "true", "explanation": "y"}).status_code == 404

    # The verdict is published with the asker's identity scrubbed.
    login(client, officer)
    response = client.post(f"/officer/rumours/{rumour.id}", data={
        "claim": "Priya Asker says the station is closing (call 07700 900123)",
        "verdict": "false", "explanation": "The station stays open; only the front counter hours change."})
    assert response.status_code == 303
    db.session.expire_all()
    rumour = db.session.get(Rumour, rumour.id)
    assert rumour.status == "published" and rumour.verdict == "false"
    assert "Priya" not in rumour.claim and "07700" not in rumour.claim
    public = client.get(f"/rumours/{rumour.id}").get_data(as_text=True)
    assert "False" in public and "Priya" not in public and "school gate" not in public

    # The asker is told (personal); the ward's residents who chose incident updates get it
    # by their preferences; nobody else.
    assert _told("rumour_answer") == {asker.id: {"email"}}
    told = _told("rumour_check")
    assert told == {neighbour.id: {"digest"}}
    assert no_updates.id not in told and elsewhere.id not in told
    # The ward home lists it under "Checked by your team".
    home = client.get(f"/wards/{ST_JAMES}").get_data(as_text=True)
    assert "Checked by your team" in home and rumour.claim.replace("'", "&#39;") in home
    assert "Checked by your team" in client.get(f"/wards/{ST_JAMES}/checked").get_data(as_text=True)

    # A later update changes the verdict; the history stays visible.
    response = client.post(f"/officer/rumours/{rumour.id}", data={
        "claim": rumour.claim, "verdict": "partly",
        "explanation": "The front counter closes on Sundays from next month."})
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Rumour, rumour.id).verdict == "partly"
    assert [v.verdict for v in db.session.scalars(select(RumourVerdict).order_by(RumourVerdict.id))] == ["false", "partly"]
    public = client.get(f"/rumours/{rumour.id}").get_data(as_text=True)
    assert "Partly true" in public and "earlier verdict" in public and "stays open" in public
    titles = set(db.session.scalars(select(Notification.title).where(Notification.kind == "rumour_check")))
    assert titles == {"Checked by your team: False", "Verdict changed: Partly true"}
    assert len(db.session.scalars(select(Notification).where(Notification.kind == "rumour_answer")).all()) == 2
    from webapp.platform.audit import AuditEvent
    assert len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "rumour.verdict")).all()) == 2


def test_bad_input_is_kept_with_a_message(client, login, make_resident, make_staff):
    asker = make_resident(ST_JAMES)
    login(client, asker)
    long = client.post("/rumours", data={"ward": str(get_ward(ST_JAMES).id), "text": "y" * 501})
    assert long.status_code == 422 and b"500 characters or fewer" in long.data and b"y" * 501 in long.data
    wrong_ward = client.post("/rumours", data={"ward": str(get_ward(HERNE_HILL).id), "text": "Heard x"})
    assert wrong_ward.status_code == 422
    assert client.post("/rumours", data={"ward": str(get_ward(ST_JAMES).id), "text": "t"},
                       csrf=False).status_code == 400
    assert db.session.scalars(select(Rumour)).all() == []
    from webapp.rumours import services
    rumour = services.ask(asker, asker.home_ward, "Heard something")
    db.session.commit()
    login(client, make_staff("officer", wards=[ST_JAMES]))
    bad = client.post(f"/officer/rumours/{rumour.id}", data={"claim": "c" * 301, "verdict": "maybe",
                                                             "explanation": ""})
    assert bad.status_code == 422 and b"300 characters or fewer" in bad.data
    assert b"Explain the verdict." in bad.data
    assert db.session.get(Rumour, rumour.id).status == "open"


def test_the_guard_checks_rumours_too(client, login, make_resident):
    asker = make_resident(ST_JAMES)
    login(client, asker)
    data = {"ward": str(get_ward(ST_JAMES).id), "text": "A man has a knife outside the station right now"}
    first = client.post("/rumours", data=data)
    assert first.status_code == 422 and b'href="tel:999"' in first.data
    assert db.session.scalars(select(Rumour)).all() == []
    ack = first.get_data(as_text=True).split('name="guard_ack" value="')[1].split('"')[0]
    assert client.post("/rumours", data=dict(data, guard_ack=ack)).status_code == 303
    assert len(db.session.scalars(select(Rumour)).all()) == 1


def test_rumours_join_export_and_deletion(client, login, make_resident, make_staff):
    from webapp.accounts.services import delete_account
    from webapp.rumours import services
    asker = make_resident(ST_JAMES, name="Quentin Vexley")
    officer = make_staff("officer", wards=[ST_JAMES])
    checked = services.ask(asker, asker.home_ward, "Vexley heard the park shuts")
    services.ask(asker, asker.home_ward, "Unchecked rumour")
    db.session.commit()
    services.publish_verdict(officer, checked, "The park shuts at night", "true", "From May.")
    db.session.commit()
    login(client, asker)
    exported = client.get("/settings/export").get_json()["rumour_checks"]
    assert {r["what_you_heard"] for r in exported} == {"Vexley heard the park shuts", "Unchecked rumour"}
    delete_account(asker)
    db.session.commit()
    [left] = db.session.scalars(select(Rumour)).all()
    assert left.asker_id is None and left.text == "" and left.claim == "The park shuts at night"


def test_asking_shares_the_residents_sending_limit(client, login, make_resident):
    from webapp.threads import services as threads
    resident = make_resident(ST_JAMES)
    login(client, resident)
    conversation = threads.start_conversation(resident, resident.home_ward, "Bins", "When?")
    db.session.commit()
    for n in range(5):
        assert client.post(f"/messages/{conversation.id}", data={"body": f"Note {n}"}).status_code == 303
    ward = str(get_ward(ST_JAMES).id)
    for n in range(5):
        assert client.post("/rumours", data={"ward": ward, "text": f"Heard thing {n}"}).status_code == 303
    assert client.post("/rumours", data={"ward": ward, "text": "One too many"}).status_code == 429
    assert client.get("/rumours").status_code == 200  # reading is not limited
