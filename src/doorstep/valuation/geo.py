"""Geography the valuation needs beyond routing: many postcodes located at once (imports) and
the sectors near a point (the comparables query)."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from sqlalchemy import Connection, select

from doorstep.geo.geography import centroids
from doorstep.geo.postcodes import Postcode
from doorstep.models import PostcodeUnit

# Grid cells of 0.05° latitude (~5.6 km): small enough to prune, big enough to stay few.
_CELL = 0.05
_M_PER_DEG_LAT = 111_195.0


@dataclass(frozen=True, slots=True)
class Point:
    latitude: float
    longitude: float
    precision: str  # unit | sector | district


def fast_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Equirectangular distance: within 0.1% of the great circle at the few kilometres
    comparables are chosen over, and several times cheaper per candidate."""
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return 6_371_008.8 * math.sqrt(x * x + y * y)


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> int:
    """Compass bearing from the first point to the second, whole degrees clockwise from
    north (0-359): where a comparable lies seen from the home, for a page's small map."""
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return round(math.degrees(math.atan2(x, y))) % 360


class SectorMap:
    """Shipped sector centroids with their p95 radius, bucketed on a grid."""

    def __init__(self) -> None:
        self.sectors: dict[str, tuple[float, float, float]] = {}
        self._grid: dict[tuple[int, int], list[str]] = defaultdict(list)
        data = resources.files("doorstep.geo") / "data"
        with (data / "sector_centroids.csv").open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if not row["latitude"]:
                    continue
                lat, lon = float(row["latitude"]), float(row["longitude"])
                radius = float(row["p95_dist_m"] or 0)
                self.sectors[row["sector"]] = (lat, lon, radius)
                self._grid[self._cell(lat, lon)].append(row["sector"])
        self.max_radius = max((r for _, _, r in self.sectors.values()), default=0.0)

    @staticmethod
    def _cell(lat: float, lon: float) -> tuple[int, int]:
        return (math.floor(lat / _CELL), math.floor(lon / _CELL))

    def near(self, lat: float, lon: float, radius_m: float) -> list[str]:
        """Sectors that may hold a point within ``radius_m`` of (lat, lon): those whose
        centroid is within the radius plus the sector's own p95 spread."""
        return [code for _, code in self.nearest(lat, lon, radius_m)]

    def nearest(self, lat: float, lon: float, radius_m: float) -> list[tuple[float, str]]:
        """(how near the sector's points may come, sector) within the radius, nearest first."""
        reach = radius_m + min(self.max_radius, 15_000.0)
        dlat = reach / _M_PER_DEG_LAT
        dlon = dlat / max(0.2, math.cos(math.radians(lat)))
        out = []
        for ci in range(math.floor((lat - dlat) / _CELL), math.floor((lat + dlat) / _CELL) + 1):
            for cj in range(math.floor((lon - dlon) / _CELL), math.floor((lon + dlon) / _CELL) + 1):
                for code in self._grid.get((ci, cj), ()):
                    slat, slon, spread = self.sectors[code]
                    gap = fast_distance_m(lat, lon, slat, slon) - spread - 250
                    if gap <= radius_m:
                        out.append((max(0.0, gap), code))
        out.sort()
        return out


@lru_cache(maxsize=1)
def sector_map() -> SectorMap:
    return SectorMap()


def centroid_point(pc: Postcode) -> Point | None:
    c = centroids()
    if p := c.sector.get(pc.sector):
        return Point(p[0], p[1], "sector")
    if p := c.district.get(pc.district):
        return Point(p[0], p[1], "district")
    return None


def locate_many(conn: Connection, postcodes: Iterable[Postcode]) -> dict[str, Point]:
    """Unit coordinates where imported, else the shipped sector or district centroid."""
    wanted = {pc.unit: pc for pc in postcodes}
    out: dict[str, Point] = {}
    units = list(wanted)
    for i in range(0, len(units), 900):  # SQLite's bound-parameter limit
        chunk = units[i : i + 900]
        rows = conn.execute(
            select(PostcodeUnit.postcode, PostcodeUnit.latitude, PostcodeUnit.longitude).where(
                PostcodeUnit.postcode.in_(chunk)
            )
        )
        for code, lat, lon in rows:
            out[code] = Point(lat, lon, "unit")
    for code, pc in wanted.items():
        if code not in out and (p := centroid_point(pc)):
            out[code] = p
    return out
