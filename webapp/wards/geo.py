"""Ward geometry: outlines to SVG, neighbours, and point-in-polygon lookup with an STRtree.

Pure functions over shapely geometries; nothing here touches the database or Flask.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from shapely import STRtree
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points
import json

# London's extent (from the data), padded: points outside are "not in London".
LONDON_BOUNDS = (-0.52, 51.28, 0.345, 51.70)  # min lon, min lat, max lon, max lat
# A point in no ward (the Thames, a dock) still gets the nearest ward if it is this close.
NEAREST_MAX_METRES = 1500
_M_PER_DEG_LAT = 111_320.0


def _project(lon: float, lat: float, lat0: float) -> tuple[float, float]:
    """Equirectangular projection to metres around ``lat0`` (good enough at city scale)."""
    return (lon * _M_PER_DEG_LAT * math.cos(math.radians(lat0)), lat * _M_PER_DEG_LAT)


def svg_for(geometry: BaseGeometry, size: float = 200.0) -> tuple[str, str]:
    """Return ``(path_d, viewBox)`` drawing ``geometry`` (north up, aspect kept) in a
    ``size``-unit box. Winding does not matter for a plain fill."""
    min_lon, min_lat, max_lon, max_lat = geometry.bounds
    lat0 = (min_lat + max_lat) / 2
    x0, y0 = _project(min_lon, min_lat, lat0)
    x1, y1 = _project(max_lon, max_lat, lat0)
    scale = size / max(x1 - x0, y1 - y0, 1e-9)
    width, height = (x1 - x0) * scale, (y1 - y0) * scale
    parts = []
    polygons = getattr(geometry, "geoms", [geometry])
    for polygon in polygons:
        for ring in [polygon.exterior, *polygon.interiors]:
            points = []
            for lon, lat in ring.coords[:-1]:
                x, y = _project(lon, lat, lat0)
                points.append(f"{(x - x0) * scale:.1f},{(y1 - y) * scale:.1f}")
            parts.append("M" + "L".join(points) + "Z")
    return "".join(parts), f"0 0 {width:.1f} {height:.1f}"


def find_neighbours(geometries: list[BaseGeometry], tolerance: float = 1e-4) -> set[tuple[int, int]]:
    """Return index pairs ``(i, j)``, both ways, of geometries that touch or nearly touch."""
    tree = STRtree(geometries)
    pairs: set[tuple[int, int]] = set()
    for i, geom in enumerate(geometries):
        for j in tree.query(geom.buffer(tolerance), predicate="intersects"):
            j = int(j)
            if j != i:
                pairs.add((i, j))
                pairs.add((j, i))
    return pairs


@dataclass(frozen=True)
class Suggestion:
    """The answer to "which ward is this point in?"."""

    ward_code: str | None
    exact: bool            # True: the point is inside the ward's outline
    distance_m: float      # 0 when exact; else distance to the nearest ward
    outside_london: bool


class WardLocator:
    """Point-in-polygon over all wards with shapely's STRtree, built once per process."""

    def __init__(self, items: list[tuple[str, BaseGeometry]]):
        self.codes = [code for code, _ in items]
        self.geometries = [geom for _, geom in items]
        self.tree = STRtree(self.geometries)

    @classmethod
    def from_geojson(cls, rows: list[tuple[str, str]]) -> "WardLocator":
        return cls([(code, shape(json.loads(geo))) for code, geo in rows])

    def locate(self, lat: float, lon: float) -> Suggestion:
        """Suggest the ward containing (lat, lon), or the nearest one for a point in the
        Thames or a dock; points beyond London's edge are reported as outside."""
        if not (math.isfinite(lat) and math.isfinite(lon)):
            return Suggestion(None, False, math.inf, True)
        min_lon, min_lat, max_lon, max_lat = LONDON_BOUNDS
        if not (min_lon <= lon <= max_lon and min_lat <= lat <= max_lat):
            return Suggestion(None, False, math.inf, True)
        point = Point(lon, lat)
        hits = self.tree.query(point, predicate="intersects")
        if len(hits):
            return Suggestion(self.codes[int(hits[0])], True, 0.0, False)
        index = int(self.tree.nearest(point))
        nearest = self.geometries[index]
        # Distance in metres, measured in the local projection.
        _, on_ward = nearest_points(point, nearest)
        px, py = _project(lon, lat, lat)
        wx, wy = _project(on_ward.x, on_ward.y, lat)
        distance = math.hypot(px - wx, py - wy)
        if distance > NEAREST_MAX_METRES:
            return Suggestion(None, False, distance, True)
        return Suggestion(self.codes[index], False, distance, False)

    def within(self, lat: float, lon: float, metres: float) -> list[str]:
        """Codes of the wards whose outline is within ``metres`` of (lat, lon)."""
        if not (math.isfinite(lat) and math.isfinite(lon)):
            return []
        point = Point(lon, lat)
        # A box a little bigger than ``metres`` in degrees, then exact distances in metres.
        pad = metres / (_M_PER_DEG_LAT * max(math.cos(math.radians(lat)), 0.1)) * 1.5
        codes = []
        for index in self.tree.query(point.buffer(pad)):
            geom = self.geometries[int(index)]
            if geom.intersects(point):
                codes.append(self.codes[int(index)])
                continue
            _, on_ward = nearest_points(point, geom)
            px, py = _project(lon, lat, lat)
            wx, wy = _project(on_ward.x, on_ward.y, lat)
            if math.hypot(px - wx, py - wy) <= metres:
                codes.append(self.codes[int(index)])
        return codes
