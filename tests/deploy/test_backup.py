"""The backup and restore-drill scripts of ``deploy/backup/``, run for real on PostgreSQL:
``pg_dump`` of a migrated database, retention, and the drill (restore into a fresh
database, ``flask db upgrade``, ``flask health``), which fails on a damaged dump."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from tests.conftest import TEST_DATABASE_URL, create_database, drop_database, is_postgres

pytestmark = pytest.mark.skipif(not is_postgres(), reason="pg_dump needs PostgreSQL")
ROOT = Path(__file__).resolve().parents[2]
BACKUP = ROOT / "deploy" / "backup" / "wardline-backup.sh"
DRILL = ROOT / "deploy" / "backup" / "restore-drill.sh"


def run(args, env, check=True):
    result = subprocess.run([str(a) for a in args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def drill_database(output: str) -> str:
    """The name of the database this drill restored into (it says so first)."""
    match = re.search(r"drill: restoring \S+ into (wardline_drill_\w+)", output)
    assert match, output
    return match.group(1)


def drill_databases() -> set[str]:
    """The drill databases on the server (other test runs, and the other xdist workers of
    this one, make and drop their own at the same time)."""
    engine = create_engine(create_database.__globals__["_pg_admin_url"](TEST_DATABASE_URL))
    with engine.connect() as conn:
        names = set(conn.scalars(text(
            "SELECT datname FROM pg_database WHERE datname LIKE 'wardline\\_drill\\_%'")))
    engine.dispose()
    return names


@pytest.fixture
def source(tmp_path):
    """A database migrated to the revision before head (the drill must upgrade it), with a
    row to find again; and the environment the scripts run in."""
    url = create_database("backup")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "FLASK_APP": "wsgi:app", "DATABASE_URL": url,
           "WARDLINE_INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "backup-test",
           "PATH": f"{bin_dir}:{os.environ['PATH']}", "BACKUP_DIR": str(tmp_path / "dumps"),
           "BACKUP_KEEP": "2"}
    scripts = ScriptDirectory(str(ROOT / "migrations"))
    head = scripts.get_revision(scripts.get_current_head())
    previous = head.down_revision if isinstance(head.down_revision, str) else head.down_revision[0]
    run([Path(bin_dir) / "flask", "db", "upgrade", previous], env)
    engine = create_engine(create_database.__globals__["_pg_admin_url"](url))
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO boroughs (code, name) VALUES ('E09000033', 'Westminster')"))
    engine.dispose()
    yield env, previous, head.revision
    drop_database(url)


def test_backup_keeps_the_newest_dumps_and_the_drill_restores_and_upgrades(source, tmp_path):
    env, previous, head = source
    dumps = tmp_path / "dumps"
    names = []
    for _ in range(3):
        out = run([BACKUP], env).stdout
        assert out.startswith(f"backup: {dumps}/wardline-")
        names.append(out.split()[1])
        subprocess.run(["sleep", "1.1"], check=True)  # the names carry the second
    kept = sorted(p.name for p in dumps.glob("wardline-*.dump"))
    assert kept == sorted(Path(n).name for n in names[1:]), "BACKUP_KEEP=2 keeps the newest two"
    assert all(oct((dumps / k).stat().st_mode)[-3:] == "600" for k in kept)
    # A custom-format dump of the real database: pg_restore reads its table of contents.
    listing = run(["pg_restore", "--list", dumps / kept[-1]], env).stdout
    assert "TABLE DATA public boroughs" in listing and "alembic_version" in listing

    drill = run([DRILL], env)
    out = drill.stdout + drill.stderr
    assert f"drill: restoring {dumps / kept[-1]}" in out, out
    assert f"Running upgrade {previous} -> {head}" in out, "the drill upgrades the restored schema"
    ready = next(line for line in out.splitlines() if line.startswith("/readyz "))
    assert ready.split(" ", 2)[1] == "200"
    assert json.loads(ready.split(" ", 2)[2]) == {"status": "ok", "database": "ok",
                                                   "migrations": "ok", "outbox": "ok",
                                                   "outbox_lag_seconds": 0.0}
    assert "drill: 1 boroughs, 0 wards, 0 users, 0 deliveries" in out, "the rows came back"
    assert drill.stdout.rstrip().endswith(f"drill: restore of {kept[-1]} passed")
    assert drill_database(out) not in drill_databases(), "the drill database is dropped afterwards"


def test_the_drill_fails_on_a_damaged_dump(source, tmp_path):
    env, *_ = source
    dump = Path(run([BACKUP], env).stdout.split()[1])
    damaged = tmp_path / "damaged.dump"
    data = dump.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    drill = run([DRILL, damaged], env, check=False)
    assert drill.returncode != 0
    assert "passed" not in drill.stdout
    assert drill_database(drill.stdout) not in drill_databases()
    # Nor does a missing backup folder pass.
    missing = run([DRILL], {**env, "BACKUP_DIR": str(tmp_path / "nothing")}, check=False)
    assert missing.returncode == 1 and "no wardline-*.dump" in missing.stderr
