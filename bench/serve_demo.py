"""A throwaway Wardline instance with demo data, for Lighthouse and the install screenshots.

    .venv/bin/python bench/serve_demo.py PORT INFO_FILE

Creates a fresh SQLite database in a temporary instance folder, loads London's wards, runs
every registered demo seeder (``flask seed-demo``), adds a signed-up resident with a
conversation, writes ``{"base_url", "cookie", "ward_home", "conversation"}`` as JSON to
INFO_FILE and serves until killed (gzip on, as in production).
"""
from __future__ import annotations

import json
import logging
import sys
import tempfile
from importlib import import_module

from werkzeug.serving import make_server

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))


def main(port: int, info_file: str) -> None:
    instance = tempfile.mkdtemp(prefix="wardline-bench-")
    from webapp import create_app
    from webapp.extensions import db

    app = create_app({"INSTANCE_PATH": instance, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance}/bench.sqlite",
                      "BASE_URL": f"http://127.0.0.1:{port}", "MAIL_WRITE_FILES": False,
                      "SMTP_HOST": None, "RATELIMIT_ENABLED": False})
    with app.app_context():
        db.create_all()
        from webapp.wards.services import get_ward, load_wards
        load_wards()
        from webapp.core.cli import SEEDERS
        for path in SEEDERS:
            module_name, func_name = path.split(":")
            try:
                print(getattr(import_module(module_name), func_name)(), flush=True)
            except Exception as exc:  # a seeder still being built must not stop the benchmark
                db.session.rollback()
                print(f"seeder {path} failed: {exc!r}", flush=True)

        from webapp.accounts.models import User, UserCategory, UserWard
        from webapp.platform.timeutil import utcnow
        ward = get_ward("E05013806")
        user = User(email="bench.resident@example.org", display_name="Bench Resident",
                    role="resident", confirmed_at=utcnow(), survey_completed_at=utcnow(),
                    survey_step=4)
        user.wards.append(UserWard(ward=ward, is_home=True, position=0))
        for cat in ("prevention", "events", "appeals", "outcomes"):
            user.categories.append(UserCategory(category=cat))
        db.session.add(user)
        db.session.commit()
        conversation_url = None
        try:
            from webapp.threads import services as threads
            conv = threads.start_conversation(
                user, ward, "Bikes on the canal path",
                "Residents have noticed e-bikes going fast on the canal towpath near the lock, "
                "especially in the evenings. Could the team look at it?")
            db.session.commit()
            conversation_url = f"/messages/{conv.id}"
        except Exception as exc:  # threads not built yet: benchmark the ward home only
            db.session.rollback()
            print(f"no conversation: {exc!r}", flush=True)
        cookie = app.session_interface.get_signing_serializer(app).dumps(
            {"_user_id": user.get_id(), "_fresh": True})
        info = {"base_url": f"http://127.0.0.1:{port}", "cookie": f"session={cookie}",
                "ward_home": f"/wards/{ward.code}", "conversation": conversation_url}
    with open(info_file, "w") as fh:
        json.dump(info, fh)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    make_server("127.0.0.1", port, app, threaded=True).serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
