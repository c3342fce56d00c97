"""Every setting the code reads is declared once in ``Config`` with its default, read as
``config["NAME"]`` (never ``config.get("NAME", another default)``), and every one a deployer
sets through the environment has a row in the README's configuration table."""
import re
from pathlib import Path

from flask import Flask

from webapp.config import Config

ROOT = Path(__file__).resolve().parents[1]
CODE = [*sorted((ROOT / "webapp").rglob("*.py")), ROOT / "gunicorn.conf.py",
        ROOT / "deploy" / "gunicorn.conf.py", ROOT / "wsgi.py"]
TEMPLATES = sorted((ROOT / "templates").rglob("*.*"))

NAME = r"""["']([A-Z][A-Z0-9_]*)["']"""
READS = [re.compile(r"\b(?:config|cfg)\[" + NAME + r"\]"), re.compile(r"\b(?:config|cfg)\.get\(\s*" + NAME)]
TEMPLATE_READS = [*READS, re.compile(r"\bconfig\.([A-Z][A-Z0-9_]*)\b")]
GET = re.compile(r"\b(?:config|cfg)\.get\(\s*" + NAME)
FROM_ENVIRONMENT = re.compile(r"""(?:os\.environ\.get|os\.getenv|_bool)\(\s*["']([A-Z][A-Z0-9_]*)["']""")


def reads(paths, patterns):
    found = {}
    for path in paths:
        text = path.read_text(errors="replace")
        for pattern in patterns:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.setdefault(match.group(1), []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


def readme_table_names():
    text = (ROOT / "README.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", row.split("|")[1])}


def test_every_setting_read_is_declared_in_config():
    declared = {k for k in dir(Config) if k.isupper()} | set(Flask.default_config)
    read = reads(CODE, READS) | reads(TEMPLATES, TEMPLATE_READS)
    assert read, "the scan found no config reads at all"
    undeclared = {name: where for name, where in read.items() if name not in declared}
    assert undeclared == {}, f"declare these in webapp/config.py Config with their default: {undeclared}"


def test_settings_are_read_with_config_brackets_not_get_with_a_default():
    gets = reads(CODE, [GET]) | reads(TEMPLATES, [GET])
    assert gets == {}, f"read as config[name] (the default lives in Config): {gets}"


def test_every_setting_from_the_environment_has_a_readme_row():
    from_env = reads(CODE, [FROM_ENVIRONMENT])
    assert {"SECRET_KEY", "BASE_URL", "SMTP_HOST"} <= set(from_env)
    missing = sorted(set(from_env) - readme_table_names())
    assert missing == [], f"add a row to the README's configuration table for: {missing}"
