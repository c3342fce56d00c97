"""Start the real production server (gunicorn, as the README deploys it) on loopback for
tests that need separate processes: rate limits shared through Redis, the access log."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(app, env: dict | None = None, args: tuple = ()):
    """Run ``gunicorn wsgi:app`` from the project folder (so ``gunicorn.conf.py`` applies)
    on the test database; yield ``(base_url, process)``. Its output is in ``process.output``
    once the block ends."""
    port = free_port()
    full_env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
                "WARDLINE_INSTANCE_PATH": app.instance_path,
                "SECRET_KEY": app.config["SECRET_KEY"], "BASE_URL": "http://wardline.test",
                "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(app.config["SMTP_PORT"]),
                "MAIL_WRITE_FILES": "0", **(env or {})}
    server = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "-w", "1",
                               "-b", f"127.0.0.1:{port}", *args, "wsgi:app"],
                              cwd=ROOT, env=full_env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)
                break
            except OSError as exc:
                if time.monotonic() > deadline or server.poll() is not None:
                    server.kill()
                    raise AssertionError("gunicorn did not start:\n" + server.communicate()[0]) from exc
                time.sleep(0.2)
        yield base, server
    finally:
        server.terminate()
        try:
            server.output = server.communicate(timeout=15)[0]
        except subprocess.TimeoutExpired:  # pragma: no cover
            server.kill()
            server.output = server.communicate()[0]
