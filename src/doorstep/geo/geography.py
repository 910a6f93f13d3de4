"""Where a postcode is. District and sector centroids ship inside the package (derived from
ONS NSPL May 2025); unit coordinates come from ``doorstep geo import`` when present."""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from doorstep.geo.postcodes import Postcode, parse
from doorstep.models import PostcodeUnit
from doorstep.statements import Statement

Point = tuple[float, float]
_AREA_PREFIX = re.compile(r"[A-Z]+")


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    precision: str  # unit | sector | district


class Centroids:
    """The shipped district and sector centroids, indexed for look-ups by code."""

    def __init__(self) -> None:
        self.district: dict[str, Point] = {}
        self.sector: dict[str, Point] = {}
        self.sectors_in_district: dict[str, list[str]] = defaultdict(list)
        self.districts_in_area: dict[str, list[str]] = defaultdict(list)
        data = resources.files("doorstep.geo") / "data"
        with (data / "district_centroids.csv").open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["latitude"]:
                    code = row["outcode"]
                    self.district[code] = (float(row["latitude"]), float(row["longitude"]))
                    area = _AREA_PREFIX.match(code).group()  # type: ignore[union-attr]
                    self.districts_in_area[area].append(code)
        with (data / "sector_centroids.csv").open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["latitude"]:
                    self.sector[row["sector"]] = (float(row["latitude"]), float(row["longitude"]))
                    self.sectors_in_district[row["outcode"]].append(row["sector"])

    def points_of(self, kind: str, code: str) -> list[Point]:
        """Representative points of a coverage entry: its sector centroids (or its own
        centroid when it has no sectors), used to find the nearest covered point."""
        if kind == "sector":
            p = self.sector.get(code)
            return [p] if p else []
        if kind == "district":
            pts = [self.sector[s] for s in self.sectors_in_district.get(code, ())]
            if not pts and code in self.district:
                pts = [self.district[code]]
            return pts
        if kind == "area":
            out: list[Point] = []
            for d in self.districts_in_area.get(code, ()):
                out.extend(self.points_of("district", d))
            return out
        return []


@lru_cache(maxsize=1)
def centroids() -> Centroids:
    return Centroids()


# Routing locates a lead's postcode on the create path: compiled once, run on the cursor.
UNIT_PLACE = select(PostcodeUnit.latitude, PostcodeUnit.longitude).where(
    PostcodeUnit.postcode == bindparam("unit")
)
_UNIT = Statement(UNIT_PLACE)


def locate_codes(session: Session, codes: tuple[str, ...]) -> Location | None:
    """Most precise known location for routing parts (area, district[, sector[, unit]])."""
    unit = None
    if len(codes) == 4:
        rows = _UNIT.run(session.connection(), {"unit": codes[3]})
        unit = (rows[0][0], rows[0][1]) if rows else None
    return locate_parts(codes, unit)


def locate_parts(codes: tuple[str, ...], unit: Point | None) -> Location | None:
    """As ``locate_codes``, with the unit's imported coordinates (if any) already looked up."""
    if unit is not None:
        return Location(unit[0], unit[1], "unit")
    c = centroids()
    if len(codes) >= 3 and (p := c.sector.get(codes[2])):
        return Location(p[0], p[1], "sector")
    if len(codes) >= 2 and (p := c.district.get(codes[1])):
        return Location(p[0], p[1], "district")
    return None


def locate(session: Session, postcode: str | Postcode | None) -> Location | None:
    pc = parse(postcode) if isinstance(postcode, str) or postcode is None else postcode
    return locate_codes(session, pc.codes()) if pc else None
