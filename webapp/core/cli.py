"""``flask seed-demo``: demo data for development (idempotent); ``flask health``: the health
checks from the command line (the restore drill, monitoring)."""
import json
from importlib import import_module

import click
from flask import current_app
from flask.cli import with_appcontext

# Each domain adds a "module:function" here; they run in order, each committing its own data.
# A seeder takes no arguments and returns a short summary line.
SEEDERS: list[str] = [
    "webapp.accounts.demo:seed",  # first: the others build on its people and teams
    "webapp.threads.demo:seed",  # conversations and ward posts
    "webapp.meetings.demo:seed",
    "webapp.alerts.demo:seed",  # sent and scheduled alerts in the demo wards
    "webapp.priorities.demo:seed",  # a priority history in every demo ward with residents
    "webapp.incidents.demo:seed",  # an incident to its outcome, a guarded message
    "webapp.rumours.demo:seed",  # rumour checks, checked and waiting
]


@click.command("seed-demo")
def seed_demo_command():
    """Create demo residents, officers, admins and content (safe to run again)."""
    for path in SEEDERS:
        module_name, func_name = path.split(":")
        summary = getattr(import_module(module_name), func_name)()
        click.echo(summary)


@click.command("health")
@click.option("--ignore", "ignored", multiple=True, type=click.Choice(["outbox", "migrations"]),
              help="A readiness check not to count (the restore drill ignores the outbox: "
                   "a restored dump's queued deliveries are as old as the dump).")
@with_appcontext
def health_command(ignored: tuple[str, ...]):
    """Ask /healthz and /readyz in this process; exit 1 unless both are fine."""
    client = current_app.test_client()
    alive = client.get("/healthz")
    click.echo(f"/healthz {alive.status_code} {json.dumps(alive.json)}")
    ready = client.get("/readyz")
    click.echo(f"/readyz {ready.status_code} {json.dumps(ready.json)}")
    failing = [name for name, value in (ready.json or {}).items()
               if name not in ("status", "outbox_lag_seconds", *ignored) and value != "ok"]
    if alive.status_code != 200 or not ready.json or failing:
        raise click.ClickException("not healthy: " + (", ".join(failing) or "no answer"))
    click.echo("healthy" + (f" (not counting: {', '.join(ignored)})" if ignored else ""))


def register(app):
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(health_command)
