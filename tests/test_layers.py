"""The layers: imports point down only (import-linter's contract in ``.importlinter``), the
code passes ruff (``ruff.toml``: pyflakes, bugbear, no import inside a function without a
reason), and the outbox is written in one place. ``make test`` runs both linters first;
these tests keep them true for a plain ``pytest`` run too."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*args, **env):
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"PATH": str(BIN), "PYTHONPATH": str(ROOT), **env})


def test_imports_point_down_the_layers():
    result = run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_an_upward_import_breaks_the_layers_contract(tmp_path):
    """The contract really catches one: a copy of the package where wards imports threads."""
    copy = tmp_path / "webapp"
    subprocess.run(["cp", "-r", str(ROOT / "webapp"), str(copy)], check=True)
    (tmp_path / ".importlinter").write_text((ROOT / ".importlinter").read_text())
    with open(copy / "wards" / "services.py", "a") as fh:
        fh.write("\nfrom webapp.threads.models import Conversation  # noqa: E402,F401\n")
    result = subprocess.run([str(BIN / "lint-imports"), "--no-cache"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300,
                            env={"PATH": str(BIN), "PYTHONPATH": str(tmp_path)})
    assert result.returncode != 0
    assert "webapp.wards is not allowed to import webapp.threads" in result.stdout


def test_ruff_passes():
    result = run(str(BIN / "ruff"), "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_imports_inside_functions_say_why():
    """PLC0415 is on, and every exception is marked with its reason."""
    config = (ROOT / "ruff.toml").read_text()
    assert "PLC0415" in config
    for path in (ROOT / "webapp").rglob("*.py"):
        for line in path.read_text().splitlines():
            if "noqa: PLC0415" in line:
                assert re.search(r"noqa: PLC0415\s+\(.+\)", line), f"{path}: {line}"


@pytest.mark.parametrize("needle", ["insert_ignore(Delivery.__table__)", "INSERT INTO deliveries"])
def test_the_outbox_is_written_in_one_place(needle):
    """``notify`` and ``fan_out`` in ``webapp/delivery/services.py`` are the only writers."""
    writers = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "webapp").rglob("*.py")
                     if needle in p.read_text())
    assert writers in ([], ["webapp/delivery/services.py"])
    assert (ROOT / "webapp/delivery/services.py").read_text().count(
        "insert_ignore(Delivery.__table__)") == 2
