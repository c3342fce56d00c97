"""``flask deliver`` (the outbox worker), ``flask scheduler`` (periodic ticks) and
``flask vapid`` (print the push public key)."""
from __future__ import annotations

import signal
import click
from flask import current_app
from flask.cli import with_appcontext
from webapp.delivery.scheduler import build_scheduler
from webapp.delivery.subscriptions import vapid_public_key
from webapp.delivery.worker import run_forever


@click.command("deliver")
@click.option("--batch-size", default=100, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 64), default=None,
              help="Push messages in flight at once (default PUSH_CONCURRENCY, 8).")
@click.option("--idle-sleep", type=click.FloatRange(0.01, 60), default=1.0, show_default=True,
              help="Seconds to wait when nothing is due.")
@click.option("--loops", type=click.IntRange(1, 8), default=2, show_default=True,
              help="Batch loops side by side (one's database work overlaps another's sending).")
@click.option("--once", is_flag=True, help="Process one batch (per loop) and exit.")
@with_appcontext
def deliver_command(batch_size: int, concurrency: int | None, idle_sleep: float, loops: int,
                    once: bool):
    """Send due deliveries until stopped (several workers may run at once)."""
    if concurrency:
        current_app.config["PUSH_CONCURRENCY"] = concurrency
    run_forever(batch_size=batch_size, idle_sleep=idle_sleep, once=once, loops=loops)


@click.command("scheduler")
@with_appcontext
def scheduler_command():
    """Run the periodic ticks (scheduled alerts, digests, reminders) until stopped."""
    app = current_app._get_current_object()
    scheduler = build_scheduler(app)

    def _stop(*_):
        scheduler.shutdown(wait=False)

    # Ctrl+C and SIGTERM both stop the scheduler's loop cleanly (a KeyboardInterrupt
    # escaping the loop would leave its executor threads behind and the process running).
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"scheduler running {len(scheduler.get_jobs())} ticks (Ctrl+C to stop)")
    scheduler.start()
    click.echo("scheduler stopped")


@click.command("vapid")
@with_appcontext
def vapid_command():
    """Print the VAPID public key (applicationServerKey), creating the key pair if needed."""
    click.echo(vapid_public_key())


def register(app):
    app.cli.add_command(deliver_command)
    app.cli.add_command(scheduler_command)
    app.cli.add_command(vapid_command)
