"""The start page, security headers and vendored files (health checks: test_health.py)."""
import hashlib
from pathlib import Path

from sqlalchemy import text

from webapp.extensions import db

ROOT = Path(__file__).resolve().parents[1]


def test_visitor_start_page_explains_service_and_not_for_crime(client):
    page = client.get("/").get_data(as_text=True)
    assert "neighbourhood police team" in page
    assert "not for reporting crime" in page
    assert 'href="tel:999"' in page and 'href="tel:101"' in page
    assert "/signup" in page


def test_strict_csp_and_no_inline_script(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    html = response.get_data(as_text=True)
    # every <script> loads a file from our own origin
    import re
    for tag in re.findall(r"<script[^>]*>", html):
        assert 'src="/static/' in tag, tag
    assert "cdn" not in html.lower()


def test_post_without_csrf_token_is_refused(client):
    response = client.post("/logout", csrf=False)
    assert response.status_code == 400


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_vendored_files_match_their_recorded_hashes():
    for folder in (ROOT / "static" / "vendor", ROOT / "tests" / "vendor"):
        lines = (folder / "SHA256SUMS").read_text().split("\n")
        entries = [line.split() for line in lines if line.strip()]
        assert entries
        for digest, name in entries:
            assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name


def test_database_backend_is_the_one_asked_for(app):
    import os
    dialect = db.engine.dialect.name
    assert dialect == ("postgresql" if os.environ.get("TEST_DATABASE_URL") else "sqlite")
    assert db.session.execute(text("SELECT 1")).scalar() == 1
