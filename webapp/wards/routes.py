"""Views of the wards domain: the ward finder (name search, borough then ward, location)
and the public ward home page."""
from __future__ import annotations

import math

from flask import abort, redirect, request, url_for
from flask_login import current_user

from webapp.platform.htmx import render
from webapp.platform.pagecache import watch
from webapp.platform.pagestore import for_each_session, for_visitors
from webapp.wards import bp
from webapp.wards.services import (finder_results, finder_search, get_ward_with_outline,
                                   list_boroughs, neighbours_of, suggest_ward,
                                   wards_in_borough)
from webapp.wards.forms import WardPickForm

# What the ward home's sections (added by the domains above, templates/wards/_sections.html)
# are computed from: they are rendered once per ward and kind of viewer, and again as soon
# as one of these tables changes (webapp.platform.pagecache).
WARD_HOME_TABLES = watch(
    "concerns", "users", "teams", "team_wards", "team_members", "priorities",
    "priority_topics", "priority_actions", "ward_posts", "meetings", "meeting_wards", "alerts",
    "alert_wards", "rumours", "rumour_verdicts", "incidents", "wards", "ward_neighbours")

# Where a finder's choices go: nowhere (visitors follow links to ward pages), or the
# resident's survey or settings (each choice is a POST that saves it).
PICK_MODES = ("survey", "settings")


def _pick_context() -> dict:
    """Finder context shared by the fragments: whether results are links or choices."""
    pick = request.args.get("pick")
    pick = pick if pick in PICK_MODES else None
    return {"pick": pick, "pick_form": WardPickForm(formdata=None)}


@bp.get("/wards")
def finder():
    """Find a ward by name, by borough or by location (usable by visitors, no JS needed)."""
    query = (request.args.get("q") or "")[:80]
    borough = (request.args.get("borough") or "")[:9]
    results, borough_wards, answer = finder_results(query, borough)
    return render("wards/finder.html", None, pick=None, q=query, borough_code=borough.upper(),
                  boroughs=list_boroughs(), results=results, borough_wards=borough_wards,
                  answer=answer)


@bp.get("/wards/search")
def search():
    """Active search: a postcode's ward, or wards whose name or borough contains ``q``
    (fragment for htmx)."""
    query = (request.args.get("q") or "")[:80]
    ctx = _pick_context()
    results, answer = finder_search(query)
    return render("wards/search.html", "wards/_results.html", q=query, results=results,
                  answer=answer, **ctx)


@bp.get("/wards/borough")
def borough():
    """Borough then ward: the wards of the chosen borough (fragment for htmx)."""
    code = (request.args.get("borough") or "")[:9].upper()
    ctx = _pick_context()
    return render("wards/borough.html", "wards/_borough_wards.html", borough_code=code,
                  borough_wards=wards_in_borough(code) if code else None,
                  boroughs=list_boroughs(), **ctx)


def _coordinate(name: str, low: float, high: float) -> float | None:
    try:
        value = float(request.args.get(name, ""))
    except ValueError:
        return None
    return value if math.isfinite(value) and low <= value <= high else None


@bp.get("/wards/locate")
def locate():
    """Suggest a ward for the browser's location: the ward to confirm and its neighbours
    to pick instead (outlines are generalised, so a location only suggests)."""
    lat, lon = _coordinate("lat", -90, 90), _coordinate("lon", -180, 180)
    ctx = _pick_context()
    if lat is None or lon is None:
        return render("wards/locate.html", "wards/_suggestion.html", status=422,
                      location_error="We couldn't read that location. Search by name instead.",
                      suggestion=None, ward=None, **ctx)
    suggestion, ward = suggest_ward(lat, lon)
    return render("wards/locate.html", "wards/_suggestion.html", suggestion=suggestion,
                  ward=ward, location_error=None, **ctx)


# The whole page's: its sections' and the rest of it (a visitor's and a resident's alike).
WARD_PAGE_TABLES = (*WARD_HOME_TABLES, "boroughs", "conversations", "conversation_topics")


@bp.get("/wards/<code>")
@for_visitors(*WARD_PAGE_TABLES)
@for_each_session(*WARD_PAGE_TABLES)
def ward_home(code: str):
    """A ward's public home page: its outline, neighbours and what residents care about."""
    ward = get_ward_with_outline(code)
    if ward is None:
        abort(404)
    if code != ward.code:
        return redirect(url_for("wards.ward_home", code=ward.code), 301)
    return render("wards/home.html", None, ward=ward, section_tables=WARD_HOME_TABLES,
                  viewer=_viewer(ward), neighbours_of=neighbours_of)


def _viewer(ward) -> tuple | None:
    """Who sees the ward home's sections the same way: visitors, residents who follow the
    ward, residents who don't; None (not cached) for staff, who see their own tools."""
    if not current_user.is_authenticated:
        return ("visitor",)
    if current_user.is_resident:
        return ("resident", ward in current_user.ward_list)
    return None
