"""Generate the PWA icons and install-sheet screenshots once, with Debian's Chromium.

Run by hand when ``static/img/icon.svg`` or the pages change, then commit the PNG files:

    .venv/bin/python bench/make_pwa_images.py icons
    .venv/bin/python bench/serve_demo.py 5077 /tmp/demo.json &   # then, once it serves:
    .venv/bin/python bench/make_pwa_images.py screenshots /tmp/demo.json

Icons: 192 and 512 px from the SVG as drawn (rounded corners, transparent outside), and a
512 px maskable variant: full-bleed brand background with the shield scaled into the
central 80 % "safe zone" so launchers may crop it to any shape.
"""
from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "static" / "img"
CHROMIUM = "/usr/lib/chromium/chromium"


def _svg_body() -> str:
    """The SVG's drawing without the outer rounded square."""
    svg = (IMG / "icon.svg").read_text()
    inner = svg.split(">", 1)[1].rsplit("</svg>", 1)[0]
    return "\n".join(line for line in inner.splitlines() if "<rect" not in line)


def _page_html(svg: str, size: int) -> str:
    return (f"<!doctype html><html><body style='margin:0;background:transparent'>"
            f"<div style='width:{size}px;height:{size}px'>{svg}</div></body></html>")


# Badge (Android status bar): a white silhouette on transparent; only its alpha is used.
BADGE = ("<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 512 512' width='100%' height='100%'>"
         "<path d='M256 40 436 110v126c0 113-76 194-180 226-104-32-180-113-180-226V110z' fill='#fff'/></svg>")


def icons() -> None:
    source = (IMG / "icon.svg").read_text().replace("<svg ", "<svg width='100%' height='100%' ", 1)
    # Maskable: background fills the square; the shield shrinks to 72 % around the centre.
    maskable = ("<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 512 512' width='100%' height='100%'>"
                "<rect width='512' height='512' fill='#12355b'/>"
                f"<g transform='translate(256 256) scale(0.72) translate(-256 -259)'>{_svg_body()}</g></svg>")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        for name, svg, size in (("icon-192.png", source, 192), ("icon-512.png", source, 512),
                                ("icon-maskable-512.png", maskable, 512),
                                ("badge-96.png", BADGE, 96)):
            page = browser.new_page(viewport={"width": size, "height": size})
            page.set_content(_page_html(svg, size))
            page.screenshot(path=str(IMG / name), omit_background=True,
                            clip={"x": 0, "y": 0, "width": size, "height": size})
            page.close()
            print("wrote", IMG / name)
        browser.close()


def screenshots(info_file: str) -> None:
    """Narrow (phone) and wide (desktop) screenshots of a signed-in resident's ward home,
    for the richer install sheet. INFO_FILE comes from ``bench/serve_demo.py``."""
    import json
    info = json.loads(Path(info_file).read_text())
    name, _, value = info["cookie"].partition("=")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        for filename, viewport in (("screenshot-narrow.png", {"width": 540, "height": 960}),
                                   ("screenshot-wide.png", {"width": 1280, "height": 720})):
            ctx = browser.new_context(viewport=viewport, service_workers="block")
            ctx.add_cookies([{"name": name, "value": value, "url": info["base_url"]}])
            page = ctx.new_page()
            page.goto(info["base_url"] + info["ward_home"])
            page.screenshot(path=str(IMG / filename))
            ctx.close()
            print("wrote", IMG / filename)
        browser.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["icons"]:
        icons()
    elif sys.argv[1:2] == ["screenshots"]:
        screenshots(sys.argv[2])
    else:
        sys.exit(__doc__)
