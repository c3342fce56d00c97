"""Accessibility rules checked on the templates themselves (axe checks the rendered pages in
``tests/browser/test_axe_pages.py``)."""
from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def test_every_data_table_scrolls_in_a_focusable_region():
    """A table wider than a phone scrolls sideways; the scrolling box must take keyboard
    focus (axe ``scrollable-region-focusable``), so every data table sits in the
    ``scroll_table`` macro's region, and only that region scrolls."""
    unwrapped = []
    for path in TEMPLATES.rglob("*.html"):
        if "email" in path.parts:
            continue
        text = path.read_text()
        for match in re.finditer(r"<table\b[^>]*>", text):
            if "visually-hidden-table" in match.group(0):
                continue
            before = text[:match.start()]
            if before.rfind("{% call scroll_table(") <= before.rfind("{% endcall %}"):
                unwrapped.append(f"{path.relative_to(TEMPLATES)}: {match.group(0)}")
    assert unwrapped == []
    css = re.sub(r"/\*.*?\*/", "", (TEMPLATES.parent / "static" / "css" / "app.css").read_text(),
                 flags=re.S)
    scrolling = re.findall(r"([^{}]+)\{[^}]*overflow-x:\s*auto", css)
    assert [s.strip() for s in scrolling] == [".table-scroll"]
