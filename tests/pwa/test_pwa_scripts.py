"""The page's app scripts and the service worker: the keep/never-cache patterns are written
once (webapp.pwa.services) and rendered into sw.js; the test-only hooks are there only when
PWA_TEST_HOOKS is set; the scripts are separate files (register/update, push, reply queue)
loaded with versioned URLs under the strict CSP."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from webapp.pwa import services

ROOT = Path(__file__).resolve().parents[2]

PATHS = ["/wards/E05013806", "/wards/E05013806/more", "/alerts", "/alerts/4", "/messages",
         "/messages/7", "/meetings", "/meetings/3/ics", "/", "/officer", "/officer/meetings",
         "/admin/teams", "/settings", "/settings/export", "/staff", "/login", "/signup",
         "/logout", "/survey", "/push/key", "/accounts", "/alertsx", "/wards/", "/wards/a/b"]


def _sw_constant(body: str, name: str) -> str:
    return re.search(rf"^const {name} = (.*);$", body, re.M).group(1)


def test_the_worker_applies_the_servers_patterns(client):
    body = client.get("/sw.js").get_data(as_text=True)
    keep, never = _sw_constant(body, "KEEP"), _sw_constant(body, "NEVER")
    assert keep == f"new RegExp({json.dumps(services.OFFLINE_PAGE_PATTERN.pattern)})"
    assert never == f"new RegExp({json.dumps(services.NEVER_CACHED_PATTERN.pattern)})"
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed (it runs the service worker's regular expressions)")
    script = (f"const KEEP = {keep}; const NEVER = {never};"
              f"console.log(JSON.stringify({json.dumps(PATHS)}.map(p => [KEEP.test(p), NEVER.test(p)])))")
    in_js = json.loads(subprocess.run([node, "-e", script], capture_output=True, text=True,
                                      check=True).stdout)
    in_python = [[bool(services.OFFLINE_PAGE_PATTERN.match(p)),
                  bool(services.NEVER_CACHED_PATTERN.match(p))] for p in PATHS]
    assert in_js == in_python
    assert [p for p, (k, n) in zip(PATHS, in_python, strict=True) if k and not n] == \
        [p for p in PATHS if services.may_keep_offline(p, "resident")]


@pytest.mark.parametrize("hooks", [True, False])
def test_test_hooks_only_when_testing(app, client, hooks):
    app.config["PWA_TEST_HOOKS"] = hooks
    try:
        page = client.get("/").get_data(as_text=True)
        worker = client.get("/sw.js").get_data(as_text=True)
    finally:
        app.config["PWA_TEST_HOOKS"] = True
    assert ("/static/js/pwa-test-hooks.js?v=" in page) is hooks
    assert ("const tellTests = broadcast;" in worker) is hooks
    assert ("const tellTests = async () => {};" in worker) is not hooks
    assert ("pwa-test-hooks.js" in _sw_constant(worker, "PRECACHE")) is hooks
    production = "".join((ROOT / "static" / name).read_text() for name in services.PWA_SCRIPTS)
    assert ".messages" not in production  # no test hook is left in the app's own scripts


def test_scripts_are_separate_versioned_files_in_order(client):
    page = client.get("/").get_data(as_text=True)
    scripts = re.findall(r'<script src="/static/([^"?]+)\?v=[0-9a-f]+" defer></script>', page)
    start = scripts.index(services.PWA_SCRIPTS[0])
    assert scripts[start:start + len(services.PWA_SCRIPTS)] == list(services.PWA_SCRIPTS)
    assert "<script>" not in page  # nothing inline (the CSP forbids it)
    for name in services.PWA_SCRIPTS:
        assert client.get(f"/static/{name}").status_code == 200
    assert not any(name.endswith("js/pwa.js") or name.endswith("js/outbox.js") for name in scripts)


def test_the_browsers_queue_is_called_the_reply_queue():
    """"Outbox" is the server's delivery table; the browser's queue of offline replies is the
    reply queue in its scripts, worker and templates (its old database name excepted)."""
    files = [*(ROOT / "static/js").glob("*.js"), *(ROOT / "templates/pwa").iterdir(),
             ROOT / "templates/threads/_reply_form.html"]
    stray = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}" for path in files
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if "outbox" in line.lower() and "wardline-outbox" not in line
             and '"Outbox" is the server' not in line]
    assert stray == []
