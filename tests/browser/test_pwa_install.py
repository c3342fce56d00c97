"""Installing Wardline, in headless Chromium: the manifest and its images, Chromium's
installability check, and axe on the app's pages.

Each test gets a fresh browser context (so a fresh service worker and empty caches); the
live server shares the test database, so tests create users with the factories and check
what the server stored.
"""
from __future__ import annotations

import json
import struct

import pytest

from tests.browser.conftest import axe_on, wait_sw_activated
from tests.browser.pwa_support import WARD, start_conversation

pytestmark = pytest.mark.browser


# --------------------------------------------------------------------------- install
def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_manifest_parses_and_its_images_have_the_declared_sizes(page):
    page.goto("/")
    href = page.locator("link[rel=manifest]").get_attribute("href")
    response = page.request.get(href)
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(response.text())
    assert manifest["display"] == "standalone" and manifest["scope"] == "/"
    assert manifest["id"] == "/" and manifest["start_url"].startswith("/")
    assert manifest["name"] and manifest["short_name"] == "Wardline" and manifest["description"]
    assert manifest["theme_color"] and manifest["background_color"]
    assert [s["name"] for s in manifest["shortcuts"]] == ["My ward", "Messages", "Meetings"]
    assert {i["purpose"] for i in manifest["icons"]} == {"any", "maskable"}
    sizes = set()
    for image in manifest["icons"] + manifest["screenshots"]:
        data = page.request.get(image["src"]).body()
        width, height = png_size(data)
        assert image["sizes"] == f"{width}x{height}", image["src"]
        sizes.add(width)
    assert {192, 512} <= sizes
    assert {s["form_factor"] for s in manifest["screenshots"]} == {"narrow", "wide"}
    assert page.locator("link[rel=apple-touch-icon]").count() == 1


def test_chromium_reports_the_app_installable(browser_type, browser_type_launch_args, base_url, tmp_path):
    """``Page.getInstallabilityErrors`` needs a persistent profile (not incognito)."""
    ctx = browser_type.launch_persistent_context(str(tmp_path / "profile"), **browser_type_launch_args)
    try:
        page = ctx.new_page()
        page.goto(base_url + "/")
        wait_sw_activated(page)
        cdp = ctx.new_cdp_session(page)
        assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["url"] == f"{base_url}/manifest.webmanifest" and manifest["errors"] == []
    finally:
        ctx.close()


# --------------------------------------------------------------------------- accessibility


@pytest.mark.parametrize("name", ["landing", "sign-up", "survey", "ward home", "conversation",
                                  "settings", "officer inbox", "offline"])
def test_no_serious_accessibility_violations(browser, base_url, app, make_resident, make_staff, name):
    user, path = None, {"landing": "/", "sign-up": "/signup", "offline": "/offline"}.get(name)
    if name == "survey":
        user, path = make_resident(completed=False), "/survey"
    elif name == "ward home":
        user, path = make_resident(), f"/wards/{WARD}"
    elif name == "conversation":
        user = make_resident()
        path = f"/messages/{start_conversation(user).id}"
    elif name == "settings":
        user, path = make_resident(), "/settings"
    elif name == "officer inbox":
        user, path = make_staff("officer", wards=[WARD]), "/officer/inbox"
    assert axe_on(browser, base_url, app, path, user) == []
