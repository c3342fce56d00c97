"""``make run``: serve Wardline for development on 127.0.0.1, on ``BASE_URL``'s port
(http://127.0.0.1:5000 by default).

Background processes that production runs separately (see README) are started beside the
web server from ``COMPANIONS`` and stopped with it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit
from webapp import create_app

# Extra long-running processes started beside the web server: ["flask", "<command>"] lists.
# The delivery worker (sends the outbox) and the scheduler (scheduled alerts, digests,
# reminders); both stop on SIGTERM/SIGINT.
COMPANIONS: list[list[str]] = [["flask", "deliver"], ["flask", "scheduler"]]


def _stop(signum, frame):
    """Turn SIGTERM (and SIGINT, even where a parent shell ignored it) into a clean stop."""
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    flask = str(Path(sys.executable).with_name("flask"))
    env = {**os.environ, "FLASK_APP": "wsgi:app"}
    children = [subprocess.Popen([flask, *args[1:]], env=env) for args in COMPANIONS]
    try:
        app = create_app()
        host, port = "127.0.0.1", urlsplit(app.config["BASE_URL"]).port or 5000
        print(f"Wardline is running on http://{host}:{port}  (Ctrl+C to stop)", flush=True)
        app.run(host=host, port=port, debug=False, use_reloader=False, threaded=True)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
