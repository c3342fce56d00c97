"""``flask wards ...`` commands."""
import click
from flask.cli import AppGroup
from webapp.wards.services import DATA_FILE, load_wards

wards_cli = AppGroup("wards", help="London's boroughs and wards.")


@wards_cli.command("load")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="GeoJSON file (default: data/london-wards.geojson).")
def load_command(path):
    """Load or update boroughs, wards and neighbours (safe to run again)."""
    counts = load_wards(path or DATA_FILE)
    click.echo(f"Loaded {counts['boroughs']} boroughs, {counts['wards']} wards, "
               f"{counts['neighbour_links'] // 2} neighbour pairs.")


def register(app):
    app.cli.add_command(wards_cli)
