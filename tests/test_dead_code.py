"""No dead functions, methods or classes in the app: vulture finds none.

Views, CLI commands, signal and Jinja hooks are used through their decorators; scheduler
ticks and demo seeders by their "module:function" name. What else is used only by name
from outside Python (templates, gunicorn's config, WTForms) is listed here with where.
Columns, settings and template-only properties are not checked (templates read them).
"""
import re
import subprocess
import sys
from pathlib import Path

from webapp.core.cli import SEEDERS
from webapp.delivery.scheduler import TICKS

ROOT = Path(__file__).resolve().parents[1]

USED_BY_NAME = {
    "Meta": "WTForms reads a form's class Meta (webapp/forms.py)",
    "GunicornLogger": "gunicorn.conf.py names it as logger_class",
    "is_encrypted": "migrations/versions/0002_auth.py",
    "needs_classifying": "tests/accounts/test_personal_data.py checks the registry with it",
    "validate_*": "WTForms calls validate_<field> methods",
    "process_bind_param": "SQLAlchemy TypeDecorator hook",
    "process_result_value": "SQLAlchemy TypeDecorator hook",
    "readable": "io.RawIOBase protocol (io.BufferedReader calls it)",
    "readinto": "io.RawIOBase protocol (io.BufferedReader calls it)",
    "collect": "prometheus_client calls a collector's collect() (webapp/delivery/metrics.py)",
    "format": "logging calls a Formatter's format() (webapp/platform/requestlog.py)",
    "clear_cache": "tests/wards/test_postcodes.py empties the postcode lookup cache between tests",
    "connection_made": "asyncio calls a Protocol's callbacks (webapp/delivery/push_http.py)",
    "connection_lost": "asyncio calls a Protocol's callbacks (webapp/delivery/push_http.py)",
    "data_received": "asyncio calls a Protocol's callbacks (webapp/delivery/push_http.py)",
    "eof_received": "asyncio calls a Protocol's callbacks (webapp/delivery/push_http.py)",
    "on_message_begin": "httptools calls its parser's callbacks (webapp/delivery/push_http.py)",
    "on_status": "httptools calls its parser's callbacks (webapp/delivery/push_http.py)",
    "on_header": "httptools calls its parser's callbacks (webapp/delivery/push_http.py)",
    "on_headers_complete": "httptools calls its parser's callbacks (webapp/delivery/push_http.py)",
    "on_body": "httptools calls its parser's callbacks (webapp/delivery/push_http.py)",
    "on_message_complete": "httptools calls its parser's callbacks (webapp/delivery/push_http.py)",
}
HOOK_DECORATORS = ["@*.get", "@*.post", "@*.route", "@*.delete", "@*.put", "@*.patch",
                   "@*.command", "@*.app_template_global", "@*.app_template_filter",
                   "@*.listens_for", "@*.record_once", "@*.record", "@*.connect",
                   "@*.user_loader", "@*.errorhandler", "@*.app_errorhandler",
                   "@*.before_app_request", "@*.after_app_request", "@*.before_request",
                   "@*.after_request", "@*.app_context_processor", "@*.context_processor",
                   "@*.exempt"]


def test_vulture_finds_no_dead_function_method_or_class():
    by_name = [path.split(":")[1] for path, *_ in TICKS] + [path.split(":")[1] for path in SEEDERS]
    result = subprocess.run(
        [sys.executable, "-m", "vulture", "webapp", "--min-confidence", "60",
         "--ignore-decorators", ",".join(HOOK_DECORATORS),
         "--ignore-names", ",".join([*USED_BY_NAME, *by_name])],
        cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode in (0, 3), result.stderr  # 3: vulture found something
    dead = [line for line in result.stdout.splitlines()
            if re.search(r"unused (function|method|class)\b", line)]
    assert dead == [], "dead code (delete it, or list in USED_BY_NAME who uses it by name):\n" \
        + "\n".join(dead)
