"""Cache-busting URLs for static files, and the hash that versions the service worker."""
from __future__ import annotations

import hashlib
import time
from functools import lru_cache
from pathlib import Path

from flask import current_app, has_request_context, request, url_for


@lru_cache(maxsize=None)
def _file_hash(path: str, mtime: float) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:10]


#: How long a file's hash is trusted before its modification time is looked at again: a
#: page names about eight assets, and resolving and stat-ing each on every request was a
#: good part of a page's time (issue 14). An edited file gets its new URL within a second.
RECHECK_SECONDS = 1.0
_checked: dict[tuple[str, str], tuple[float, str | None]] = {}


def asset_version(filename: str) -> str | None:
    """The content hash of static file ``filename`` (its ``?v=``), or None if there is none."""
    key = (current_app.static_folder, filename)
    now = time.monotonic()
    known = _checked.get(key)
    if known is not None and now - known[0] < RECHECK_SECONDS:
        return known[1]
    root = Path(current_app.static_folder).resolve()
    path = (root / filename).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        version = None
    else:
        version = _file_hash(str(path), path.stat().st_mtime)
    if len(_checked) < 4096:  # names come from requests too (?v= checks): keep it bounded
        _checked[key] = (now, version)
    return version


_urls: dict[tuple, tuple[float, str]] = {}


def asset_url(filename: str) -> str:
    """Return ``/static/<filename>?v=<content hash>`` so changed files are never stale.
    Each URL is kept for ``RECHECK_SECONDS`` (per static folder and script root): building
    it with ``url_for`` for the eight assets of every page cost more than the rest of the
    layout's links. The key is made of the app's raw folder settings (``static_folder``
    and ``static_url_path`` are properties that join paths on each read: they were most
    of the cost of a kept URL)."""
    app = current_app._get_current_object()
    key = (app.root_path, app._static_folder, app._static_url_path,
           request.script_root if has_request_context() else None, filename)
    now = time.monotonic()
    known = _urls.get(key)
    if known is not None and now - known[0] < RECHECK_SECONDS:
        return known[1]
    version = asset_version(filename)
    if version is None:
        url = url_for("static", filename=filename)
    else:
        url = url_for("static", filename=filename, v=version)
    if len(_urls) < 4096:
        _urls[key] = (now, url)
    return url


def static_version() -> str:
    """Return one hash over every static file: it changes whenever any asset changes."""
    root = Path(current_app.static_folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(_file_hash(str(path), path.stat().st_mtime).encode())
    return digest.hexdigest()[:12]
