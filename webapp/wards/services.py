"""Loading London's wards, finding a ward by name or location, and the ward queries."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from shapely.geometry import shape
from sqlalchemy import bindparam, delete, func, or_, select
from sqlalchemy.orm import selectinload, undefer

from webapp.extensions import db
from webapp.platform.pagecache import generations, watch
from webapp.wards import postcodes  # (a cycle: postcodes uses the locator)
from webapp.wards.geo import Suggestion, WardLocator, find_neighbours, svg_for
from webapp.wards.models import Borough, Ward, WardNeighbour
from webapp.wards.models import TeamMember, TeamWard

DATA_FILE = Path(__file__).resolve().parents[2] / "data" / "london-wards.geojson"
SEARCH_LIMIT = 20


def load_wards(path: Path | str = DATA_FILE) -> dict[str, int]:
    """Insert or update every borough and ward from a GeoJSON file, then recompute
    neighbours. Idempotent: a second run changes nothing. Commits; returns counts."""
    features = json.loads(Path(path).read_text())["features"]
    boroughs = {b.code: b for b in db.session.scalars(select(Borough))}
    wards = {w.code: w for w in db.session.scalars(select(Ward))}
    geometries = []
    for feature in features:
        props = feature["properties"]
        borough = boroughs.get(props["borough_code"])
        if borough is None:
            borough = Borough(code=props["borough_code"], name=props["borough_name"])
            db.session.add(borough)
            boroughs[borough.code] = borough
        borough.name = props["borough_name"]
        geom = shape(feature["geometry"])
        path_d, viewbox = svg_for(geom)
        ward = wards.get(props["ward_code"])
        if ward is None:
            ward = Ward(code=props["ward_code"])
            db.session.add(ward)
            wards[ward.code] = ward
        ward.name = props["ward_name"]
        ward.borough = borough
        ward.geometry = json.dumps(feature["geometry"], separators=(",", ":"))
        ward.svg_path, ward.svg_viewbox = path_d, viewbox
        geometries.append((ward, geom))
    db.session.flush()
    pairs = find_neighbours([g for _, g in geometries])
    db.session.execute(delete(WardNeighbour))
    if pairs:
        db.session.execute(WardNeighbour.__table__.insert(), [
            {"ward_id": geometries[i][0].id, "neighbour_id": geometries[j][0].id}
            for i, j in sorted(pairs)])
    db.session.commit()
    reset_locator()
    return {"boroughs": len(boroughs), "wards": len(geometries), "neighbour_links": len(pairs)}


_WARD_BY_CODE = select(Ward).where(Ward.code == bindparam("code"))


def get_ward(code: str, *options, covered_by=None) -> Ward | None:
    """Return the ward with ONS ``code`` (case-insensitive), or None; ``options``: loader
    options (what the page shows of it); ``covered_by``: None too unless that user covers
    it (:func:`covered_ward_ids`, in the same statement)."""
    # ONS codes are 9 ASCII letters and digits; anything else (a NUL byte in the URL, which
    # PostgreSQL refuses in a query) cannot be a ward.
    if not code or len(code) > 9 or not (code.isascii() and code.isalnum()):
        return None
    if covered_by is None and not options:
        return db.session.scalar(_WARD_BY_CODE, {"code": code.upper()})  # built once
    stmt = select(Ward).where(Ward.code == code.upper()).options(*options)
    if covered_by is not None:
        stmt = stmt.where(Ward.id.in_(covered_ward_ids(covered_by)))
    return db.session.scalar(stmt)


_WARD_WITH_OUTLINE = select(Ward).where(Ward.code == bindparam("code")).options(
    undefer(Ward.svg_path))


def get_ward_with_outline(code: str) -> Ward | None:
    """:func:`get_ward` with its outline (the ward home), from a statement built once."""
    if not code or len(code) > 9 or not (code.isascii() and code.isalnum()):
        return None
    return db.session.scalar(_WARD_WITH_OUTLINE, {"code": code.upper()})


def neighbours_of(ward: Ward) -> list[Ward]:
    """``ward.neighbours`` (A–Z, with their boroughs) in one query of its own: the ward
    home asks for them only when it renders its cached sections again, instead of loading
    them with the ward on every view."""
    return list(db.session.scalars(
        select(Ward).join(WardNeighbour, WardNeighbour.neighbour_id == Ward.id)
        .where(WardNeighbour.ward_id == ward.id).order_by(Ward.name)))


def search_wards(query: str, limit: int = SEARCH_LIMIT) -> list[Ward]:
    """Wards whose name, or whose borough's name, contains ``query`` (case-insensitive).

    Ward-name matches come first, then names that start with the query, then A–Z.
    """
    query = " ".join((query or "").split())[:80]
    if len(query) < 2:
        return []
    escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    ward_hit = func.lower(Ward.name).like(pattern, escape="\\")
    borough_hit = func.lower(Borough.name).like(pattern, escape="\\")
    starts = func.lower(Ward.name).like(f"{escaped}%", escape="\\")
    stmt = (select(Ward).join(Borough).where(or_(ward_hit, borough_hit))
            .order_by(ward_hit.desc(), starts.desc(), Ward.name, Borough.name).limit(limit))
    return list(db.session.scalars(stmt))


class BoroughItem(NamedTuple):
    id: int
    code: str
    name: str


_boroughs: tuple[BoroughItem, ...] | None = None
# Reference data kept per process (the boroughs, the locator's wards) is read again when
# the page cache's generation of its table changed, checked at most every
# REFERENCE_CHECK_SECONDS (so a page pays no query for it): `flask wards load` in one
# process is seen by every running web process within that time, with no restart.
_REFERENCE_TABLES = watch("boroughs", "wards")
REFERENCE_CHECK_SECONDS = 10.0
_stamps: dict[str, tuple[int, float]] = {}  # table: (generation, when checked)


def _fresh(table: str) -> bool:
    """Whether what this process read of ``table`` is still current (caller holds the lock)."""
    now = time.monotonic()
    generation, checked = _stamps.get(table, (None, float("-inf")))
    if now - checked < REFERENCE_CHECK_SECONDS:
        return True
    current = generations().get(table, 0)
    _stamps[table] = (current, now)
    return generation == current


def list_boroughs() -> list[BoroughItem]:
    """The boroughs A–Z (id, code, name): reference data, read once per process like the
    locator's wards, and again after the wards are reloaded (in any process)."""
    global _boroughs
    with _locator_lock:
        if not _fresh("boroughs") or _boroughs is None:
            _boroughs = tuple(BoroughItem(*row) for row in db.session.execute(
                select(Borough.id, Borough.code, Borough.name).order_by(Borough.name)))
        return list(_boroughs)


