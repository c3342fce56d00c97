"""The foundation's own promises: configuration from the environment with embedded defaults
(SQLite and a secret key generated under instance/), and the plain-language privacy page."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _config_in_subprocess(env: dict, instance: Path) -> dict:
    """Build the app in a fresh interpreter (Config reads the environment at import)."""
    code = ("import json; from webapp import create_app; app = create_app(); c = app.config; "
            "print(json.dumps({k: c[k] for k in ('SQLALCHEMY_DATABASE_URI', 'SECRET_KEY', 'BASE_URL', "
            "'SMTP_HOST', 'SMTP_PORT', 'SMTP_USER', 'SMTP_PASSWORD', 'SMTP_USE_TLS', 'MAIL_FROM')}))")
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("SMTP_", "DATABASE_URL", "SECRET_KEY", "BASE_URL", "MAIL_"))}
    clean.update(env, WARDLINE_INSTANCE_PATH=str(instance))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_defaults_sqlite_and_a_secret_generated_into_instance_once(tmp_path):
    first = _config_in_subprocess({}, tmp_path)
    assert first["SQLALCHEMY_DATABASE_URI"] == "sqlite:///" + str(tmp_path / "wardline.sqlite")
    secret_file = tmp_path / "secret_key"
    assert secret_file.read_text().strip() == first["SECRET_KEY"] and len(first["SECRET_KEY"]) >= 32
    assert secret_file.stat().st_mode & 0o077 == 0  # readable by the owner only
    assert first["SMTP_HOST"] is None  # no SMTP: mail only written to instance/mail
    again = _config_in_subprocess({}, tmp_path)
    assert again["SECRET_KEY"] == first["SECRET_KEY"]  # kept across restarts


def test_configuration_from_the_environment(tmp_path):
    config = _config_in_subprocess({
        "DATABASE_URL": "postgres://u:p@db.example:5432/wardline", "SECRET_KEY": "s" * 40,
        "BASE_URL": "https://wardline.example/", "SMTP_HOST": "smtp.example", "SMTP_PORT": "587",
        "SMTP_USER": "mailer", "SMTP_PASSWORD": "pw", "SMTP_USE_TLS": "1",
        "MAIL_FROM": "Wardline <hello@wardline.example>"}, tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db.example:5432/wardline"
    assert config["SECRET_KEY"] == "s" * 40 and not (tmp_path / "secret_key").exists()
    assert config["BASE_URL"] == "https://wardline.example"
    assert (config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_USER"], config["SMTP_PASSWORD"],
            config["SMTP_USE_TLS"]) == ("smtp.example", 587, "mailer", "pw", True)
    assert config["MAIL_FROM"] == "Wardline <hello@wardline.example>"


def test_privacy_page_says_what_why_who_and_how_to_export_or_delete(client):
    response = client.get("/privacy")
    assert response.status_code == 200
    page = response.text
    for heading in ("What we keep", "Why", "Who sees it", "Your rights"):
        assert f"<h2>{heading}</h2>" in page
    assert "email address" in page and "name you choose" in page
    assert "Download my data" in page and "Delete my account" in page
    assert "never see your email address" in page
    # linked from every page's footer
    assert 'href="/privacy"' in client.get("/").text
    assert 'href="/privacy"' in client.get("/wards/E05013806").text
