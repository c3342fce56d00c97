"""Integer query and form parameters, parsed in one place.

Every integer a request carries (``?page=``, ``?before=``, ``?ward=``, ``?step=``, a form's
``after``...) goes through :func:`int_arg` / :func:`int_value`: junk, negative or huge
values become the default instead of a ValueError or a database overflow (a 500).
"""
from __future__ import annotations

from flask import request

INT_MAX = 2**31 - 1  # the database's INTEGER; a bigger id or OFFSET would overflow


def int_value(raw, default: int | None = None, *, minimum: int = 0,
              maximum: int = INT_MAX) -> int | None:
    """``raw`` (a string) as an int in ``[minimum, maximum]``, else ``default``. Only plain
    ASCII digits count (no signs, spaces, underscores or other scripts' digits)."""
    if not isinstance(raw, str):
        return default
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        return default
    value = int(raw)
    return value if minimum <= value <= maximum else default


def int_arg(name: str, default: int | None = None, *, minimum: int = 0,
            maximum: int = INT_MAX, source=None) -> int | None:
    """The query parameter ``name`` through :func:`int_value` (``source``: another
    MultiDict, e.g. ``request.form`` or ``request.values``)."""
    values = request.args if source is None else source
    return int_value(values.get(name), default, minimum=minimum, maximum=maximum)


def page_arg(name: str = "page") -> int:
    """A 1-based page number: 1 unless ``?page=`` is a sensible positive number."""
    return int_arg(name, 1, minimum=1) or 1
