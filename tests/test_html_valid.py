"""Every page is valid HTML by the W3C Nu checker (npm ``vnu-jar``, run on Java): all the
pages of ``tests/pages.py``, the htmx fragments of the same URLs and forms shown with their
errors, checked in one ``vnu`` run (the JVM starts once). No errors, and no warnings on whole
pages (a fragment alone has no ``<h1>``); the only messages allowed are htmx's own ``hx-*``
attributes."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.pages import FORM_ERRORS, NOT_HTML, PAGES, build_world

VNU_JAR = Path(__file__).resolve().parent / "js" / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
HTMX_ATTRIBUTE = re.compile(r"^Attribute “hx-[a-z:-]+” not allowed on element “[a-z0-9]+” at this point\.$")
FRAGMENT_PAGE = ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                 "<title>htmx fragment</title></head><body>\n{}\n</body></html>")
PARENT = {"li": "ul", "tr": "table", "option": "select"}  # where htmx swaps such elements
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class _TopLevel(HTMLParser):
    """Split a fragment into its top-level elements (htmx swaps each where it belongs)."""

    def __init__(self, text):
        super().__init__(convert_charrefs=False)
        self.lines = [0]
        for line in text.splitlines(keepends=True):
            self.lines.append(self.lines[-1] + len(line))
        self.depth, self.starts = 0, []
        self.feed(text)

    def _offset(self):
        line, col = self.getpos()
        return self.lines[line - 1] + col

    def handle_starttag(self, tag, attrs):
        if self.depth == 0:
            self.starts.append((self._offset(), tag))
        if tag not in VOID:
            self.depth += 1

    def handle_startendtag(self, tag, attrs):
        if self.depth == 0:
            self.starts.append((self._offset(), tag))

    def handle_endtag(self, tag):
        self.depth -= 1


def as_document(fragment: str) -> str:
    """A fragment as a whole document, each top-level element inside the parent it is
    swapped into (an ``<li>`` in a ``<ul>``)."""
    starts = _TopLevel(fragment).starts
    parts = [fragment[:starts[0][0]] if starts else fragment]
    for i, (offset, tag) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(fragment)
        piece = fragment[offset:end]
        parts.append(f"<{PARENT[tag]}>{piece}</{PARENT[tag]}>" if tag in PARENT else piece)
    return FRAGMENT_PAGE.format("".join(parts))


def test_every_get_route_is_listed(app):
    """A new HTML page cannot escape the sweeps: every GET route is in PAGES or NOT_HTML."""
    listed = {page.endpoint for page in PAGES} | NOT_HTML
    get_routes = {rule.endpoint for rule in app.url_map.iter_rules() if "GET" in rule.methods}
    assert get_routes - listed == set(), "add these GET routes to tests/pages.py"
    assert {e for e in listed if e} - get_routes == set(), "tests/pages.py lists gone routes"


def fetch_pages(app, world) -> dict[str, str]:
    """Every page of PAGES as its role sees it, and its htmx fragment when the URL has one,
    and the forms of FORM_ERRORS sent with mistakes: {file name: HTML document}."""
    documents, wrong = {}, []
    for page in PAGES:
        url = page.url(world)
        for htmx in (True,) if page.fragment else (False, True):
            client = app.test_client()
            session = world.session_for(page.role)
            if session:
                with client.session_transaction() as sess:
                    sess.update(session)
            response = client.get(url, headers={"HX-Request": "true"} if htmx else {})
            if response.status_code == 204:
                continue
            if response.status_code != page.status:
                wrong.append((page.id, htmx, response.status_code, response.location))
                continue
            assert response.mimetype == "text/html", (page.id, response.mimetype)
            html = response.get_data(as_text=True)
            whole = html.lstrip().lower().startswith("<!doctype html>")
            if not htmx:
                assert whole, f"{page.id} is not a whole page"
                documents[f"{page.id}.html"] = html
            elif not whole:
                documents[f"{page.id}.fragment.html"] = as_document(html)
    for name, role, url, data in FORM_ERRORS:
        url = url.format(**world.values)
        for htmx in (False, True):
            client = app.test_client()
            session = world.session_for(role)
            if session:
                with client.session_transaction() as sess:
                    sess.update(session)
            response = client.post(url.format(**world.values), data=data,
                                   headers={"HX-Request": "true"} if htmx else {})
            if response.status_code != 422:
                wrong.append((name, htmx, response.status_code, response.location))
                continue
            html = response.get_data(as_text=True)
            whole = html.lstrip().lower().startswith("<!doctype html>")
            documents[f"{name}{'.fragment' if htmx else ''}.html"] = html if whole else as_document(html)
    assert wrong == [], "pages not reached as their role"
    return documents


def run_vnu(folder: Path) -> list[dict]:
    """The Nu checker's messages for every ``.html`` file in ``folder``."""
    java = shutil.which("java")
    if java is None or not VNU_JAR.exists():
        pytest.fail("The Nu checker needs Java and tests/js (make test installs both: "
                    "apt-get install default-jre-headless; cd tests/js && npm ci)")
    files = sorted(str(p) for p in folder.glob("*.html"))
    # A short run: the JVM's quick compiler only (C1) and the serial collector use half the
    # CPU time of the defaults (the optimising compiler never pays off in one pass).
    proc = subprocess.run([java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xss2m",
                           "-jar", str(VNU_JAR), "--format", "json", "--exit-zero-always",
                           *files], capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stderr or proc.stdout)
    return report["messages"]


