"""Instant valuation of a postcode (and, where given, property type, bedrooms and address):
sale and rent estimates from real evidence, and what the lead stores of them."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from doorstep.geo.geography import locate
from doorstep.geo.postcodes import Postcode, parse
from doorstep.models import Lead, RentalEvidence, Sale, ValuationModel
from doorstep.valuation import address as addr
from doorstep.valuation import model, yields
from doorstep.valuation.geo import Point, fast_distance_m, sector_map
from doorstep.valuation.index import Series, load_series
from doorstep.valuation.ppd import month_of

log = logging.getLogger("doorstep.valuation")

SUCCESS = "Success"
NOT_ENOUGH = "Not Enough Comparable Properties"
NOT_FOUND = "Postcode Not Found"

PPD_TYPE = {"detached": "D", "semi-detached": "S", "terraced": "T", "flat-maisonette": "F"}
API_TYPE = {v: k for k, v in PPD_TYPE.items()}

# Rental evidence: rings searched in turn, how recent a letting may be, how many make a
# local estimate. Lettings are not indexed: they are used only while recent.
RENT_STAGES = ((2_000, 24, True), (5_000, 36, False), (15_000, 60, False))
RENT_MIN_COMPARABLES = 3
RENT_PRIOR_SPREAD = 0.12
RENT_LISTED = 10
CANDIDATE_LIMIT = 20_000


@dataclass
class Context:
    """What a valuation may know: evidence before ``cutoff``, prices brought to
    ``evidence_month`` by the index, the interval calibration."""

    cutoff: date
    evidence_month: int
    quantiles: dict[str, tuple[float, float]]
    series: Callable[[str, str], Series]


@dataclass
class RentEstimate:
    central: float
    low: float
    high: float
    basis: str  # "rental evidence" | "gross yield"
    local: bool
    comparables: list[RentalEvidence] = field(default_factory=list)
    distances: list[float] = field(default_factory=list)
    yield_used: yields.Yield | None = None


@dataclass
class Valuation:
    status: str
    sale: model.SaleEstimate | None = None
    rent: RentEstimate | None = None
    precision: str | None = None

    def explain(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "location_precision": self.precision}
        if self.sale:
            out["sale"] = {
                "comparables": len(self.sale.comparables),
                "radius_m": self.sale.stage.radius_m,
                "lookback_months": self.sale.stage.lookback_months,
                "same_type": self.sale.stage.same_type,
                "repeat_sale": self.sale.repeat.transaction_id if self.sale.repeat else None,
                "spread": round(self.sale.spread, 4),
            }
        if self.rent:
            out["rent"] = {"basis": self.rent.basis, "comparables": len(self.rent.comparables)}
            if self.rent.yield_used:
                out["rent"]["gross_yield_percent"] = self.rent.yield_used.percent
                out["rent"]["yield_region"] = self.rent.yield_used.region
        return out


def current_model(session: Session) -> ValuationModel | None:
    return session.scalar(select(ValuationModel).order_by(ValuationModel.id.desc()).limit(1))


def _quantiles(params: dict[str, Any] | None) -> dict[str, tuple[float, float]]:
    out = {"comparables": model.DEFAULT_QUANTILES, "repeat": model.DEFAULT_QUANTILES}
    for key, value in ((params or {}).get("quantiles") or {}).items():
        out[key] = (float(value[0]), float(value[1]))
    return out


def live_context(session: Session, today: date | None = None) -> Context:
    today = today or datetime.now(UTC).date()
    m = current_model(session)
    last = m.last_month if m and m.last_month is not None else month_of(today)
    return Context(
        cutoff=today,
        evidence_month=min(month_of(today), last),
        quantiles=_quantiles(m.params if m else None),
        series=lambda district, area: load_series(session, district, area),
    )


def _in_chunks(values: list[str], size: int = 900) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)] or [[]]


def _bbox(point: Point, radius_m: float) -> tuple[float, float, float, float]:
    dlat = radius_m / 111_195.0
    dlon = dlat / max(0.2, math.cos(math.radians(point.latitude)))
    return (
        point.latitude - dlat,
        point.latitude + dlat,
        point.longitude - dlon,
        point.longitude + dlon,
    )


def sale_candidates(
    session: Session,
    point: Point,
    stage: model.Stage,
    types: tuple[str, ...],
    ctx: Context,
) -> list[model.Comparable]:
    sectors = sector_map().near(point.latitude, point.longitude, stage.radius_m)
    if not sectors:
        return []
    lat0, lat1, lon0, lon1 = _bbox(point, stage.radius_m)
    out: list[model.Comparable] = []
    for chunk in _in_chunks(sectors):
        q = (
            select(
                Sale.transaction_id,
                Sale.price,
                Sale.deed_date,
                Sale.month,
                Sale.postcode,
                Sale.property_type,
                Sale.paon,
                Sale.saon,
                Sale.street,
                Sale.town,
                Sale.latitude,
                Sale.longitude,
            )
            .where(
                Sale.eligible,
                Sale.sector.in_(chunk),
                Sale.property_type.in_(types),
                Sale.month >= ctx.evidence_month - stage.lookback_months,
                Sale.deed_date < ctx.cutoff,
                Sale.latitude.between(lat0, lat1),
                Sale.longitude.between(lon0, lon1),
            )
            .limit(CANDIDATE_LIMIT)
        )
        for row in session.execute(q):
            c = model.Comparable(**row._asdict())
            c.distance_m = fast_distance_m(point.latitude, point.longitude, c.latitude, c.longitude)
            if c.distance_m <= stage.radius_m:
                out.append(c)
    return out


def find_repeat_sale(
    session: Session, postcode: Postcode, address: str, ctx: Context
) -> model.Comparable | None:
    """The latest earlier sale of this very address (same postcode, flat and house)."""
    if not address:
        return None
    rows = session.execute(
        select(
            Sale.transaction_id,
            Sale.price,
            Sale.deed_date,
            Sale.month,
            Sale.postcode,
            Sale.property_type,
            Sale.paon,
            Sale.saon,
            Sale.street,
            Sale.town,
            Sale.latitude,
            Sale.longitude,
        )
        .where(Sale.eligible, Sale.postcode == postcode.unit, Sale.deed_date < ctx.cutoff)
        .order_by(Sale.deed_date.desc())
        .limit(500)
    ).all()
    for row in rows:
        c = model.Comparable(**row._asdict())
        if addr.is_same_property(address, c.saon, c.paon, c.street):
            return c
    return None


def value_sale(
    session: Session,
    postcode: Postcode,
    point: Point,
    property_type: str | None,
    address: str | None,
    ctx: Context,
) -> model.SaleEstimate | None:
    """Comparables from the nearest ring that holds enough of them; None without evidence."""
    series = ctx.series(postcode.district, postcode.area)
    today_level = series.at(ctx.evidence_month)
    subject_address = addr.normalise(address)
    ptype = PPD_TYPE.get(property_type or "")
    for i, stage in enumerate(model.STAGES):
        if not stage.same_type and ptype is None:
            continue  # already searched every type
        types = (ptype,) if stage.same_type and ptype else tuple("DSTF")
        cands = sale_candidates(session, point, stage, types, ctx)
        last = i == len(model.STAGES) - 1
        if len(cands) < model.MIN_COMPARABLES and not (last and cands):
            continue
        model.weigh(
            cands,
            subject_address=subject_address,
            subject_postcode=postcode.unit,
            evidence_month=ctx.evidence_month,
            log_level_at=series.at,
            today_level=today_level,
        )
        chosen = model.choose(cands)
        repeat = find_repeat_sale(session, postcode, subject_address, ctx)
        if repeat is not None:
            repeat.distance_m = 0.0
            repeat.log_today = math.log(repeat.price) + today_level - series.at(repeat.month)
        key = "repeat" if repeat is not None else "comparables"
        return model.estimate(chosen, stage, repeat, ctx.quantiles[key])
    return None


def value_rent(
    session: Session,
    account_id: int | None,
    postcode: Postcode,
    point: Point,
    property_type: str | None,
    bedrooms: int | None,
    sale: model.SaleEstimate | None,
    ctx: Context,
) -> RentEstimate | None:
    """From the account's (and shared) lettings where there are enough nearby; otherwise the
    sale estimate x the region's gross yield."""
    scope = (
        or_(RentalEvidence.account_id == account_id, RentalEvidence.account_id.is_(None))
        if account_id is not None
        else RentalEvidence.account_id.is_(None)
    )
    for radius, months, local in RENT_STAGES:
        sectors = sector_map().near(point.latitude, point.longitude, radius)
        since = _months_before(ctx.cutoff, months)
        found: list[tuple[float, RentalEvidence]] = []
        for chunk in _in_chunks(sectors):
            q = select(RentalEvidence).where(
                scope,
                RentalEvidence.sector.in_(chunk),
                RentalEvidence.let_date >= since,
                RentalEvidence.let_date < ctx.cutoff,
            )
            for ev in session.scalars(q):
                if ev.latitude is None or ev.longitude is None:
                    continue
                d = fast_distance_m(point.latitude, point.longitude, ev.latitude, ev.longitude)
                if d <= radius:
                    found.append((d, ev))
        # Same bedrooms and type where the subject and the letting both say; else any.
        if bedrooms is not None:
            same = [x for x in found if x[1].bedrooms is None or x[1].bedrooms == bedrooms]
            if len(same) >= RENT_MIN_COMPARABLES:
                found = same
        if property_type is not None:
            same = [x for x in found if x[1].property_type in (None, property_type)]
            if len(same) >= RENT_MIN_COMPARABLES:
                found = same
        if len(found) < RENT_MIN_COMPARABLES:
            continue
        found.sort(key=lambda x: x[0])
        values = []
        for d, ev in found:
            age = max(0, (ctx.cutoff - ev.let_date).days) / 30.44
            w = math.exp(-d / 1000.0 - age / 12.0)
            if bedrooms is not None and ev.bedrooms is not None:
                w *= 1.0 if ev.bedrooms == bedrooms else 0.3
            values.append((math.log(ev.monthly_rent), w, d, ev))
        values.sort(key=lambda v: -v[1])
        values = values[: model.K]
        centre = model.weighted_median([(v, w) for v, w, _, _ in values])
        total = sum(w for _, w, _, _ in values)
        var = sum(w * (v - centre) ** 2 for v, w, _, _ in values) / total
        n = len(values)
        spread = math.sqrt((n * var + 2 * RENT_PRIOR_SPREAD**2) / (n + 2))
        z = 1.2816  # 10th..90th percentile of a log-normal
        listed = values[:RENT_LISTED]
        return RentEstimate(
            central=math.exp(centre),
            low=math.exp(centre - z * spread),
            high=math.exp(centre + z * spread),
            basis="rental evidence",
            local=local,
            comparables=[ev for _, _, _, ev in listed],
            distances=[d for _, _, d, _ in listed],
        )
    if sale is None:
        return None
    y = yields.gross_yield(postcode.area, postcode.district)
    monthly = y.percent / 100 / 12
    return RentEstimate(
        central=sale.central * monthly,
        low=sale.low * monthly,
        high=sale.high * monthly,
        basis="gross yield",
        local=False,
        yield_used=y,
    )


