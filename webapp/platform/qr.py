"""QR codes as inline SVG markup (segno): no script and no style attribute, so the strict CSP
allows them; a viewBox and no fixed size, so CSS scales them (``svg.qr``, ``.qr-line``)."""
from __future__ import annotations

import io

import segno
from markupsafe import Markup


def qr_svg(data: str, title: str) -> Markup:
    """The QR code of ``data`` (error correction M, the 4-module quiet zone on white)."""
    out = io.BytesIO()
    segno.make(data, error="m").save(out, kind="svg", xmldecl=False, svgns=True, nl=False,
                                     omitsize=True, scale=4, border=4, light="#fff",
                                     svgclass="qr", lineclass="qr-line", title=title)
    return Markup(out.getvalue().decode())
