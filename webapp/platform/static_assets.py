"""Cache-busting URLs for static files, and the hash that versions the service worker."""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from flask import current_app, url_for


@lru_cache(maxsize=None)
def _file_hash(path: str, mtime: float) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:10]


def asset_version(filename: str) -> str | None:
    """The content hash of static file ``filename`` (its ``?v=``), or None if there is none."""
    root = Path(current_app.static_folder).resolve()
    path = (root / filename).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return _file_hash(str(path), path.stat().st_mtime)


def asset_url(filename: str) -> str:
    """Return ``/static/<filename>?v=<content hash>`` so changed files are never stale."""
    version = asset_version(filename)
    if version is None:
        return url_for("static", filename=filename)
    return url_for("static", filename=filename, v=version)


def static_version() -> str:
    """Return one hash over every static file: it changes whenever any asset changes."""
    root = Path(current_app.static_folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(_file_hash(str(path), path.stat().st_mtime).encode())
    return digest.hexdigest()[:12]