def _months_before(d: date, months: int) -> date:
    m = month_of(d) - months
    return date(m // 12, m % 12 + 1, 1)


def valuate(
    session: Session,
    *,
    postcode: str | None,
    property_type: str | None = None,
    bedrooms: int | None = None,
    address: str | None = None,
    lead_type: str = "vendor",
    account_id: int | None = None,
    ctx: Context | None = None,
    with_rent: bool = True,
) -> Valuation:
    pc = parse(postcode)
    loc = locate(session, pc) if pc else None
    if pc is None or loc is None:
        return Valuation(NOT_FOUND)
    point = Point(loc.latitude, loc.longitude, loc.precision)
    ctx = ctx or live_context(session)
    sale = value_sale(session, pc, point, property_type, address, ctx)
    rent = (
        value_rent(session, account_id, pc, point, property_type, bedrooms, sale, ctx)
        if with_rent
        else None
    )
    # The status speaks of the evidence behind the estimate the lead asked for: sales for a
    # vendor, lettings for a landlord (a rent from the yield is not comparable lettings).
    primary_local = (
        (rent.local if rent else False) if lead_type == "landlord" else bool(sale and sale.local)
    )
    status = SUCCESS if primary_local else NOT_ENOUGH
    return Valuation(status, sale, rent, loc.precision)


def comparable_props(v: Valuation) -> list[dict[str, Any]] | None:
    """What the lead shows of the evidence: each comparable with where, when, what and how
    far. ``evidence`` says whether it is a sale (price £) or a letting (rent £ pcm)."""
    if v.sale is None and v.rent is None:
        return None
    out: list[dict[str, Any]] = []
    if v.sale is not None:
        listed = ([v.sale.repeat] if v.sale.repeat else []) + v.sale.comparables
        for c in listed:
            out.append(
                {
                    "evidence": "sale",
                    "address": c.address or None,
                    "postcode": c.postcode,
                    "price": c.price,
                    "date": c.deed_date.isoformat(),
                    "property_type": API_TYPE.get(c.property_type),
                    "distance": round(c.distance_m),
                    "price_today": model.round_price(math.exp(c.log_today)),
                    "same_property": c is v.sale.repeat,
                }
            )
    if v.rent is not None:
        for ev, d in zip(v.rent.comparables, v.rent.distances, strict=True):
            out.append(
                {
                    "evidence": "rent",
                    "address": ev.address,
                    "postcode": ev.postcode,
                    "price": ev.monthly_rent,
                    "date": ev.let_date.isoformat(),
                    "property_type": ev.property_type,
                    "distance": round(d),
                    "bedrooms": ev.bedrooms,
                }
            )
    return out


def apply(lead: Lead, v: Valuation) -> None:
    """The six estimates, the status and the evidence, onto the lead before it is stored."""
    lead.valuation_status = v.status
    if v.sale is not None:
        low = model.round_price(v.sale.low)
        mid = model.round_price(v.sale.central)
        high = model.round_price(v.sale.high)
        lead.minimum_sale_estimation = min(low, mid)
        lead.average_sale_estimation = mid
        lead.maximum_sale_estimation = max(high, mid)
    if v.rent is not None:
        low = model.round_rent(v.rent.low)
        mid = model.round_rent(v.rent.central)
        high = model.round_rent(v.rent.high)
        lead.minimum_rent_estimation = min(low, mid)
        lead.average_rent_estimation = mid
        lead.maximum_rent_estimation = max(high, mid)
    lead.comparable_props = comparable_props(v)
