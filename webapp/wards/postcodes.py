"""Postcode search: loading London's rows of the ONS Postcode Directory, and answering
"which ward is this postcode (or outward code) in?" from that table, or from a
postcodes.io-compatible API (``POSTCODES_API_URL``) when the table has no row.

ONSPD and NSPL name their columns differently over the years: ``pcds`` (or ``pcd``/``pcd7``)
for the postcode, ``osward`` (ONSPD), ``ward`` (NSPL) or ``wdYYcd`` for the ward, ``oslaua``,
``laua`` or ``ladYYcd`` for the local authority, ``doterm`` for a terminated postcode, and
``lat``/``long``. Rows are kept when their ward is one of the loaded wards (the December 2023
London wards), or, for a ward code of another vintage, when the row is in a London borough
(``E09…``) and its centroid falls in (or within a few metres of) a loaded ward.
"""
from __future__ import annotations

import csv
import io
import math
import re
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import requests
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from webapp.extensions import db
from webapp.wards import services as ward_services  # (a cycle: services.finder_search uses lookup)
from webapp.wards.models import Borough, Postcode, Ward

FULL_RE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$")
OUTWARD_RE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")
# Something a person meant as a postcode: letters then a digit, short, no spaces inside words.
LOOKS_LIKE_RE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9 ]{0,6}$")
#: A postcode this close to another ward's outline is "on a boundary" (outlines are
#: generalised to about 200 m, so the ward given may be the neighbour).
BOUNDARY_METRES = 100
BATCH = 2000
NO_GRID = 99.0  # ONSPD gives lat 99.999999 to postcodes without a grid reference


def normalise(text: str) -> str:
    """Upper case, letters and digits only: " sw1a 2aa " → "SW1A2AA"."""
    return re.sub(r"[^A-Z0-9]", "", (text or "").upper())


def format_postcode(compact: str) -> str:
    """"SW1A2AA" → "SW1A 2AA" (the inward code is always the last three characters)."""
    return f"{compact[:-3]} {compact[-3:]}"


def classify(query: str) -> tuple[str, str | None]:
    """``("full", "SW1A 2AA")``, ``("outward", "SE24")``, ``("malformed", None)`` for text
    that looks like a postcode but is not one, or ``("name", None)``."""
    text = " ".join((query or "").upper().split())
    compact = normalise(text)
    if FULL_RE.match(compact) and len(text) <= 9:
        return "full", format_postcode(compact)
    if OUTWARD_RE.match(compact) and " " not in text:
        return "outward", compact
    if text and LOOKS_LIKE_RE.match(text) and any(c.isdigit() for c in text):
        return "malformed", None
    return "name", None


# --------------------------------------------------------------------------- loading
_POSTCODE_COLUMNS = ("pcds", "pcd", "pcd7", "pcd8", "pcd2")
_WARD_COLUMNS = ("osward", "ward")
_LA_COLUMNS = ("oslaua", "laua")
_WARD_VINTAGE = re.compile(r"^wd\d\dcd$")
_LA_VINTAGE = re.compile(r"^lad\d\dcd$")


def _column(header: list[str], names: tuple[str, ...], pattern: re.Pattern | None = None) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    if pattern is not None:
        hits = [i for i, h in enumerate(lowered) if pattern.match(h)]
        if hits:  # the newest vintage if several
            return max(hits, key=lambda i: lowered[i])
    return None


class _CountingReader(io.RawIOBase):
    """A binary stream that counts the bytes read through it (for the progress bar)."""

    def __init__(self, raw, on_read):
        self.raw, self.on_read = raw, on_read

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.raw.read(len(buffer))
        buffer[:len(data)] = data
        self.on_read(len(data))
        return len(data)


