"""URLs for lists: one ``url_for`` per list instead of one per row."""
from __future__ import annotations

from collections.abc import Callable

from flask import current_app, has_request_context, request, url_for

_MARKER = 2147483647  # an id no route is built with but the one we substitute


def url_maker(endpoint: str, name: str, **values) -> Callable[[int], str]:
    """A function of an integer id giving ``url_for(endpoint, **{name: id}, **values)``.

    A list of 50 conversations built 50 URLs with ``url_for`` (about 16 µs each: most of
    the list's rendering, issue 14); this builds one, with a marker id, and puts each id in
    its place. Only for ``<int:...>`` parts: anything else is a TypeError, and a URL where
    the marker does not appear exactly once is built by ``url_for`` each time."""
    url = url_for(endpoint, **{name: _MARKER}, **values)
    head, found, tail = url.partition(str(_MARKER))
    if not found or str(_MARKER) in tail:
        return lambda value: url_for(endpoint, **{name: value}, **values)

    def make(value: int) -> str:
        if type(value) is not int:
            raise TypeError(f"url_maker takes int ids, not {type(value).__name__}")
        return f"{head}{value}{tail}"
    return make


_FIXED_KEY = "wardline.fixed_urls"
FIXED_MAX = 4096


def fixed_url(endpoint: str, **values) -> str:
    """``url_for(endpoint, **values)`` (a path, never ``_external``), kept per app and script
    root: the layout's links (home, navigation, sign out, icons, manifest, privacy) were ten
    ``url_for`` calls on every page, a third of its rendering (issue 14). For URLs that
    depend on nothing but their arguments: not for anything that reads the request."""
    app = current_app._get_current_object()
    kept = app.extensions.setdefault(_FIXED_KEY, {})
    key = (request.script_root if has_request_context() else None, endpoint,
           tuple(sorted(values.items())) if values else ())
    url = kept.get(key)
    if url is None:
        url = url_for(endpoint, **values)
        if len(kept) < FIXED_MAX:
            kept[key] = url
    return url
