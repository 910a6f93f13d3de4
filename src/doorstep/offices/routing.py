"""Which office gets a lead: exact coverage, then nearest coverage, then the default office.

Everything a decision needs comes from the database in one statement (a lead is routed on
every create, so round trips count); the distances are worked out here."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from math import radians
from typing import Any

from sqlalchemy.orm import Session

from doorstep.geo.distance import EARTH_RADIUS_M, haversine_m
from doorstep.geo.geography import Location, centroids, locate_parts
from doorstep.geo.postcodes import KIND_RANK, routing_parts
from doorstep.statements import Statement


@dataclass(frozen=True)
class Route:
    office_id: int | None
    out_of_area_distance: float | None
    reason: str  # explicit | exact | nearest | default | none
    matched_code: str | None = None
    location: Location | None = None
    office_name: str | None = None

    def explain(self) -> str:
        if self.reason == "explicit":
            return "The office was chosen in the request (office_id)."
        if self.reason == "exact":
            return f"Covered by the entry {self.matched_code}."
        if self.reason == "nearest":
            return (
                f"No office covers it; the nearest coverage is {self.matched_code}, "
                f"{self.out_of_area_distance:,.0f} m away."
            )
        if self.reason == "default":
            return "No usable postcode or no coverage can be measured: the default office."
        return "The account has no offices."


def routing_postcode(
    lead_type: str, postcode: str | None, advert_postcode: str | None
) -> str | None:
    if lead_type in ("sale", "let"):
        return advert_postcode or postcode
    return postcode or advert_postcode


# (office id, kind, code, office name, unit latitude, unit longitude)
Entry = tuple[int, str, str, str, float | None, float | None]
# (source, office id, kind, code, office name, latitude, longitude): see _ROUTE
RouteRow = Any

# The account's default office (else its first), for leads that cannot be placed.
_DEFAULT_SQL = """
SELECT 'default', o.id, NULL, NULL, o.name, NULL, NULL
FROM offices o
WHERE o.id = (
    SELECT coalesce(a.default_office_id,
                    (SELECT min(f.id) FROM offices f WHERE f.account_id = :account_id))
    FROM accounts a WHERE a.id = :account_id
)
"""
_DEFAULT = Statement(_DEFAULT_SQL)

# One round trip for every case: the coverage entries that contain the postcode (with their
# offices' places, for ties); when there are none, every entry of the account (with unit
# entries' coordinates), to measure the nearest; the postcode's own coordinates if imported;
# and the default office.
_ROUTE = Statement(
    """
WITH exact AS (
    SELECT office_id, kind, code FROM office_coverage
    WHERE account_id = :account_id AND code IN (:area, :district, :sector, :unit)
)
SELECT 'exact', e.office_id, e.kind, e.code, o.name, o.latitude, o.longitude
FROM exact e JOIN offices o ON o.id = e.office_id
UNION ALL
SELECT 'near', c.office_id, c.kind, c.code, o.name, u.latitude, u.longitude
FROM office_coverage c
JOIN offices o ON o.id = c.office_id
LEFT JOIN postcode_units u ON c.kind = 'unit' AND u.postcode = c.code
WHERE c.account_id = :account_id AND NOT EXISTS (SELECT 1 FROM exact)
UNION ALL
SELECT 'unit', NULL, NULL, NULL, NULL, latitude, longitude
FROM postcode_units WHERE postcode = :unit
UNION ALL
"""
    + _DEFAULT_SQL
)


def _default(rows: Sequence[RouteRow]) -> Route:
    for source, office_id, _, _, name, _, _ in rows:
        if source == "default":
            return Route(office_id, None, "default", office_name=name)
    return Route(None, None, "none")


def route(session: Session, account_id: int, postcode: str | None) -> Route:
    conn = session.connection()
    parts = routing_parts(postcode)
    if not parts:
        return _default(_DEFAULT.run(conn, {"account_id": account_id}))
    codes = (*parts, None, None)[:4]
    rows = _ROUTE.run(
        conn,
        {
            "account_id": account_id,
            "area": codes[0],
            "district": codes[1],
            "sector": codes[2],
            "unit": codes[3],
        },
    )
    unit = next(((la, lo) for src, *_, la, lo in rows if src == "unit"), None)
    location = locate_parts(parts, unit)

    exact = [r for r in rows if r[0] == "exact"]
    if exact:
        best = max(KIND_RANK[r[2]] for r in exact)
        winners = [r for r in exact if KIND_RANK[r[2]] == best]

        def tie_break(r: RouteRow) -> tuple[float, int, str]:
            # The office nearest the postcode; offices without a place go last.
            _, office_id, _, code, _, la, lo = r
            if location is None or la is None or lo is None:
                return (float("inf"), office_id, code)
            return (haversine_m(location.latitude, location.longitude, la, lo), office_id, code)

        _, office_id, _, code, name, _, _ = min(winners, key=tie_break)
        return Route(office_id, None, "exact", code, location, name)

    entries = tuple(
        (office_id, kind, code, name, la, lo)
        for source, office_id, kind, code, name, la, lo in rows
        if source == "near"
    )
    nearest = coverage_index(entries).nearest(location) if location and entries else None
    if nearest is None:
        return _default(rows)
    office_id, code, name, dist = nearest
    return Route(office_id, round(dist, 2), "nearest", code, location, name)


class CoverageIndex:
    """Every covered point of a set of coverage entries, sorted by latitude.

    The distance between two points is at least the distance along the meridian between
    their latitudes, so the search walks out from the postcode's latitude and stops on each
    side as soon as that bound passes the best distance found: a handful of points instead
    of every sector of every covered area."""

    def __init__(self, entries: tuple[Entry, ...]) -> None:
        c = centroids()
        points: list[tuple[float, float, int, str, str]] = []
        for office_id, kind, code, name, la, lo in entries:
            if kind == "unit":
                pts = (
                    [(la, lo)]
                    if la is not None and lo is not None
                    else c.points_of("sector", code[:-2])
                )
            else:
                pts = c.points_of(kind, code)
            points.extend((pla, plo, office_id, code, name) for pla, plo in pts)
        points.sort()
        self.points = points
        self.latitudes = [p[0] for p in points]

    def nearest(self, here: Location) -> tuple[int, str, str, float] | None:
        """(office id, coverage code, office name, metres) of the nearest covered point;
        on equal distances, the lowest office id, then coverage code. None without points."""
        lat, lon = here.latitude, here.longitude
        best: tuple[float, int, str, str] | None = None
        start = bisect_left(self.latitudes, lat)
        for indices in (range(start, len(self.points)), range(start - 1, -1, -1)):
            for i in indices:
                pla, plo, office_id, code, name = self.points[i]
                # (a millimetre of slack keeps points at exactly the best distance in play)
                if best is not None and radians(abs(pla - lat)) * EARTH_RADIUS_M > best[0] + 1e-3:
                    break
                d = haversine_m(lat, lon, pla, plo)
                if best is None or (d, office_id, code) < best[:3]:
                    best = (d, office_id, code, name)
        if best is None:
            return None
        d, office_id, code, name = best
        return office_id, code, name, d


@lru_cache(maxsize=64)
def coverage_index(entries: tuple[Entry, ...]) -> CoverageIndex:
    """Accounts' coverage changes rarely: the index is built once per distinct set."""
    return CoverageIndex(entries)
