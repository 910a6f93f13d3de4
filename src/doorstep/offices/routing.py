"""Which office gets a lead: exact coverage, then nearest coverage, then the default office."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.geo.distance import haversine_m
from doorstep.geo.geography import Location, centroids, locate_codes
from doorstep.geo.postcodes import KIND_RANK, routing_parts
from doorstep.models import Account, Office, OfficeCoverage, PostcodeUnit


@dataclass(frozen=True)
class Route:
    office_id: int | None
    out_of_area_distance: float | None
    reason: str  # explicit | exact | nearest | default | none
    matched_code: str | None = None
    location: Location | None = None

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


def _default(session: Session, account_id: int) -> Route:
    account = session.get(Account, account_id)
    office_id = account.default_office_id if account else None
    if office_id is None:
        office_id = session.scalar(
            select(Office.id).where(Office.account_id == account_id).order_by(Office.id).limit(1)
        )
    return Route(office_id, None, "default" if office_id else "none")


def route(session: Session, account_id: int, postcode: str | None) -> Route:
    parts = routing_parts(postcode)
    if not parts:
        return _default(session, account_id)
    location = locate_codes(session, parts)

    exact = session.execute(
        select(OfficeCoverage.office_id, OfficeCoverage.kind, OfficeCoverage.code).where(
            OfficeCoverage.account_id == account_id, OfficeCoverage.code.in_(parts)
        )
    ).all()
    if exact:
        best = max(KIND_RANK[k] for _, k, _ in exact)
        winners = [(o, c) for o, k, c in exact if KIND_RANK[k] == best]
        if len(winners) > 1 and location is not None:
            places = {
                oid: (la, lo)
                for oid, la, lo in session.execute(
                    select(Office.id, Office.latitude, Office.longitude).where(
                        Office.id.in_([o for o, _ in winners])
                    )
                )
            }

            def office_distance(w: tuple[int, str]) -> tuple[float, int]:
                la, lo = places.get(w[0], (None, None))
                if la is None or lo is None:
                    return (float("inf"), w[0])
                return (haversine_m(location.latitude, location.longitude, la, lo), w[0])

            winners.sort(key=office_distance)
        else:
            winners.sort()
        office_id, code = winners[0]
        return Route(office_id, None, "exact", code, location)

    if location is None:
        return _default(session, account_id)
    nearest = nearest_coverage(session, account_id, location)
    if nearest is None:
        return _default(session, account_id)
    office_id, code, dist = nearest
    return Route(office_id, round(dist, 2), "nearest", code, location)


def nearest_coverage(
    session: Session, account_id: int, location: Location
) -> tuple[int, str, float] | None:
    """The covered point nearest to ``location``: (office id, coverage code, metres)."""
    entries = session.execute(
        select(OfficeCoverage.office_id, OfficeCoverage.kind, OfficeCoverage.code)
        .where(OfficeCoverage.account_id == account_id)
        .order_by(OfficeCoverage.office_id, OfficeCoverage.code)
    ).all()
    if not entries:
        return None
    c = centroids()
    units = [code for _, kind, code in entries if kind == "unit"]
    unit_points: dict[str, tuple[float, float]] = {}
    if units:
        unit_points = {
            pc: (la, lo)
            for pc, la, lo in session.execute(
                select(PostcodeUnit.postcode, PostcodeUnit.latitude, PostcodeUnit.longitude).where(
                    PostcodeUnit.postcode.in_(units)
                )
            )
        }
    best: tuple[int, str, float] | None = None
    for office_id, kind, code in entries:
        if kind == "unit":
            pts = [unit_points[code]] if code in unit_points else c.points_of("sector", code[:-2])
        else:
            pts = c.points_of(kind, code)
        for la, lo in pts:
            d = haversine_m(location.latitude, location.longitude, la, lo)
            if best is None or d < best[2]:
                best = (office_id, code, d)
    return best
