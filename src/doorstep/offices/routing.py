"""Which office gets a lead: exact coverage, then nearest coverage, then the default office.

An account's coverage is read once per process and routing version (a lead is routed on
every create, so round trips count); the distances are worked out here."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from math import radians

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from doorstep.geo.distance import EARTH_RADIUS_M, haversine_m
from doorstep.geo.geography import Location, centroids, locate_codes
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
# (office id, kind, code, office name, office latitude, office longitude)
Covering = tuple[int, str, str, str, float | None, float | None]

# An account's whole routing table in one round trip: every coverage entry with its office
# (name and place, for ties) and, for unit entries, the unit's imported coordinates; and the
# default office (else the first), for leads that cannot be placed.
_TABLE = Statement(
    """
SELECT 'entry', c.office_id, c.kind, c.code, o.name, o.latitude, o.longitude,
    u.latitude, u.longitude
FROM office_coverage c
JOIN offices o ON o.id = c.office_id
LEFT JOIN postcode_units u ON c.kind = 'unit' AND u.postcode = c.code
WHERE c.account_id = :account_id
UNION ALL
SELECT 'default', o.id, NULL, NULL, o.name, NULL, NULL, NULL, NULL
FROM offices o
WHERE o.id = (
    SELECT coalesce(a.default_office_id,
                    (SELECT min(f.id) FROM offices f WHERE f.account_id = :account_id))
    FROM accounts a WHERE a.id = :account_id
)
"""
)
_VERSION = Statement("SELECT routing_version FROM accounts WHERE id = :account_id")


@dataclass(frozen=True)
class AccountRouting:
    """What routing needs of one account, kept in memory by each process."""

    exact: dict[str, list[Covering]]  # coverage code -> the entries with that code
    index: CoverageIndex | None  # every covered point, for the nearest coverage
    default: Route


# Postcodes already routed, by account and routing version: a listing's leads all carry its
# advert postcode, and a postcode outside every coverage costs a look-up and a search for
# the nearest covered point. Emptied when full (about 15 MB).
_routed: dict[tuple[int, int, tuple[str, ...]], Route] = {}
ROUTED_MAX = 50_000
NEAREST_KEPT = 50_000  # places a coverage index keeps its answer for


# account id -> (routing version, table). A lead is routed on every create; the table
# changes when an operator edits offices, so it is read again only when the version that
# the request's authentication read with the token has moved (offices.service bumps it).
_tables: dict[int, tuple[int, AccountRouting]] = {}


def account_routing(conn: Connection, account_id: int, version: int) -> AccountRouting:
    cached = _tables.get(account_id)
    if cached is not None and cached[0] == version:
        return cached[1]
    exact: dict[str, list[Covering]] = {}
    entries: list[Entry] = []
    default = Route(None, None, "none")
    for source, office_id, kind, code, name, ola, olo, ula, ulo in _TABLE.run(
        conn, {"account_id": account_id}
    ):
        if source == "default":
            default = Route(office_id, None, "default", office_name=name)
            continue
        exact.setdefault(code, []).append((office_id, kind, code, name, ola, olo))
        entries.append((office_id, kind, code, name, ula, ulo))
    table = AccountRouting(exact, CoverageIndex(tuple(entries)) if entries else None, default)
    _tables[account_id] = (version, table)
    return table


def route(
    session: Session,
    account_id: int,
    postcode: str | None,
    *,
    version: int | None = None,
    locate: bool = False,
) -> Route:
    """The office for a lead with this postcode. ``version``: the account's routing version,
    if the caller has it (else it is read); ``locate``: always work out where the postcode
    is (otherwise only when a tie or the nearest coverage needs it)."""
    conn = session.connection()
    if version is None:
        rows = _VERSION.run(conn, {"account_id": account_id})
        if not rows:
            return Route(None, None, "none")
        version = rows[0][0]
    table = account_routing(conn, account_id, version)
    parts = routing_parts(postcode)
    if not parts:
        return table.default
    if locate:
        return placed(table, parts, locate_codes(session, parts))
    settled = settled_route(table, account_id, version, parts)
    if settled is not None:
        return settled
    return place(table, account_id, version, parts, locate_codes(session, parts))


def known_table(account_id: int, version: int) -> AccountRouting | None:
    """The account's routing table at this version, if this process has read it (for the
    create path on the event loop, leads/create_pg.py, which reads it on a thread if not)."""
    cached = _tables.get(account_id)
    return cached[1] if cached is not None and cached[0] == version else None


def settled_route(
    table: AccountRouting, account_id: int, version: int, parts: tuple[str, ...]
) -> Route | None:
    """The route when where the postcode is need not be looked up: routed by this process
    before, or one most specific covering entry; None when it must be (``place``)."""
    return _routed.get((account_id, version, parts)) or unplaced(table, parts)


def place(
    table: AccountRouting,
    account_id: int,
    version: int,
    parts: tuple[str, ...],
    location: Location | None,
) -> Route:
    """The route of a postcode at ``location`` (``placed``), kept for the next lead with it."""
    routed = placed(table, parts, location)
    if len(_routed) >= ROUTED_MAX:
        _routed.clear()
    _routed[(account_id, version, parts)] = routed
    return routed


def _exact(table: AccountRouting, parts: tuple[str, ...]) -> list[Covering]:
    """The most specific entries that cover the postcode (several: a tie)."""
    exact = [e for code in parts for e in table.exact.get(code, ())]
    if not exact:
        return []
    best = max(KIND_RANK[e[1]] for e in exact)
    return [e for e in exact if KIND_RANK[e[1]] == best]


def unplaced(table: AccountRouting, parts: tuple[str, ...]) -> Route | None:
    """The route when it does not depend on where the postcode is (one most specific
    covering entry); None when it does (a tie, or no coverage: ``placed``)."""
    winners = _exact(table, parts)
    if len(winners) != 1:
        return None
    office_id, _, code, name, _, _ = winners[0]
    return Route(office_id, None, "exact", code, None, name)


def placed(table: AccountRouting, parts: tuple[str, ...], location: Location | None) -> Route:
    """The route of a postcode at ``location`` (None: it cannot be placed): the covering
    office nearest it, else the nearest covered point, else the default office."""
    winners = _exact(table, parts)
    if winners:

        def tie_break(e: Covering) -> tuple[float, int, str]:
            # The office nearest the postcode; offices without a place go last.
            office_id, _, code, _, la, lo = e
            if location is None or la is None or lo is None:
                return (float("inf"), office_id, code)
            return (haversine_m(location.latitude, location.longitude, la, lo), office_id, code)

        office_id, _, code, name, _, _ = min(winners, key=tie_break)
        return Route(office_id, None, "exact", code, location, name)
    nearest = table.index.nearest(location) if location and table.index else None
    if nearest is None:
        return table.default
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
        # Answers by place: every unit of a sector whose own coordinates are not imported is
        # placed at the sector's centroid, and new units keep coming (each routed once).
        self._answers: dict[tuple[float, float], tuple[int, str, str, float] | None] = {}

    def nearest(self, here: Location) -> tuple[int, str, str, float] | None:
        """(office id, coverage code, office name, metres) of the nearest covered point;
        on equal distances, the lowest office id, then coverage code. None without points."""
        key = (here.latitude, here.longitude)
        if key in self._answers:
            return self._answers[key]
        if len(self._answers) >= NEAREST_KEPT:
            self._answers.clear()
        found = self._answers[key] = self._nearest(*key)
        return found

    def _nearest(self, lat: float, lon: float) -> tuple[int, str, str, float] | None:
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
