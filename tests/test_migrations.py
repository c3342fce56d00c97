"""Upgrading an empty database with the Alembic migrations gives exactly the models' schema."""
import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect

from tests.conftest import create_database, drop_database
from webapp import create_app
from webapp.config import Config
from webapp.extensions import db


@pytest.fixture
def empty_database():
    url = create_database("migrations")
    yield url
    drop_database(url)


def test_upgrade_from_empty_matches_models_and_downgrades(empty_database, tmp_path):
    class MigrationConfig(Config):
        TESTING = True
        SECRET_KEY = "migration-test"
        SQLALCHEMY_DATABASE_URI = empty_database
        INSTANCE_PATH = str(tmp_path)

    app = create_app(MigrationConfig)
    with app.app_context():
        upgrade()
        engine = create_engine(db.engine.url)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        expected = {t.name for t in db.metadata.sorted_tables}
        assert expected <= set(inspect(engine).get_table_names())
        downgrade(revision="base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        engine.dispose()
        db.engine.dispose()
    expected_backend = "postgresql" if os.environ.get("TEST_DATABASE_URL") else "sqlite"
    assert empty_database.startswith(expected_backend)
