"""A fragment-only answer is ``render_fragment(fragment)``, not ``render(fragment, fragment)``;
views do not repeat the global CSRF check (``EmptyForm().validate_on_submit() → 400``):
CSRFProtect refuses first, as tests/*/test_csrf_everywhere.py show for every POST rule."""
import ast
from pathlib import Path

from webapp.platform.htmx import render_fragment

ROOT = Path(__file__).resolve().parents[1]


def _calls():
    for path in sorted((ROOT / "webapp").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                yield path.relative_to(ROOT), node


def test_no_render_with_the_same_template_twice():
    twice = [f"{path}:{call.lineno}" for path, call in _calls()
             if getattr(call.func, "id", None) == "render" and len(call.args) >= 2
             and isinstance(call.args[0], ast.Constant) and isinstance(call.args[1], ast.Constant)
             and call.args[0].value == call.args[1].value]
    assert twice == []


def test_no_view_repeats_the_global_csrf_check():
    repeated = [f"{path}:{call.lineno}" for path, call in _calls()
                if getattr(call.func, "attr", None) == "validate_on_submit"
                and isinstance(call.func.value, ast.Call)
                and getattr(call.func.value.func, "id", None) == "EmptyForm"]
    assert repeated == []


def test_render_fragment_renders_the_fragment_and_varies_by_hx_request(app):
    with app.test_request_context("/"):
        response = render_fragment("pwa/_offline.html", status=422)
    assert response.status_code == 422 and "HX-Request" in response.vary
    assert "<html" not in response.get_data(as_text=True)
