"""Issue 9, point 10: integer query parameters never make a 500.

``/admin/deliveries?page=99999999999999999999`` was a 500 (an OFFSET past the database's
range). Every integer parameter now goes through ``webapp.platform.params``; the walk sends huge,
negative and garbage values of every page-like parameter to every GET route of the app,
as a visitor, a resident, an officer and an admin."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.support.world import ST_JAMES, build_world
from webapp.platform.params import int_value

BAD = ["99999999999999999999", "2147483648", "-1", "-99999999999999999999", "abc", "1e5",
       "0x10", "", " 3", "１２", "1.5", "9" * 400, "%00", "1_000"]
NAMES = ("page", "before", "after", "ward", "step", "offset", "limit", "id", "status", "action")


def _get_urls(app, ids):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        url = re.sub(r"<int:([a-z_]+)>", lambda m: str(ids.get(m.group(1), 1)), rule.rule)
        url = re.sub(r"<any\('?([a-z0-9-]+)'?[^>]*>", r"\1", url)
        url = re.sub(r"<(?:string:)?(code|ward_code)>", ST_JAMES, url)
        url = re.sub(r"<[^>]+>", "not-a-token", url)
        yield url


@pytest.mark.parametrize("who", ["visitor", "resident", "officer", "admin"])
def test_every_get_route_survives_bad_integer_parameters(app, client, login, make_resident,
                                                         make_staff, who):
    world = build_world(make_resident, make_staff)
    people = {"resident": world.resident, "officer": world.officer, "admin": world.admin}
    if who != "visitor":
        login(client, people[who])
    errors = []
    urls = list(_get_urls(app, world.ids))
    assert len(urls) >= 40
    for url in urls:
        for value in BAD:
            query = urlencode({name: value for name in NAMES})
            response = client.get(f"{url}?{query}")
            if response.status_code >= 500:
                errors.append(f"{url}?page={value!r} → {response.status_code}")
            if url.startswith(("/officer/messages/", "/messages/")) and value == BAD[0]:
                client.get(f"{url}?{query}", headers={"HX-Request": "true"})
    assert not errors, "\n".join(errors)


def test_admin_deliveries_page_far_past_the_end(app, client, login, make_staff):
    """The reported URL: a page past the range is page 1, not a 500."""
    login(client, make_staff("admin"))
    for value in ("99999999999999999999", "-5", "x", "2147483647"):
        response = client.get(f"/admin/deliveries?page={value}")
        assert response.status_code == 200, value


def test_int_value_accepts_only_plain_numbers_in_range():
    assert int_value("42") == 42 and int_value(" 7 ") == 7
    for raw in BAD[:1] + ["-1", "abc", "1e5", "0x10", "", "１２", "1.5", "1_000", None, "2147483648"]:
        assert int_value(raw, default=None) is None, raw
    assert int_value("0", 1, minimum=1) == 1


def test_no_integer_parsing_of_request_values_outside_webapp_params():
    """The class, not the example: no view parses an integer from the request itself."""
    root = Path(__file__).resolve().parents[1] / "webapp"
    pattern = re.compile(r"int\(\s*request\.|type=int")
    offenders = [f"{path.relative_to(root)}:{n}" for path in root.rglob("*.py")
                 if path.name != "params.py"
                 for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert not offenders, offenders
