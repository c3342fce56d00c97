"""Issue 13 point 19: Settings has section links with "Notifications on this device" near
the top; the data export is also a readable HTML page holding what the file holds."""
from __future__ import annotations

import html as html_lib
import json
import re

from tests.support.world import MESSAGE, RESIDENT_EMAIL, RESIDENT_NAME, build_world


def test_settings_puts_notifications_near_the_top_with_section_links(client, login, make_resident):
    login(client, make_resident())
    html = client.get("/settings").get_data(as_text=True)
    assert '<a href="#notifications">Notifications</a>' in html
    top = html.index('id="notifications"')
    assert top < html.index('id="name"') < html.index('id="wards"')
    assert html.count("Notifications on this device") == 1
    for anchor in re.findall(r'<li><a href="#([a-z-]+)">', html[html.index('aria-label="Settings sections"'):]):
        assert f'id="{anchor}"' in html


def test_export_page_is_readable_and_holds_what_the_file_holds(client, login, make_resident,
                                                               make_staff):
    world = build_world(make_resident, make_staff)
    login(client, world.resident)
    page = client.get("/settings/export/page")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    text = html_lib.unescape(page.get_data(as_text=True))
    for needle in (RESIDENT_EMAIL, RESIDENT_NAME, MESSAGE, "Survey completed at"):
        assert needle in text
    data = client.get("/settings/export").get_json()
    for key in data:
        assert f'id="data-{key}"' in text
    # Every string value of the file appears on the page.
    def strings(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from strings(v)
        elif isinstance(value, list):
            for v in value:
                yield from strings(v)
        elif isinstance(value, str) and value:
            yield value
    missing = [s for s in strings(data) if s not in text]
    assert missing == []
    assert 'href="/settings/export/page"' in client.get("/settings").get_data(as_text=True)
    assert json.dumps(data)  # the file is unchanged JSON
