"""``flask seed-demo``: demo data for development (idempotent)."""
from importlib import import_module

import click

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


def register(app):
    app.cli.add_command(seed_demo_command)
