"""In Chromium, under the strict CSP: a page's htmx requests send the page's request id
(X-Parent-Request-ID, from <body hx-headers>), which every response returns as X-Request-ID."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_htmx_requests_carry_the_page_request_id(browser, base_url):
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    try:
        sent = []
        page.on("request", lambda r: sent.append(r.headers) if "hx-request" in r.headers else None)
        response = page.goto("/wards")
        page_id = response.headers["x-request-id"]
        with page.expect_response(lambda r: "/wards" in r.url and
                                  r.request.headers.get("hx-request") == "true") as answer:
            page.get_by_label("Search by postcode, ward or borough name").fill("vauxh")
        assert answer.value.headers["x-request-id"] != page_id
        assert sent and all(h.get("x-parent-request-id") == page_id for h in sent)
    finally:
        context.close()
