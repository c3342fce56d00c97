"""TOTP secrets are encrypted at rest with a key from the environment or instance/
(issue 9, point 10), and the migration encrypts the secrets already stored."""
from __future__ import annotations

import os
import stat

import pyotp
import pytest
from cryptography.fernet import Fernet
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, text

from tests.conftest import create_database, drop_database
from webapp import create_app
from webapp.accounts import crypto
from webapp.config import Config
from webapp.extensions import db


def _raw_secret(user_id: int) -> str:
    return db.session.execute(text("SELECT totp_secret FROM users WHERE id = :id"),
                              {"id": user_id}).scalar_one()


def test_secret_is_stored_encrypted(app, make_staff):
    officer = make_staff("officer")
    secret = pyotp.random_base32()
    officer.totp_secret = secret
    db.session.commit()
    raw = _raw_secret(officer.id)
    assert secret not in raw and crypto.is_encrypted(raw)
    assert Fernet(app.config["TOTP_ENCRYPTION_KEY"].split(",")[0].encode()) \
        .decrypt(raw.encode()).decode() == secret
    db.session.expire_all()
    assert officer.totp_secret == secret  # the app reads it in clear
    with pytest.raises(crypto.SecretError):
        crypto.decrypt(raw, keys=crypto.new_key())  # another key cannot


def test_key_rotation_keeps_old_secrets_readable(app, make_staff):
    officer = make_staff("officer")
    officer.totp_secret = "JBSWY3DPEHPK3PXP"
    db.session.commit()
    old = app.config["TOTP_ENCRYPTION_KEY"]
    app.config["TOTP_ENCRYPTION_KEY"] = f"{crypto.new_key()},{old}"
    try:
        db.session.expire_all()
        assert officer.totp_secret == "JBSWY3DPEHPK3PXP"
    finally:
        app.config["TOTP_ENCRYPTION_KEY"] = old


def test_key_comes_from_the_environment_or_is_generated_into_instance(tmp_path):
    key = crypto.new_key()

    class FromEnv(Config):
        TESTING, SECRET_KEY, INSTANCE_PATH = True, "x", str(tmp_path / "a")
        SQLALCHEMY_DATABASE_URI = "sqlite://"
        TOTP_ENCRYPTION_KEY = key

    assert create_app(FromEnv).config["TOTP_ENCRYPTION_KEY"] == key
    assert not (tmp_path / "a" / "totp_key").exists()

    class Generated(FromEnv):
        INSTANCE_PATH = str(tmp_path / "b")
        TOTP_ENCRYPTION_KEY = None

    first = create_app(Generated).config["TOTP_ENCRYPTION_KEY"]
    path = tmp_path / "b" / "totp_key"
    assert path.read_text() == first and Fernet(first.encode())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert create_app(Generated).config["TOTP_ENCRYPTION_KEY"] == first  # kept across restarts


def test_migration_encrypts_existing_secrets(tmp_path):
    url = create_database("totp")
    try:
        class MigrationConfig(Config):
            TESTING, SECRET_KEY, INSTANCE_PATH = True, "migration-test", str(tmp_path)
            SQLALCHEMY_DATABASE_URI = url

        app = create_app(MigrationConfig)
        with app.app_context():
            upgrade(revision="0001")
            engine = create_engine(db.engine.url)
            with engine.begin() as conn:
                conn.execute(text(
                    "INSERT INTO users (email, display_name, role, created_at, session_version,"
                    " email_frequency, survey_step, respondent_key, totp_secret)"
                    " VALUES ('jane@police.example', 'Jane', 'officer', CURRENT_TIMESTAMP, 1,"
                    " 'immediate', 1, 'k', 'JBSWY3DPEHPK3PXP')"))
            upgrade()
            with engine.connect() as conn:
                raw = conn.execute(text("SELECT totp_secret FROM users")).scalar_one()
            assert crypto.is_encrypted(raw) and crypto.decrypt(raw) == "JBSWY3DPEHPK3PXP"
            downgrade(revision="0001")
            with engine.connect() as conn:
                raw = conn.execute(text("SELECT totp_secret FROM users")).scalar_one()
            assert raw == "JBSWY3DPEHPK3PXP"
            engine.dispose()
            db.engine.dispose()
    finally:
        drop_database(url)