def wards_in_borough(borough_code: str) -> list[Ward]:
    """The wards of the borough with ONS ``borough_code``, A–Z (none for a malformed code)."""
    borough_code = borough_code or ""
    if not (borough_code.isascii() and borough_code.isalnum()):
        return []
    stmt = (select(Ward).join(Borough).where(Borough.code == (borough_code or "").upper())
            .order_by(Ward.name))
    return list(db.session.scalars(stmt))


_locator: WardLocator | None = None
_locator_lock = threading.Lock()


def reset_locator() -> None:
    """Forget the cached STRtree and boroughs (after the wards were reloaded)."""
    global _locator, _boroughs
    with _locator_lock:
        _locator = _boroughs = None
        _stamps.clear()


def locator() -> WardLocator:
    """Return the process-wide :class:`WardLocator`, built from the database on first use."""
    global _locator
    with _locator_lock:
        if not _fresh("wards") or _locator is None:
            rows = db.session.execute(select(Ward.code, Ward.geometry)).all()
            _locator = WardLocator.from_geojson([(code, geo) for code, geo in rows])
        return _locator


def suggest_ward(lat: float, lon: float) -> tuple[Suggestion, Ward | None]:
    """Suggest a ward for a location; see :meth:`WardLocator.locate`."""
    suggestion = locator().locate(lat, lon)
    ward = get_ward(suggestion.ward_code, selectinload(Ward.neighbours)) \
        if suggestion.ward_code else None  # with the neighbours the page offers instead
    return suggestion, ward


# --------------------------------------------------------------------------- officer scope
def covered_ward_ids(user):
    """A SELECT of the ward ids ``user`` may act on: the wards of their teams; admins: all.

    Use it inside queries (``Model.ward_id.in_(covered_ward_ids(user))``) so every officer
    query is scoped in one place. Residents and visitors cover nothing.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return select(Ward.id).where(False)
    if user.role == "admin":
        return select(Ward.id)
    if user.role != "officer":
        return select(Ward.id).where(False)
    return (select(TeamWard.ward_id).join(TeamMember, TeamMember.team_id == TeamWard.team_id)
            .where(TeamMember.user_id == user.id).distinct())


@dataclass(frozen=True)
class Officer:
    """What :func:`covered_ward_ids` (and the scopes built on it) read of a signed-in
    officer: for statements built once per officer and kept (their SQL, never results)."""
    id: int
    role: str = "officer"
    is_authenticated: bool = True


def is_officer(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) \
        and user.role == "officer"


def covers_ward(user, ward_id: int) -> bool:
    """True if ``user`` may act on ward ``ward_id``."""
    return db.session.scalar(select(func.count()).where(
        Ward.id == ward_id, Ward.id.in_(covered_ward_ids(user)))) > 0


_COVERED_WARDS = (select(Ward).join(Borough).where(Ward.id.in_(
    select(TeamWard.ward_id).join(TeamMember, TeamMember.team_id == TeamWard.team_id)
    .where(TeamMember.user_id == bindparam("user_id")).distinct()))
    .order_by(Borough.name, Ward.name))


def covered_wards(user) -> list[Ward]:
    """The wards ``user`` covers, by borough then name."""
    if is_officer(user):
        # Built once (an officer's inbox and tools list them on every page).
        return list(db.session.scalars(_COVERED_WARDS, {"user_id": user.id}))
    stmt = (select(Ward).join(Borough).where(Ward.id.in_(covered_ward_ids(user)))
            .order_by(Borough.name, Ward.name))
    return list(db.session.scalars(stmt))




# --------------------------------------------------------------------------- finder, ward home
def finder_search(query: str):
    """``(wards matching a name, PostcodeAnswer)`` for the finder's search box: a
    postcode-shaped query gets a :class:`~webapp.wards.postcodes.PostcodeAnswer` (and no
    name results), anything else the wards whose name matches. ``(None, None)`` when empty."""
    if not (query or "").strip():
        return None, None
    answer = postcodes.lookup(query)
    if answer is not None:
        return None, answer
    return search_wards(query), None


def finder_results(query: str, borough_code: str):
    """Results for the ward finder's plain forms: ``(search results, wards of the borough,
    postcode answer)``.

    Each is None when that part was not asked for (so the page can tell "no results" from
    "no search yet").
    """
    results, answer = finder_search(query)
    borough_wards = wards_in_borough(borough_code) if borough_code else None
    return results, borough_wards, answer
