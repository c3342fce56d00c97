"""``make run`` under load: the web server, the delivery worker and the scheduler on one
SQLite database, as ``python -m webapp.devserver`` starts them (real processes), while 20
residents sign up and answer the survey at the same time over real HTTP. No request may
fail with a 500 ("database is locked")."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from tests.conftest import free_port, is_postgres, wait_until
from webapp.delivery import Event, notify
from webapp.extensions import db
from webapp.platform.timeutil import utcnow

ROOT = Path(__file__).resolve().parents[1]
WARD = "E05013806"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')
LINK = re.compile(r"/signin/[A-Za-z0-9_.\-]+")

pytestmark = pytest.mark.skipif(is_postgres(), reason="make run's embedded SQLite database")


def _csrf(html: str) -> str:
    match = CSRF.search(html)
    assert match, html[:500]
    return match.group(1) or match.group(2)


def _email_to(mail, address: str, timeout: float = 60):
    def found():
        return next((m for m in list(mail.messages) if m["To"] == address), None)
    msg = wait_until(found, timeout=timeout, interval=0.1)
    assert msg is not None, f"no email to {address}"
    return msg


def _resident_journey(base: str, n: int, mail, statuses: list) -> str:
    """Sign up, use the emailed link, choose a ward and answer the three survey steps."""
    s = requests.Session()
    address = f"parallel{n}@example.org"

    def call(method, path, **kwargs):
        response = s.request(method, base + path, allow_redirects=False, timeout=120, **kwargs)
        statuses.append((method, path.split("?")[0][:30], response.status_code,
                         response.text[:300] if response.status_code >= 500 else ""))
        return response

    token = _csrf(call("GET", "/signup").text)
    assert call("POST", "/signup", data={"email": address, "display_name": f"Neighbour {n}",
                                         "csrf_token": token}).status_code == 303
    link = LINK.search(_email_to(mail, address).get_body(preferencelist=("plain",))
                       .get_content()).group(0)
    token = _csrf(call("GET", link).text)
    assert call("POST", link, data={"csrf_token": token}).status_code == 303
    token = _csrf(call("GET", "/survey").text)
    assert call("POST", "/survey/ward?next=survey",
                data={"ward": WARD, "role": "home", "csrf_token": token}).status_code == 303
    assert call("POST", "/survey", data={"step": "1", "csrf_token": token}).status_code == 303
    assert call("POST", "/survey", data={"step": "2", "categories": ["prevention", "events"],
                                         "email_frequency": "immediate",
                                         "csrf_token": token}).status_code == 303
    assert call("POST", "/survey", data={"step": "3", "concerns": ["asb", "burglary"],
                                         "csrf_token": token}).status_code == 303
    assert call("GET", f"/wards/{WARD}").status_code == 200
    return address


def test_twenty_residents_sign_up_in_parallel_under_make_run(app, make_staff, make_resident,
                                                            mail):
    from webapp.accounts.models import User
    from webapp.alerts.services import create_alert, resolve_target
    from webapp.wards.services import get_ward
    from tests.alerts.test_alerts import alert_input
    # Work for the companions while the residents sign up: 150 emails for the worker, and a
    # scheduled alert to 150 more for the scheduler's first tick.
    officer = make_staff("officer", wards=[WARD])
    for resident in [make_resident(WARD) for _ in range(150)]:
        notify(resident, Event(kind="reply", source_type="message", source_id=1,
                               title="Hi", body="Hello", url="/messages/1"))
    db.session.commit()
    create_alert(officer, alert_input(resolve_target(officer, "wards", [get_ward(WARD).id]),
                                      send_at=utcnow() + timedelta(seconds=2)))
    db.session.commit()
    mail.delay = 0.01

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "WARDLINE_INSTANCE_PATH": app.instance_path, "SECRET_KEY": app.config["SECRET_KEY"],
           "BASE_URL": base, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(mail.port),
           "MAIL_WRITE_FILES": "0",
           # 20 sign-ups from one address in a minute is what the per-IP limit is for.
           "RATELIMIT_ENABLED": "0"}
    server = subprocess.Popen([sys.executable, "-m", "webapp.devserver"], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(server.stdout.readline, "")),
                              daemon=True)
    reader.start()
    statuses: list = []
    try:
        def up():
            try:
                return requests.get(base + "/healthz", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False
        assert wait_until(up, timeout=60, interval=0.2), "".join(lines)
        with ThreadPoolExecutor(20) as pool:
            addresses = list(pool.map(lambda n: _resident_journey(base, n, mail, statuses),
                                      range(20)))
        # The companions did their work meanwhile.
        db.session.rollback()
        from webapp.delivery.models import Delivery
        assert wait_until(lambda: (db.session.rollback(), db.session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.state == "sent")))[1]
            >= 300, timeout=120)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover
            server.kill()
        reader.join(5)
    out = "".join(lines)
    errors = [s for s in statuses if s[2] >= 500]
    assert not errors, (errors, out[-3000:])
    assert len(statuses) == 20 * 10
    assert "database is locked" not in out, out[-3000:]
    db.session.rollback()
    done = db.session.scalar(select(func.count()).select_from(User).where(
        User.email.in_(addresses), User.survey_completed_at.is_not(None)))
    assert done == 20
