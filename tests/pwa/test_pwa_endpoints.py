"""Manifest, service worker, offline page, offline-copy marking and the push endpoints
(without a browser): CSRF, validation and scope."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from webapp.extensions import db

WARD = "E05013806"


def subscription(n: int = 1) -> dict:
    from tests.support.push_service import FakeUserAgent
    return FakeUserAgent(f"https://fcm.googleapis.com/fcm/send/test-{n}").subscription


def devices(user) -> list[str]:
    from webapp.delivery.subscriptions import subscriptions_for
    db.session.expire_all()
    return [s.endpoint for s in subscriptions_for(user)]


# --------------------------------------------------------------------------- app shell
def test_manifest_is_served_with_its_media_type(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    manifest = json.loads(response.data)
    assert manifest["display"] == "standalone" and manifest["scope"] == "/"
    assert {s["url"] for s in manifest["shortcuts"]} == {"/?source=shortcut", "/messages", "/meetings"}


def test_service_worker_is_served_from_the_root_versioned_and_uncached(client, app):
    from webapp.platform.static_assets import static_version
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert response.headers["Cache-Control"] == "no-cache"
    body = response.get_data(as_text=True)
    assert f'const VERSION = "{static_version()}"' in body
    for handler in ("install", "activate", "fetch", "push", "notificationclick", "pushsubscriptionchange"):
        assert f'addEventListener("{handler}"' in body


def test_offline_page_and_fragment(client, htmx_headers):
    page = client.get("/offline")
    assert page.status_code == 200 and b"<html" in page.data and b"You are offline" in page.data
    fragment = client.get("/offline?fragment=1")
    assert b"<html" not in fragment.data and b"You are offline" in fragment.data


def test_base_page_links_manifest_icon_and_pwa_script(client):
    html = client.get("/").get_data(as_text=True)
    assert 'rel="manifest" href="/manifest.webmanifest"' in html
    assert 'rel="apple-touch-icon"' in html
    assert "/static/js/pwa.js?v=" in html


@pytest.mark.parametrize("path, keep", [
    (f"/wards/{WARD}", True), ("/messages", True), ("/settings", False), ("/settings/export", False),
])
def test_only_resident_reading_pages_may_be_kept_offline(client, login, make_resident, path, keep):
    login(client, make_resident())
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers.get("X-Wardline-Offline", "").startswith("keep; owner=") is keep


def test_officer_pages_are_never_marked_for_offline(client, login, make_staff):
    login(client, make_staff("officer", wards=[WARD]))
    for path in ("/staff", "/officer/meetings", f"/wards/{WARD}"):
        response = client.get(path)
        assert response.status_code == 200
        assert "X-Wardline-Offline" not in response.headers


def test_anonymous_pages_are_not_marked(client):
    assert "X-Wardline-Offline" not in client.get(f"/wards/{WARD}").headers


def test_sign_out_tells_the_browser_to_clear_its_cache(client, login, make_resident):
    login(client, make_resident())
    response = client.post("/logout")
    assert response.headers["Clear-Site-Data"] == '"cache"'


# --------------------------------------------------------------------------- push endpoints
def test_push_key_is_the_vapid_public_key(client):
    from webapp.delivery.subscriptions import vapid_public_key
    assert client.get("/push/key").get_json() == {"publicKey": vapid_public_key()}


def test_subscribe_saves_this_device(client, login, make_resident):
    resident = make_resident()
    login(client, resident)
    sub = subscription()
    response = client.post("/push/subscriptions", json=sub, headers={"User-Agent": "Mozilla/5.0 (Linux; Android 14) Chrome/130.0"})
    assert response.status_code == 201
    assert devices(resident) == [sub["endpoint"]]
    assert client.post("/push/subscriptions/check", json={"endpoint": sub["endpoint"]}).get_json() == {"known": True}
    assert client.post("/push/subscriptions/check", json={"endpoint": "https://x/y"}).get_json() == {"known": False}
    page = client.get("/settings").get_data(as_text=True)
    assert "Chrome on Android" in page and "Turn on notifications on this device" in page


def test_subscribe_needs_the_csrf_token(client, login, make_resident):
    resident = make_resident()
    login(client, resident)
    response = client.post("/push/subscriptions", json=subscription(), csrf=False)
    assert response.status_code == 400
    assert devices(resident) == []


def test_subscribe_needs_a_signed_in_user(client):
    response = client.post("/push/subscriptions", json=subscription())
    assert response.status_code in (302, 401)


def test_staff_without_second_factor_cannot_subscribe(client, login, make_staff):
    officer = make_staff("officer", wards=[WARD])
    login(client, officer, mfa=False)
    assert client.post("/push/subscriptions", json=subscription()).status_code == 403


@pytest.mark.parametrize("bad", [
    {}, {"endpoint": "ftp://x"}, {"endpoint": "https://push.example/1"},
    {"endpoint": "https://push.example/1", "keys": {"p256dh": "short", "auth": "x"}},
    ["not", "an", "object"],
])
def test_subscribe_rejects_what_is_not_a_subscription(client, login, make_resident, bad):
    resident = make_resident()
    login(client, resident)
    assert client.post("/push/subscriptions", json=bad).status_code == 400
    assert devices(resident) == []


def test_a_changed_subscription_replaces_the_old_one(client, login, make_resident):
    resident = make_resident()
    login(client, resident)
    old, new = subscription(1), subscription(2)
    client.post("/push/subscriptions", json=old)
    response = client.post("/push/subscriptions", json={**new, "oldEndpoint": old["endpoint"]})
    assert response.status_code == 201
    assert devices(resident) == [new["endpoint"]]


def test_delete_removes_only_my_subscription(client, login, make_resident, app):
    from webapp.delivery.subscriptions import save_subscription
    me, other = make_resident(), make_resident()
    theirs = subscription(9)
    save_subscription(other, theirs)
    db.session.commit()
    login(client, me)
    assert client.delete("/push/subscriptions", json={"endpoint": theirs["endpoint"]}).status_code == 204
    assert devices(other) == [theirs["endpoint"]]
    mine = subscription(3)
    client.post("/push/subscriptions", json=mine)
    assert client.delete("/push/subscriptions", json={"endpoint": mine["endpoint"]},
                         csrf=False).status_code == 400
    assert devices(me) == [mine["endpoint"]]
    assert client.delete("/push/subscriptions", json={"endpoint": mine["endpoint"]}).status_code == 204
    assert devices(me) == []


def test_remove_device_form_works_without_js_and_only_for_my_devices(client, login, make_resident):
    from webapp.delivery.models import PushSubscription
    from webapp.delivery.subscriptions import save_subscription
    me, other = make_resident(), make_resident()
    mine = save_subscription(me, subscription(4))
    theirs = save_subscription(other, subscription(5))
    db.session.commit()
    mine_id, theirs_id = mine.id, theirs.id
    login(client, me)
    assert client.post(f"/push/devices/{theirs_id}/remove").status_code == 404
    assert db.session.get(PushSubscription, theirs_id) is not None
    assert client.post(f"/push/devices/{mine_id}/remove", csrf=False).status_code == 400
    response = client.post(f"/push/devices/{mine_id}/remove")
    assert response.status_code == 303 and response.headers["Location"].endswith("/settings#devices")
    db.session.expire_all()
    assert db.session.scalar(select(PushSubscription).where(PushSubscription.id == mine_id)) is None


def test_text_responses_are_compressed_for_browsers_that_accept_it(client):
    import gzip
    page = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip"
    assert b"Wardline" in gzip.decompress(page.data)
    script = client.get("/static/vendor/htmx-2.0.11.min.js", headers={"Accept-Encoding": "br, gzip"})
    assert script.headers["Content-Encoding"] == "br" and len(script.data) < 20_000
    assert "Content-Encoding" not in client.get("/").headers


def test_a_device_removed_in_settings_is_told_so_and_may_turn_on_again(client, login, make_resident):
    resident = make_resident()
    login(client, resident)
    sub = subscription(7)
    client.post("/push/subscriptions", json=sub)
    from webapp.delivery.subscriptions import subscriptions_for
    [device] = subscriptions_for(resident)
    client.post(f"/push/devices/{device.id}/remove")
    check = client.post("/push/subscriptions/check", json={"endpoint": sub["endpoint"]})
    assert check.get_json() == {"known": False, "removed": True}
    # Another resident's removal says nothing about mine.
    other = make_resident()
    login(client, other)
    assert client.post("/push/subscriptions/check", json={"endpoint": sub["endpoint"]}).get_json() == {"known": False}
    login(client, resident)
    assert client.post("/push/subscriptions", json=sub).status_code == 201
    assert client.post("/push/subscriptions/check", json={"endpoint": sub["endpoint"]}).get_json() == {"known": True}
    client.delete("/push/subscriptions", json={"endpoint": sub["endpoint"]})
    assert client.post("/push/subscriptions/check", json={"endpoint": sub["endpoint"]}).get_json() == {"known": False}


def test_malformed_json_and_nul_bytes_are_a_400_never_a_500(client, login, make_resident):
    """Push endpoints take JSON from scripts anyone can call: broken JSON, wrong types and
    NUL bytes (PostgreSQL refuses them in text) are a 400 or ignored, never a 500."""
    resident = make_resident()
    login(client, resident)
    headers = {"Content-Type": "application/json"}
    for body in ("{", "null", "[]", '"x"', "1", '{"endpoint": 5}', '{"endpoint": {"a": 1}}',
                 '{"endpoint": "https://push.example/a\\u0000b", "keys": {"p256dh": "a", "auth": "b"}}',
                 json.dumps({"endpoint": "https://push.example/" + "a" * 100000})):
        for method, url in (("post", "/push/subscriptions"), ("post", "/push/subscriptions/check"),
                            ("delete", "/push/subscriptions")):
            response = getattr(client, method)(url, data=body, headers=headers)
            assert response.status_code in (200, 400), (method, url, body[:40], response.status_code)
    assert client.delete("/push/subscriptions",
                         json={"endpoint": "https://push.example/a\x00b"}).status_code == 400
    # A NUL in oldEndpoint is ignored; the new subscription is still saved.
    sub = subscription(5)
    response = client.post("/push/subscriptions", json={**sub, "oldEndpoint": "https://x/\x00"})
    assert response.status_code == 201 and devices(resident) == [sub["endpoint"]]
