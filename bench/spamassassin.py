"""Benchmark: SpamAssassin's score for every kind of email Wardline sends (a script, not a test).

    make spamassassin && .venv/bin/python bench/spamassassin.py [--dkim]

Creates a temporary SQLite database with London's wards, sends one email of each kind
through the real code (``tests/support/sample_emails.py``: sign-in links, alerts, the
digest, meeting emails, replies, the officers' digest) to a loopback SMTP server (aiosmtpd),
pipes each one as received to Debian's ``spamassassin -L -t`` (local tests only: no DNS
blocklists, no network) and prints a table of scores and the rules hit. ``--dkim`` signs
with a throwaway key (SpamAssassin's DKIM rules are network tests: ``-L`` skips them).
"""
from __future__ import annotations

import argparse
import email
import email.policy
import logging
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def score(raw: bytes) -> tuple[float, list[tuple[str, float]]]:
    """(score, [(rule, points)]) from ``spamassassin -L -t`` for one message."""
    report = subprocess.run(["spamassassin", "-L", "-t"], input=raw, capture_output=True,
                            timeout=120).stdout.decode("utf-8", "replace")
    status = re.search(r"^X-Spam-Status: \w+, score=(-?[\d.]+)", report, re.M)
    details = report.split("Content analysis details:")[-1]
    rules = re.findall(r"^\s*(-?\d+\.\d+)\s+([A-Z0-9_]+)\s", details, re.M)
    return float(status.group(1)), [(name, float(points)) for points, name in rules]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dkim", action="store_true", help="sign with a throwaway DKIM key")
    args = parser.parse_args()
    if not shutil.which("spamassassin"):
        print("spamassassin is not installed: run `make spamassassin`", file=sys.stderr)
        return 2

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command log
    from tests.conftest import SMTPSink
    from webapp import create_app
    from webapp.config import Config
    from webapp.extensions import db
    from webapp.wards.services import load_wards
    from tests.support.sample_emails import KINDS, send_every_kind

    folder = Path(tempfile.mkdtemp(prefix="wardline-sa-"))
    sink = SMTPSink().start()

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{folder / 'bench.sqlite'}"
        INSTANCE_PATH = str(folder)
        BASE_URL = "https://wardline.example"
        MAIL_FROM = "Wardline <no-reply@wardline.example>"
        SMTP_HOST, SMTP_PORT, SMTP_USE_TLS, SMTP_USER = "127.0.0.1", sink.port, False, None
        MAIL_WRITE_FILES = False
        SECRET_KEY = "bench"

    if args.dkim:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        BenchConfig.DKIM_SELECTOR = "bench"
        BenchConfig.DKIM_PRIVATE_KEY = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode()

    app = create_app(BenchConfig)
    try:
        with app.app_context():
            db.create_all()
            load_wards()
            to = send_every_kind(domain="example.org")
            sink.wait_for(len(KINDS), timeout=30)
    finally:
        sink.stop()
    rows = []
    for kind, subject in KINDS.items():
        for raw in sink.raw:
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            if msg["Subject"].startswith(subject) and msg["To"] == to[kind]:
                rows.append((kind, *score(raw)))
                break
    print(f"{'email':<20} {'score':>6}  rules hit (points)")
    for kind, total, rules in rows:
        hits = ", ".join(f"{name} {points:+g}" for name, points in rules) or "none"
        print(f"{kind:<20} {total:>6.1f}  {hits}")
    worst = max(total for _, total, _ in rows)
    print(f"\n{len(rows)} emails; highest score {worst:.1f} (SpamAssassin's spam threshold: 5.0)")
    shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
