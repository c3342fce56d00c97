"""axe-core passes on every page: the same page list as the HTML validator
(``tests/pages.py``), each seen by the role it is for (visitor, resident, officer, admin,
staff signing in), on a phone-sized screen, where wide tables scroll. Every violation of
the WCAG 2.2 A/AA rules counts, whatever its impact."""
from __future__ import annotations

import pytest

from tests.browser.conftest import run_axe
from tests.pages import PAGES, build_world
from webapp.platform.db import write_transaction

pytestmark = pytest.mark.browser

WHOLE_PAGES = [page for page in PAGES if not page.fragment]  # fragments are parts of these
PHONE = {"width": 360, "height": 740}


@pytest.mark.parametrize("page_spec", WHOLE_PAGES, ids=[p.id for p in WHOLE_PAGES])
def test_axe_passes(page_spec, browser, base_url, app, make_resident, make_staff):
    # The live server may still be finishing the previous test's requests: the world is
    # written as the app writes (IMMEDIATE), not by the test thread's DEFERRED reads.
    with write_transaction():
        world = build_world(make_resident, make_staff)
    # bypass_csp lets the axe script in; the pages run under the real CSP in other tests.
    ctx = browser.new_context(base_url=base_url, bypass_csp=True, viewport=PHONE)
    try:
        session = world.session_for(page_spec.role)
        if session:
            value = app.session_interface.get_signing_serializer(app).dumps(session)
            ctx.add_cookies([{"name": app.config.get("SESSION_COOKIE_NAME", "session"),
                              "value": value, "url": base_url}])
        page = ctx.new_page()
        response = page.goto(page_spec.url(world))
        assert response.status == page_spec.status, (response.status, page.url)
        assert run_axe(page, impacts=("minor", "moderate", "serious", "critical")) == []
    finally:
        ctx.close()
