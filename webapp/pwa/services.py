"""What makes Wardline an installable, offline-capable app: the manifest, the service
worker's precache list and the rule for which pages may be kept on the device.

Push subscriptions themselves belong to ``webapp.delivery`` (the only domain that talks to
push services); the views in this package are the HTTP face of those services.
"""
from __future__ import annotations

import hashlib
import hmac
import re

from flask import current_app, url_for
from sqlalchemy import delete, select

from webapp.delivery.models import PushSubscription
from webapp.extensions import db
from webapp.platform.account_data import Gathered, register_account_data
from webapp.platform.static_assets import asset_url
from webapp.pwa.models import RemovedDevice, endpoint_hash

THEME_COLOUR = "#12355b"
BACKGROUND_COLOUR = "#ffffff"

# Resident pages the service worker may keep a copy of, to read offline: the ward home,
# alerts, conversations and meetings. Everything else (officer, admin, settings, export,
# sign-in) is never stored. The service worker applies these very patterns (rendered into
# templates/pwa/sw.js, so write them in the syntax Python and JavaScript share), and also
# requires the ``X-Wardline-Offline`` header, which only resident responses carry.
OFFLINE_PAGE_PATTERN = re.compile(r"^/(wards/[^/]+|alerts(/.*)?|messages(/.*)?|meetings(/.*)?)$")
NEVER_CACHED_PATTERN = re.compile(r"^/(officer|admin|staff|settings|account|login|signup|logout|"
                                  r"survey|push)(/|$)")
OFFLINE_HEADER = "X-Wardline-Offline"

# The page's scripts, in order (templates/base.html loads these; pwa-*.js need the first).
PWA_SCRIPTS = ("js/pwa-register.js", "js/pwa-push.js", "vendor/idb-keyval-6.2.2.umd.js",
               "js/reply-queue.js", "js/pwa-reply-queue.js")
TEST_HOOKS_SCRIPT = "js/pwa-test-hooks.js"  # only with PWA_TEST_HOOKS (test suites)
SHELL_ASSETS = ("css/app.css", "vendor/htmx-2.0.11.min.js", "js/app.js", *PWA_SCRIPTS,
                "img/icon.svg", "img/icon-192.png", "img/badge-96.png")


def pwa_scripts() -> list[str]:
    """The versioned URLs of the page's app scripts (and the test hooks when testing)."""
    names = PWA_SCRIPTS + ((TEST_HOOKS_SCRIPT,) if current_app.config["PWA_TEST_HOOKS"] else ())
    return [asset_url(name) for name in names]


def may_keep_offline(path: str, role: str | None) -> bool:
    """Return True when a copy of the page at ``path`` may be stored on the device.

    Only residents' own reading pages qualify; a page seen by an officer or admin never
    does, whatever its path (they may open a ward home, and it must not linger on a phone).
    """
    return role == "resident" and offline_path(path)


def offline_path(path: str) -> bool:
    """Is ``path`` one of residents' reading pages (whoever asks)? Checked before the role,
    which a page that committed would read from the database again."""
    return bool(OFFLINE_PAGE_PATTERN.match(path)) and not NEVER_CACHED_PATTERN.match(path)


def owner_tag(user_id: int) -> str:
    """An opaque tag for whose pages the device keeps (no user id leaks to the cache)."""
    key = current_app.secret_key.encode() if isinstance(current_app.secret_key, str) \
        else current_app.secret_key
    return hmac.new(key, f"offline-owner:{user_id}".encode(), hashlib.sha256).hexdigest()[:16]


def precache_urls() -> list[str]:
    """The app shell the service worker stores on install (versioned asset URLs)."""
    return [url_for("pwa.offline"), url_for("pwa.offline", fragment=1),
            url_for("pwa.manifest")] + [asset_url(name) for name in SHELL_ASSETS] + \
        [url for url in pwa_scripts() if TEST_HOOKS_SCRIPT in url]


