"""``flask wards ...`` commands."""
import sys

import click
from flask.cli import AppGroup
from webapp.wards.postcodes import load_postcodes, open_directory
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


postcodes_cli = AppGroup("postcodes", help="Postcode search (ONS Postcode Directory).")


@postcodes_cli.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def load_postcodes_command(path):
    """Load London's postcodes from the ONS Postcode Directory (ONSPD or NSPL: the zip as
    ONS publishes it, or its CSV). Streams the file; safe to run again."""
    stream, size = open_directory(path)
    stream.close()
    with click.progressbar(length=size, label="Reading postcodes", file=sys.stderr) as bar:
        try:
            report = load_postcodes(path, progress=bar.update)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    reasons = ", ".join(f"{n} {why}" for why, n in sorted(report.reasons.items()))
    click.echo(f"Kept {report.kept} London postcodes; skipped {report.skipped}"
               + (f" ({reasons})." if reasons else "."))


def register(app):
    app.cli.add_command(wards_cli)
    app.cli.add_command(postcodes_cli)
