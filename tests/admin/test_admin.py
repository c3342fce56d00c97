"""Admin pages and CLI: officers, teams, assignments and the audit log."""
from __future__ import annotations

import re

from sqlalchemy import select

from tests.conftest import HTMX
from webapp.accounts.models import User
from webapp.accounts.passwords import verify_password
from webapp.platform.audit import record
from webapp.platform.audit import AuditEvent
from webapp.extensions import db
from webapp.wards.models import Team
from webapp.wards.services import covers_ward, get_ward

ST_JAMES = "E05013806"
BRIXTON = "E05014095"


def test_admin_creates_officer_with_one_time_password(client, login, make_staff):
    admin = make_staff("admin")
    team = Team(name="St James's SNT", wards=[get_ward(ST_JAMES)])
    db.session.add(team)
    db.session.commit()
    login(client, admin)
    assert client.get("/admin/officers/new").status_code == 200
    response = client.post("/admin/officers/new", data={
        "email": "New.Officer@Police.example", "display_name": "Ola Bello", "rank": "PCSO",
        "shoulder_number": "4321", "teams": [team.id]})
    assert response.status_code == 200
    password = re.search(r'<code class="secret">([^<]+)</code>', response.text).group(1)
    user = db.session.scalar(select(User).where(User.email == "new.officer@police.example"))
    assert user.role == "officer" and user.rank == "PCSO" and user.shoulder_number == "4321"
    assert user.officer_label == "PCSO Ola Bello (4321)"
    assert verify_password(user.password_hash, password) and password not in user.password_hash
    assert covers_ward(user, get_ward(ST_JAMES).id)
    assert "PCSO Ola Bello (4321)" in client.get("/admin/officers").text
    # The same email again is refused (422), never a 500.
    again = client.post("/admin/officers/new", data={"email": "new.officer@police.example",
                                                     "display_name": "X", "rank": "PC"})
    assert again.status_code == 422 and "already exists" in again.text
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "officer.create"))


def test_admin_edits_officer_and_assignments(client, login, make_staff):
    admin = make_staff("admin")
    officer = make_staff("officer", wards=[ST_JAMES], name="Old Name")
    other_team = Team(name="Brixton SNT", wards=[get_ward(BRIXTON)])
    db.session.add(other_team)
    db.session.commit()
    login(client, admin)
    page = client.get(f"/admin/officers/{officer.id}")
    assert page.status_code == 200 and "Old Name" in page.text
    response = client.post(f"/admin/officers/{officer.id}", data={
        "email": officer.email, "display_name": "New Name", "rank": "Sergeant",
        "shoulder_number": "", "teams": [other_team.id]})
    assert response.status_code == 303
    db.session.expire_all()
    assert officer.display_name == "New Name" and officer.rank == "Sergeant"
    assert not covers_ward(officer, get_ward(ST_JAMES).id)
    assert covers_ward(officer, get_ward(BRIXTON).id)


def test_admin_resets_password_and_second_factor(client, login, make_staff):
    admin = make_staff("admin")
    officer = make_staff("officer", wards=[ST_JAMES])
    officer.totp_secret, officer.totp_confirmed_at = "A" * 32, officer.created_at
    db.session.commit()
    version = officer.session_version
    login(client, admin)
    response = client.post(f"/admin/officers/{officer.id}/reset-password")
    password = re.search(r'<code class="secret">([^<]+)</code>', response.text).group(1)
    db.session.expire_all()
    assert verify_password(officer.password_hash, password)
    assert officer.session_version > version  # signed out everywhere
    client.post(f"/admin/officers/{officer.id}/reset-2fa")
    db.session.expire_all()
    assert officer.totp_secret is None and officer.totp_confirmed_at is None