def manifest() -> dict:
    """The Web App Manifest: what the phone shows when Wardline is installed."""
    def icon(name: str, size: int, purpose: str = "any") -> dict:
        return {"src": url_for("static", filename=f"img/{name}"), "sizes": f"{size}x{size}",
                "type": "image/png", "purpose": purpose}

    return {
        "id": "/",
        "name": "Wardline: your neighbourhood police team",
        "short_name": "Wardline",
        "description": ("Updates, messages and meetings with the police team that looks "
                        "after your London ward. Not for reporting crime."),
        "lang": "en-GB",
        "dir": "ltr",
        "start_url": "/?source=app",
        "scope": "/",
        "display": "standalone",
        "orientation": "any",
        "theme_color": THEME_COLOUR,
        "background_color": BACKGROUND_COLOUR,
        "categories": ["news", "social"],
        "icons": [icon("icon-192.png", 192), icon("icon-512.png", 512),
                  icon("icon-maskable-512.png", 512, "maskable")],
        "shortcuts": [
            {"name": "My ward", "short_name": "Ward", "url": "/?source=shortcut",
             "description": "Your ward home: team, alerts and priorities",
             "icons": [icon("icon-192.png", 192)]},
            {"name": "Messages", "url": "/messages",
             "description": "Your conversations with the ward team",
             "icons": [icon("icon-192.png", 192)]},
            {"name": "Meetings", "url": "/meetings",
             "description": "Community meetings near you",
             "icons": [icon("icon-192.png", 192)]},
        ],
        "screenshots": [
            {"src": url_for("static", filename="img/screenshot-narrow.png"),
             "sizes": "540x960", "type": "image/png", "form_factor": "narrow",
             "label": "A ward home on a phone"},
            {"src": url_for("static", filename="img/screenshot-wide.png"),
             "sizes": "1280x720", "type": "image/png", "form_factor": "wide",
             "label": "A ward home on a computer"},
        ],
    }


def forget_removal(user_id: int, endpoint: str) -> None:
    """The resident turned notifications on again with this endpoint: drop its tombstone."""
    db.session.execute(delete(RemovedDevice).where(
        RemovedDevice.endpoint_hash == endpoint_hash(endpoint), RemovedDevice.user_id == user_id))


def record_removal(user_id: int, endpoint: str) -> None:
    """Remember that the resident removed this device in Settings (see :mod:`models`)."""
    forget_removal(user_id, endpoint)
    db.session.add(RemovedDevice(endpoint_hash=endpoint_hash(endpoint), user_id=user_id))


def was_removed(user_id: int, endpoint: str) -> bool:
    """Did the resident remove this device from their account in Settings?"""
    return db.session.scalar(select(RemovedDevice.endpoint_hash).where(
        RemovedDevice.endpoint_hash == endpoint_hash(endpoint),
        RemovedDevice.user_id == user_id)) is not None


def describe_user_agent(user_agent: str | None) -> str:
    """Turn a User-Agent string into "Chrome on Android"-style words for the devices list."""
    ua = user_agent or ""
    browser = next((name for token, name in (("Edg/", "Edge"), ("OPR/", "Opera"),
                                             ("SamsungBrowser", "Samsung Internet"),
                                             ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
                                             ("Chromium/", "Chromium"), ("Safari/", "Safari"))
                    if token in ua), "A browser")
    system = next((name for token, name in (("Android", "Android"), ("iPhone", "iPhone"),
                                            ("iPad", "iPad"), ("Windows", "Windows"),
                                            ("Mac OS X", "Mac"), ("CrOS", "ChromeOS"),
                                            ("Linux", "Linux")) if token in ua), None)
    return f"{browser} on {system}" if system else browser


# --------------------------------------------------------------------------- account data
def _device_parts(user) -> dict:
    """For "Download my data": the devices registered for push, and the hashes of those
    removed in Settings (kept so a removed phone does not re-add itself)."""
    return {"devices": (select(PushSubscription.id, PushSubscription.endpoint,
                               PushSubscription.p256dh, PushSubscription.auth,
                               PushSubscription.user_agent, PushSubscription.created_at,
                               PushSubscription.last_success_at)
                        .where(PushSubscription.user_id == user.id), ("id",)),
            "removed": (select(RemovedDevice.endpoint_hash, RemovedDevice.removed_at)
                        .where(RemovedDevice.user_id == user.id), ())}


def _device_section(user, rows) -> tuple[str, dict]:
    def iso(value):
        return value.isoformat() + "Z" if value else None

    return "push_devices", {
        "devices": [{"endpoint": d["endpoint"], "p256dh": d["p256dh"], "auth": d["auth"],
                     "user_agent": d["user_agent"], "added_at": iso(d["created_at"]),
                     "last_success_at": iso(d["last_success_at"])} for d in rows["devices"]],
        "removed_device_hashes": [{"endpoint_sha256": r["endpoint_hash"],
                                   "removed_at": iso(r["removed_at"])} for r in rows["removed"]],
    }


register_account_data(export=Gathered(_device_parts, _device_section))
