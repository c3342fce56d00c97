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
from webapp.platform.metrics import serve as serve_metrics

# This process's Prometheus metrics on a port of its own (see webapp/platform/metrics.py).
METRICS_PORT = click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
                            help="Serve this process's metrics at http://ADDRESS:PORT/metrics.")
METRICS_ADDRESS = click.option("--metrics-address", default="127.0.0.1", show_default=True,
                               help="Address the metrics port listens on (a private one).")


@click.command("deliver")
@click.option("--batch-size", type=click.IntRange(1, 10000), default=None,
              help="Rows claimed at once by each loop (default DELIVERY_BATCH_SIZE, 500).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=None,
              help="Push messages in flight at once (default PUSH_CONCURRENCY, 8).")
@click.option("--idle-sleep", type=click.FloatRange(0.01, 60), default=1.0, show_default=True,
              help="Seconds to wait when nothing is due.")
@click.option("--loops", type=click.IntRange(1, 8), default=2, show_default=True,
              help="Batch loops side by side (one's database work overlaps another's sending).")
@click.option("--once", is_flag=True, help="Process one batch (per loop) and exit.")
@METRICS_PORT
@METRICS_ADDRESS
@with_appcontext
def deliver_command(batch_size: int | None, concurrency: int | None, idle_sleep: float, loops: int,
                    once: bool, metrics_port: int | None, metrics_address: str):
    """Send due deliveries until stopped (several workers may run at once)."""
    if metrics_port:
        serve_metrics(metrics_port, metrics_address)
    if concurrency:
        current_app.config["PUSH_CONCURRENCY"] = concurrency
    run_forever(batch_size=batch_size or int(current_app.config["DELIVERY_BATCH_SIZE"]),
                idle_sleep=idle_sleep, once=once, loops=loops)


@click.command("scheduler")
@METRICS_PORT
@METRICS_ADDRESS
@with_appcontext
def scheduler_command(metrics_port: int | None, metrics_address: str):
    """Run the periodic ticks (scheduled alerts, digests, reminders, retention) until stopped."""
    if metrics_port:
        serve_metrics(metrics_port, metrics_address)
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
