"""Staff passwords are hashed at argon2-cffi's recommended cost in production; the test
suite's cheaper setting (tests/conftest.py) changes only the parameters."""
from argon2 import PasswordHasher
from argon2.profiles import RFC_9106_LOW_MEMORY

from webapp import create_app
from webapp.accounts.passwords import hash_password, verify_password
from webapp.config import Config
from webapp.extensions import db


def test_production_hashes_cost_the_library_recommendation(app):
    assert (Config.PASSWORD_HASH_TIME_COST, Config.PASSWORD_HASH_MEMORY_KIB) == \
        (RFC_9106_LOW_MEMORY.time_cost, RFC_9106_LOW_MEMORY.memory_cost) == \
        (PasswordHasher().time_cost, PasswordHasher().memory_cost)
    config = {k: v for k, v in app.config.items() if k.isupper()}
    config.update(PASSWORD_HASH_TIME_COST=Config.PASSWORD_HASH_TIME_COST,
                  PASSWORD_HASH_MEMORY_KIB=Config.PASSWORD_HASH_MEMORY_KIB)
    production = create_app(config)
    with production.app_context():
        stored = hash_password("correct horse battery staple")
        assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        assert verify_password(stored, "correct horse battery staple")
        assert not verify_password(stored, "correct horse battery stable")
        assert not verify_password(None, "correct horse battery staple")
    # The tests' own cheap hashes (and any hash made at another cost) still verify.
    cheap = hash_password("correct horse battery staple")
    assert cheap.startswith("$argon2id$v=19$m=1024,t=1,p=4$")
    with production.app_context():
        assert verify_password(cheap, "correct horse battery staple")
        db.engine.dispose()