def _pick_member(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    """The whole-UK CSV of an ONSPD/NSPL zip (``Data/ONSPD_…_UK.csv``), not the per-area
    ``multi_csv`` files or the lookup tables in ``Documents/``."""
    csvs = [m for m in archive.infolist() if m.filename.lower().endswith(".csv")
            and "multi_csv" not in m.filename.lower() and "documents/" not in m.filename.lower()]
    if not csvs:
        raise ValueError("No postcode CSV in that zip file (expected Data/ONSPD_…_UK.csv).")
    return max(csvs, key=lambda m: m.file_size)


@dataclass
class LoadReport:
    kept: int = 0
    skipped: int = 0
    reasons: dict = field(default_factory=dict)

    def skip(self, reason: str):
        self.skipped += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


def open_directory(path: Path | str):
    """Return ``(binary stream, size in bytes)`` of the CSV in ``path`` (a .csv or the zip)."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        archive = zipfile.ZipFile(path)
        member = _pick_member(archive)
        return archive.open(member), member.file_size
    return open(path, "rb"), path.stat().st_size


def load_postcodes(path: Path | str, progress=None) -> LoadReport:
    """Stream the ONSPD/NSPL file at ``path`` (CSV or zip) and upsert London's live
    postcodes in batches, committing each. Memory stays flat whatever the file's size;
    ``progress(n_bytes)`` is called as the file is read. Safe to run again."""
    stream, _size = open_directory(path)
    counted = _CountingReader(stream, progress or (lambda n: None))
    text = io.TextIOWrapper(io.BufferedReader(counted, 1 << 16), encoding="utf-8-sig",
                            newline="")
    reader = csv.reader(text)
    header = next(reader, None)
    if not header:
        raise ValueError("That file is empty.")
    pc_i = _column(header, _POSTCODE_COLUMNS)
    ward_i = _column(header, _WARD_COLUMNS, _WARD_VINTAGE)
    la_i = _column(header, _LA_COLUMNS, _LA_VINTAGE)
    term_i = _column(header, ("doterm",))
    lat_i, lon_i = _column(header, ("lat",)), _column(header, ("long", "lon"))
    if pc_i is None or ward_i is None:
        raise ValueError("That file has no postcode (pcds) or ward (osward/ward) column: "
                         "is it the ONS Postcode Directory?")
    wards = dict(db.session.execute(select(Ward.code, Ward.id)).all())
    if not wards:
        raise ValueError("Load the wards first: flask wards load")
    report = LoadReport()
    batch: list[dict] = []
    width = max(i for i in (pc_i, ward_i, la_i, term_i, lat_i, lon_i) if i is not None) + 1
    for row in reader:
        if len(row) < width:
            report.skip("short row")
            continue
        compact = normalise(row[pc_i])
        if not FULL_RE.match(compact):
            report.skip("not a postcode")
            continue
        if term_i is not None and row[term_i].strip():
            report.skip("terminated")
            continue
        lat = lon = None
        if lat_i is not None and lon_i is not None:
            try:
                lat, lon = float(row[lat_i]), float(row[lon_i])
            except ValueError:
                lat = lon = None
            if lat is not None and (not math.isfinite(lat) or abs(lat) >= NO_GRID):
                lat = lon = None
        ward_id = wards.get(row[ward_i].strip().upper())
        if ward_id is None:
            la = row[la_i].strip().upper() if la_i is not None else ""
            if not la.startswith("E09") or lat is None:
                report.skip("outside London")
                continue
            # A London postcode whose ward code is of another vintage: place it by its centroid.
            suggestion = ward_services.locator().locate(lat, lon)
            ward_id = wards.get(suggestion.ward_code) if suggestion.ward_code and \
                suggestion.distance_m < 50 else None
            if ward_id is None:
                report.skip("no matching ward")
                continue
        batch.append({"postcode": format_postcode(compact), "outward": compact[:-3],
                      "ward_id": ward_id, "lat": lat, "lon": lon})
        report.kept += 1
        if len(batch) >= BATCH:
            _upsert(batch)
            batch = []
    if batch:
        _upsert(batch)
    text.close()
    return report


def _upsert(rows: list[dict]) -> None:
    """Insert or update one batch of postcodes (PostgreSQL and SQLite both have ON CONFLICT)."""
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    # One row per postcode within a batch (ON CONFLICT cannot touch a row twice).
    rows = list({r["postcode"]: r for r in rows}.values())
    stmt = insert(Postcode).values(rows)
    stmt = stmt.on_conflict_do_update(index_elements=[Postcode.postcode], set_={
        "outward": stmt.excluded.outward, "ward_id": stmt.excluded.ward_id,
        "lat": stmt.excluded.lat, "lon": stmt.excluded.lon})
    db.session.execute(stmt)
    db.session.commit()


# --------------------------------------------------------------------------- the API
class LookupFailed(Exception):
    """The postcode API did not answer in time, or answered nonsense."""


_cache: dict[str, tuple[float, object]] = {}
_cache_lock = threading.Lock()
CACHE_MAX = 10_000


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _api_get(path: str):
    """GET ``POSTCODES_API_URL`` + ``path``: the ``result`` (None for a 404), cached for
    ``POSTCODES_API_CACHE_SECONDS``. Raises :class:`LookupFailed` (never cached)."""
    base = (current_app.config["POSTCODES_API_URL"] or "").rstrip("/")
    ttl = current_app.config["POSTCODES_API_CACHE_SECONDS"]
    key = base + path
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit and hit[0] > now:
            return hit[1]
    try:
        response = requests.get(base + path, timeout=current_app.config[
            "POSTCODES_API_TIMEOUT"], headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise LookupFailed(str(exc)) from exc
    if response.status_code == 404:
        result = None
    elif response.status_code == 200:
        try:
            result = response.json().get("result")
        except ValueError as exc:
            raise LookupFailed("not JSON") from exc
    else:
        raise LookupFailed(f"HTTP {response.status_code}")
    with _cache_lock:
        if len(_cache) >= CACHE_MAX:
            _cache.clear()
        _cache[key] = (now + ttl, result)
    return result


def _api_configured() -> bool:
    return bool(current_app.config["POSTCODES_API_URL"])


# --------------------------------------------------------------------------- answers
@dataclass
class PostcodeAnswer:
    """What the finder says about a postcode-shaped query.

    ``kind``: "found" (``ward``, maybe ``nearby`` wards within :data:`BOUNDARY_METRES`),
    "outward" (``wards`` it touches), "not_found", "outside" (a real postcode, not in
    London), "malformed", "unavailable" (no data on this server), "failed" (the API did not
    answer)."""

    kind: str
    query: str
    postcode: str | None = None
    ward: Ward | None = None
    nearby: list = field(default_factory=list)
    wards: list = field(default_factory=list)


def postcode_data_loaded() -> bool:
    return db.session.scalar(select(Postcode.postcode).limit(1)) is not None


def _wards_by_ids(ids) -> list[Ward]:
    if not ids:
        return []
    return list(db.session.scalars(select(Ward).join(Borough).where(Ward.id.in_(ids))
                                   .order_by(Ward.name, Borough.name)))


def _near_boundary(ward: Ward, lat: float | None, lon: float | None) -> list[Ward]:
    if lat is None or lon is None:
        return []
    codes = ward_services.locator().within(lat, lon, BOUNDARY_METRES)
    return [w for w in (ward_services.get_ward(c) for c in codes if c != ward.code) if w is not None]


def lookup(query: str) -> PostcodeAnswer | None:
    """Answer a finder query that looks like a postcode; None when it is a name."""
    kind, value = classify(query)
    if kind == "name":
        return None
    if kind == "malformed":
        return PostcodeAnswer("malformed", query)
    loaded, api = postcode_data_loaded(), _api_configured()
    if not loaded and not api:
        return PostcodeAnswer("unavailable", query)
    if kind == "full":
        return _lookup_full(value, loaded, api)
    return _lookup_outward(value, loaded, api)


def _lookup_full(postcode: str, loaded: bool, api: bool) -> PostcodeAnswer:
    get_ward, suggest_ward = ward_services.get_ward, ward_services.suggest_ward
    row = db.session.get(Postcode, postcode) if loaded else None
    if row is not None:
        return PostcodeAnswer("found", postcode, postcode, row.ward,
                              nearby=_near_boundary(row.ward, row.lat, row.lon))
    if not api:
        return PostcodeAnswer("not_found", postcode, postcode)
    try:
        result = _api_get("/postcodes/" + quote(postcode))
    except LookupFailed:
        return PostcodeAnswer("failed", postcode, postcode)
    if not result:
        return PostcodeAnswer("not_found", postcode, postcode)
    lat, lon = result.get("latitude"), result.get("longitude")
    code = ((result.get("codes") or {}).get("admin_ward") or "")
    ward = get_ward(code) if isinstance(code, str) else None
    if ward is None and isinstance(lat, (int, float)) and isinstance(lon, (int, float)):
        suggestion, ward = suggest_ward(float(lat), float(lon))  # another ward vintage
        if suggestion.outside_london:
            ward = None
    if ward is None:
        return PostcodeAnswer("outside", postcode, result.get("postcode") or postcode)
    nearby = _near_boundary(ward, lat, lon) if isinstance(lat, (int, float)) else []
    return PostcodeAnswer("found", postcode, result.get("postcode") or postcode, ward, nearby)


def _lookup_outward(outward: str, loaded: bool, api: bool) -> PostcodeAnswer:
    if loaded:
        ids = db.session.scalars(select(Postcode.ward_id).where(Postcode.outward == outward)
                                 .distinct()).all()
        if ids:
            return PostcodeAnswer("outward", outward, outward, wards=_wards_by_ids(ids))
    if not api:
        return PostcodeAnswer("not_found", outward, outward)
    try:
        result = _api_get("/outcodes/" + quote(outward))
    except LookupFailed:
        return PostcodeAnswer("failed", outward, outward)
    if not result:
        return PostcodeAnswer("not_found", outward, outward)
    # The outcode answer names wards and districts (no codes): match both to ours.
    names = [n for n in result.get("admin_ward") or [] if isinstance(n, str)]
    districts = [n for n in result.get("admin_district") or [] if isinstance(n, str)]
    if not names:
        return PostcodeAnswer("outside", outward, outward)
    stmt = (select(Ward.id).join(Borough).where(func.lower(Ward.name).in_([n.lower() for n in names]),
                                                 func.lower(Borough.name).in_([d.lower() for d in districts])))
    wards = _wards_by_ids(db.session.scalars(stmt).all())
    if not wards:
        return PostcodeAnswer("outside", outward, outward)
    return PostcodeAnswer("outward", outward, outward, wards=wards)
