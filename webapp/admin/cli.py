"""``flask officers ...`` and ``flask teams ...``: manage staff accounts from the shell
(the first admin has to come from somewhere)."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from webapp.extensions import db
from webapp.accounts.models import User
from webapp.admin import services

officers_cli = AppGroup("officers", help="Create and manage officer and admin accounts.")
teams_cli = AppGroup("teams", help="Create teams, give them wards, add officers.")


def _fail(message: str):
    db.session.rollback()
    raise click.ClickException(message)


@officers_cli.command("create")
@click.option("--email", required=True, help="Work email (their sign-in name).")
@click.option("--name", required=True, help="Name shown to residents.")
@click.option("--rank", type=click.Choice(["PC", "PCSO", "Sergeant", "Inspector", "Staff"]),
              help="Rank or role (required unless --admin).")
@click.option("--shoulder", default=None, help="Shoulder number (optional).")
@click.option("--admin", is_flag=True, help="Make an administrator.")
@click.option("--team", "team_names", multiple=True, help="Add to this team (repeatable).")
@click.option("--prompt-password", is_flag=True,
              help="Type the first password instead of printing a generated one.")
def create_officer_command(email, name, rank, shoulder, admin, team_names, prompt_password):
    """Create an officer or admin and print their one-time password."""
    password = click.prompt("Password", hide_input=True, confirmation_prompt=True) \
        if prompt_password else None
    if password is not None and len(password) < 12:
        _fail("Use a password of at least 12 characters.")
    teams = []
    for team_name in team_names:
        team = services.get_team_by_name(team_name)
        if team is None:
            _fail(f"No team called {team_name!r}.")
        teams.append(team)
    try:
        user, password = services.create_officer(None, email=email, name=name, rank=rank,
                                                 shoulder_number=shoulder, admin=admin,
                                                 password=password, teams=teams,
                                                 one_time=not prompt_password)
        db.session.commit()
    except services.AdminError as exc:
        _fail(str(exc))
    click.echo(f"Created {user.role} {user.officer_label or user.display_name} <{user.email}>.")
    if not prompt_password:
        click.echo(f"One-time password: {password} (to be changed at the first sign-in; "
                   "it stops working after ONE_TIME_PASSWORD_MAX_AGE seconds)")
    click.echo("They set up their authenticator app at their first sign-in (/officer/login).")


@officers_cli.command("reset-2fa")
@click.option("--email", required=True)
def reset_2fa_command(email):
    """Forget an officer's authenticator (lost phone); they enrol again at next sign-in."""
    user = db.session.scalar(select(User).where(User.email == services.normalise_email(email)))
    if user is None or not user.is_staff:
        _fail("No officer or admin with that email.")
    services.reset_second_factor(None, user)
    db.session.commit()
    click.echo(f"Authenticator reset for {user.email}.")


@teams_cli.command("create")
@click.option("--name", required=True, help="Team name, e.g. 'St James's SNT'.")
@click.option("--ward", "ward_codes", multiple=True, required=True,
              help="ONS code of a ward the team covers (repeatable).")
def create_team_command(name, ward_codes):
    """Create a team covering the given wards."""
    try:
        wards = services.parse_ward_codes(" ".join(ward_codes))
        team = services.create_team(None, name, wards)
        db.session.commit()
    except services.AdminError as exc:
        _fail(str(exc))
    click.echo(f"Created team {team.name} covering {', '.join(w.name for w in team.wards)}.")


@teams_cli.command("add-officer")
@click.option("--team", "team_name", required=True)
@click.option("--email", required=True)
def add_officer_command(team_name, email):
    """Add an officer to a team."""
    team = services.get_team_by_name(team_name)
    if team is None:
        _fail(f"No team called {team_name!r}.")
    user = db.session.scalar(select(User).where(User.email == services.normalise_email(email)))
    if user is None or user.role != "officer":
        _fail("No officer with that email.")
    added = services.add_to_team(None, team, user)
    db.session.commit()
    click.echo(f"{user.display_name} {'added to' if added else 'is already in'} {team.name}.")


def register(app):
    app.cli.add_command(officers_cli)
    app.cli.add_command(teams_cli)
