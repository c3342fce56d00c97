"""One helper per job: the query-parameter parser, the QR code, the email normaliser and the
concern counts are each defined once in the app (there were two or more of each), and the
pages that show a QR code get the same markup from it."""
import ast
import collections
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ONCE = ["int_value", "int_arg", "page_arg", "qr_svg", "normalise_email", "concern_counts"]


def _definitions():
    found = collections.defaultdict(list)
    for path in sorted((ROOT / "webapp").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[node.name].append(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("name", ONCE)
def test_defined_once(name):
    assert len(_definitions()[name]) == 1, _definitions()[name]


def test_email_addresses_are_normalised_by_the_one_function():
    """No other code lower-cases an address by hand (sign-in, staff look-up, throttles)."""
    hand_made = []
    for path in sorted((ROOT / "webapp").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "email" in line and ".strip().lower()" in line:
                hand_made.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert hand_made == []


def test_staff_look_up_and_sign_up_agree_on_the_address(app):
    from webapp.accounts.models import normalise_email
    from webapp.accounts.services import validate_email_address
    raw = "  Jane.Morgan@Police.Example "
    assert normalise_email(raw) == validate_email_address(raw) == "jane.morgan@police.example"


def test_both_qr_codes_are_the_same_markup(app):
    from webapp.platform.qr import qr_svg
    svg = str(qr_svg("otpauth://totp/x", "QR code"))
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" viewBox=') and 'class="qr"' in svg
    assert "<title>QR code</title>" in svg and 'class="qr-line"' in svg and "style" not in svg
