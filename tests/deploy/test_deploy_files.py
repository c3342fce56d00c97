"""The files of ``deploy/`` an operator copies: systemd units that systemd accepts, naming
files that exist; gunicorn settings from the environment; an nginx site that nginx accepts.
(The cluster test, ``tests/cluster/``, runs them all together on PostgreSQL.)"""
from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster import harness

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy" / "systemd").iterdir())


def test_units_name_files_that_exist_in_the_repository():
    assert {u.name for u in UNITS} == {
        "wardline-web.service", "wardline-worker@.service", "wardline-scheduler.service",
        "wardline-backup.service", "wardline-backup.timer"}
    for unit in UNITS:
        text = unit.read_text()
        for path in re.findall(r"/srv/wardline/app/(\S+)", text):
            assert (ROOT / path).exists(), f"{unit.name} names {path}"
        if unit.suffix == ".service":
            assert "EnvironmentFile=/etc/wardline/wardline.env" in text and "User=wardline" in text
    assert "-c deploy/gunicorn.conf.py wsgi:app" in (ROOT / "deploy/systemd/wardline-web.service").read_text()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_the_units(tmp_path):
    """``systemd-analyze verify`` with the paths pointed at this checkout: unknown keys,
    bad values and missing executables are reported."""
    venv = Path(sys.executable).parent.parent
    for unit in UNITS:
        text = (unit.read_text().replace("/srv/wardline/venv", str(venv))
                .replace("/srv/wardline/app", str(ROOT))
                .replace("/etc/wardline/wardline.env", str(ROOT / "deploy/wardline.env.example")))
        name = unit.name.replace("@.service", "@1.service")
        (tmp_path / name).write_text(text)
    names = [str(p) for p in sorted(tmp_path.iterdir())]
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *names], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def gunicorn_settings(env: dict) -> dict:
    script = ("import json, os\nns = {}\nexec(compile(open('deploy/gunicorn.conf.py').read(), "
              "'conf', 'exec'), ns)\nprint(json.dumps({k: v for k, v in ns.items() "
              "if not k.startswith('__') and isinstance(v, (int, str))}))")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WEB_", "FORWARDED_"))}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**clean, **env},
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_gunicorn_settings_come_from_the_cpus_and_the_environment():
    default = gunicorn_settings({})
    assert default["workers"] == multiprocessing.cpu_count() * 2 + 1
    assert default["bind"] == "127.0.0.1:8000" and default["timeout"] == 30
    assert default["forwarded_allow_ips"] == "127.0.0.1"
    assert default["logger_class"] == "webapp.platform.logsafe.GunicornLogger"
    # The access log has the path without its query string, never the request line.
    assert "%(U)s" in default["access_log_format"]
    assert not {"%(r)s", "%(q)s", "%(u)s"} & set(re.findall(r"%\(\w\)s", default["access_log_format"]))
    chosen = gunicorn_settings({"WEB_CONCURRENCY": "3", "WEB_BIND": "0.0.0.0:8001",
                                "WEB_TIMEOUT": "45", "FORWARDED_ALLOW_IPS": "10.0.0.2"})
    assert (chosen["workers"], chosen["bind"], chosen["timeout"], chosen["forwarded_allow_ips"]) \
        == (3, "0.0.0.0:8001", 45, "10.0.0.2")
    # gunicorn started in the project folder reads the same settings.
    root = (ROOT / "gunicorn.conf.py").read_text()
    assert 'Path(__file__).parent / "deploy" / "gunicorn.conf.py"' in root


@pytest.mark.skipif(harness.nginx_binary() is None, reason="nginx is not installed")
def test_nginx_accepts_the_site(tmp_path):
    cert, key = harness.self_signed(tmp_path)
    (tmp_path / "wardline.conf").write_text(harness.site_config(
        [harness.free_port(), harness.free_port()], harness.free_port(), harness.free_port(),
        tmp_path, cert, key))
    (tmp_path / "nginx.conf").write_text(harness.main_config(tmp_path))
    result = subprocess.run([harness.nginx_binary(), "-t", "-p", str(tmp_path), "-c",
                             str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "error.log")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr and "[emerg]" not in result.stderr, result.stderr


def test_each_gunicorn_worker_freezes_the_loaded_app_out_of_the_collector():
    """post_worker_init: gc.freeze() once the app is loaded (in a fresh interpreter, so the
    test process's collector is left alone)."""
    script = ("import gc\nns = {}\nexec(compile(open('deploy/gunicorn.conf.py').read(), 'conf', "
              "'exec'), ns)\nassert gc.get_freeze_count() == 0\nns['post_worker_init'](None)\n"
              "print(gc.get_freeze_count())")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert int(out) > 1000