def test_every_page_is_valid_html(app, make_resident, make_staff, tmp_path):
    world = build_world(make_resident, make_staff)
    documents = fetch_pages(app, world)
    assert len(documents) > len(PAGES)  # pages and some fragments
    for name, html in documents.items():
        (tmp_path / name).write_text(html, encoding="utf-8")
    problems = [f"{Path(m.get('url', '')).name}:{m.get('lastLine')}: {m['type']}: {m['message']}"
                f"\n    {m.get('extract', '').strip()}"
                for m in run_vnu(tmp_path)
                if m["type"] in ("error", "non-document-error")
                or (m.get("subType") == "warning" and ".fragment." not in m.get("url", ""))
                if not HTMX_ATTRIBUTE.match(m["message"])]
    assert problems == [], f"{len(problems)} problems:\n" + "\n".join(problems)


# --------------------------------------------------------------------------- the classes
def test_html_datetime_is_whole_seconds_in_utc():
    from datetime import datetime, timezone

    from webapp.platform.timeutil import LONDON, html_datetime
    assert html_datetime(datetime(2026, 11, 26, 11, 57, 18, 745807)) == "2026-11-26T11:57:18Z"
    summer = datetime(2026, 7, 1, 13, 0, 0, 5, tzinfo=LONDON)
    assert html_datetime(summer) == "2026-07-01T12:00:00Z"
    assert html_datetime(datetime(2026, 1, 1, tzinfo=timezone.utc)) == "2026-01-01T00:00:00Z"
    assert html_datetime(None) == ""


def test_every_datetime_attribute_goes_through_the_filter():
    """A ``<time datetime>`` written any other way (``isoformat()`` keeps microseconds)."""
    templates = Path(__file__).resolve().parents[1] / "templates"
    attrs = [(p.name, m.group(0)) for p in templates.rglob("*.html")
             for m in re.finditer(r'datetime="[^"]*"', p.read_text())]
    assert attrs, "no <time datetime> in the templates?"
    assert [a for a in attrs if not re.fullmatch(r'datetime="\{\{ [\w.]+\|html_datetime \}\}"', a[1])] == []


def test_every_form_renders_valid_controls(app):
    """Every form class derives from ``webapp.platform.forms.Form``, whose controls are valid HTML:
    CSRF fields without ids (two forms, no duplicate), hidden inputs without ``required``,
    a required select only with an empty first option."""
    from flask_wtf import FlaskForm
    from wtforms import SelectField, StringField
    from wtforms.fields.choices import SelectChoice
    from wtforms.validators import DataRequired, Length

    from webapp.platform.forms import EmptyForm, Form

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)
    app_forms = [c for c in subclasses(FlaskForm) if c.__module__.startswith("webapp.")]
    assert len(app_forms) > 15
    assert [c.__qualname__ for c in app_forms if not issubclass(c, Form)] == []

    class Sample(Form):
        email = StringField("Email", validators=[DataRequired(), Length(max=254)])
        ward = SelectField("Ward", choices=[SelectChoice(1, "A"), SelectChoice(2, "B")], validators=[DataRequired()])
        pick = SelectField("Pick", choices=[SelectChoice("", "Choose…"), SelectChoice("a", "A")], validators=[DataRequired()])

    with app.test_request_context():
        first, second = EmptyForm(), EmptyForm()
        html = str(first.csrf_token) + str(second.csrf_token)
        assert html.count('name="csrf_token"') == 2 and "id=" not in html
        form = Sample()
        hidden = str(form.email(type="hidden"))
        assert 'type="hidden"' in hidden and "required" not in hidden and "maxlength" not in hidden
        assert "required" in str(form.email()) and 'maxlength="254"' in str(form.email())
        assert "required" not in str(form.ward)
        assert "required" in str(form.pick)