def test_admin_creates_and_edits_team(client, login, make_staff):
    admin = make_staff("admin")
    officer = make_staff("officer")
    login(client, admin)
    bad = client.post("/admin/teams/new", data={"name": "Bad", "wards": "E05000000, nonsense"})
    assert bad.status_code == 422
    response = client.post("/admin/teams/new", data={"name": "Lambeth North SNT",
                                                     "wards": f"{BRIXTON}\n{ST_JAMES}",
                                                     "members": [officer.id]})
    assert response.status_code == 303
    team = db.session.scalar(select(Team).where(Team.name == "Lambeth North SNT"))
    assert {w.code for w in team.wards} == {BRIXTON, ST_JAMES}
    assert covers_ward(officer, get_ward(BRIXTON).id)
    page = client.get(f"/admin/teams/{team.id}").text
    assert BRIXTON in page
    client.post(f"/admin/teams/{team.id}", data={"name": "Lambeth North SNT", "wards": BRIXTON,
                                                 "members": []})
    db.session.expire_all()
    assert [w.code for w in team.wards] == [BRIXTON] and team.members == []
    assert not covers_ward(officer, get_ward(BRIXTON).id)
    assert "Lambeth North SNT" in client.get("/admin/teams").text


def test_audit_log_paginated_and_filtered_admin_only(client, login, make_staff):
    admin = make_staff("admin")
    officer = make_staff("officer", wards=[ST_JAMES])
    for i in range(60):
        record(officer, "conversation.view", None, f"view {i}")
    record(officer, "message.hide", None, "hid one")
    db.session.commit()
    login(client, officer)
    assert client.get("/admin/audit").status_code == 403
    login(client, admin)
    page = client.get("/admin/audit").text
    assert "hid one" in page  # newest first
    assert page.count("<tr>") == 50 + 1  # a page of 50 plus the header row
    assert "page=2" in page
    second = client.get("/admin/audit?page=2").text
    assert "view 0" in second
    filtered = client.get("/admin/audit?action=message.hide", headers=HTMX)
    assert "hid one" in filtered.text and "view 1" not in filtered.text
    assert "<html" not in filtered.text
    assert client.get("/admin/audit?action=bogus&page=x").status_code == 200
    # a page past INTEGER range is the first page, not an OFFSET overflow (a 500)
    huge = client.get("/admin/audit?page=4611686018427387903")
    assert huge.status_code == 200 and "hid one" in huge.text
    assert client.get("/admin/audit?action=%00&page=-3").status_code == 200


def test_cli_creates_officer_team_and_assignment(runner):
    result = runner.invoke(args=["teams", "create", "--name", "St James's SNT", "--ward", ST_JAMES])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["officers", "create", "--email", "pc.one@police.example",
                                 "--name", "Pat One", "--rank", "PC", "--shoulder", "1111"])
    assert result.exit_code == 0, result.output
    password = re.search(r"One-time password: (\S+)", result.output).group(1)
    user = db.session.scalar(select(User).where(User.email == "pc.one@police.example"))
    assert user.role == "officer" and verify_password(user.password_hash, password)
    result = runner.invoke(args=["teams", "add-officer", "--team", "St James's SNT",
                                 "--email", "pc.one@police.example"])
    assert result.exit_code == 0, result.output
    assert covers_ward(user, get_ward(ST_JAMES).id)
    result = runner.invoke(args=["officers", "create", "--email", "boss@police.example",
                                 "--name", "Boss", "--admin", "--prompt-password"],
                           input="a long admin password\na long admin password\n")
    assert result.exit_code == 0, result.output
    admin = db.session.scalar(select(User).where(User.email == "boss@police.example"))
    assert admin.role == "admin" and verify_password(admin.password_hash, "a long admin password")
    assert "One-time password" not in result.output


def test_cli_errors_are_clean(runner):
    result = runner.invoke(args=["teams", "create", "--name", "X", "--ward", "E05999999"])
    assert result.exit_code != 0 and "Unknown ward code" in result.output
    runner.invoke(args=["officers", "create", "--email", "a@police.example", "--name", "A", "--rank", "PC"])
    result = runner.invoke(args=["officers", "create", "--email", "a@police.example", "--name", "A",
                                 "--rank", "PC"])
    assert result.exit_code != 0 and "already exists" in result.output
    result = runner.invoke(args=["teams", "add-officer", "--team", "Nope", "--email", "a@police.example"])
    assert result.exit_code != 0
