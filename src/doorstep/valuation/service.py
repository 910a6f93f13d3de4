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
from doorstep.valuation.geo import Point, bearing_deg, fast_distance_m, sector_map
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
# In the densest places the newest sales nearby are plenty: the rest would weigh little.
LOCAL_ROWS = 2_000
# Widening takes the newest sales of each batch of nearest sectors: enough to choose from.
WIDE_BATCH_ROWS = 1_000


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
    point: Point | None = None  # where the home was located (for the comparables' bearings)

    def explain(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "location_precision": self.precision}
        if self.sale:
            out["sale"] = {
                "comparables": len(self.sale.comparables),
                "radius_m": self.sale.stage.radius_m,
                "farthest_m": round(max(c.distance_m for c in self.sale.comparables)),
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


# A region's index only changes when the model is rebuilt: kept per process, per model.
_series_cache: dict[tuple[int, str, str], Series] = {}


def live_context(session: Session, today: date | None = None) -> Context:
    today = today or datetime.now(UTC).date()
    m = current_model(session)
    last = m.last_month if m and m.last_month is not None else month_of(today)
    model_id = m.id if m else None

    def series(district: str, area: str) -> Series:
        if model_id is None:
            return load_series(session, district, area)
        key = (model_id, district, area)
        found = _series_cache.get(key)
        if found is None:
            if len(_series_cache) > 10_000:
                _series_cache.clear()
            found = _series_cache[key] = load_series(session, district, area)
        return found

    return Context(
        cutoff=today,
        evidence_month=min(month_of(today), last),
        quantiles=_quantiles(m.params if m else None),
        series=series,
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


_SALE_COLUMNS = (
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


def _sales(
    session: Session,
    sectors: list[str],
    types: tuple[str, ...],
    since_month: int,
    ctx: Context,
    box: tuple[float, float, float, float] | None = None,
    newest: int = CANDIDATE_LIMIT,
) -> list[Any]:
    rows: list[Any] = []
    for chunk in _in_chunks(sectors):
        q = select(*_SALE_COLUMNS).where(
            Sale.eligible,
            Sale.sector.in_(chunk),
            Sale.property_type.in_(types),
            Sale.month >= since_month,
            Sale.deed_date < ctx.cutoff,
        )
        if box is not None:
            q = q.where(Sale.latitude.between(box[0], box[1]))
            q = q.where(Sale.longitude.between(box[2], box[3]))
        # Core, not ORM, execution: thousands of plain rows in a dense city.
        if newest < CANDIDATE_LIMIT:
            q = q.order_by(Sale.month.desc(), Sale.transaction_id)
        rows.extend(session.connection().execute(q.limit(newest)).all())
    return rows


def find_repeat_sale(
    session: Session, postcode: Postcode, address: str, ctx: Context, ptype: str | None = None
) -> model.Comparable | None:
    """The latest earlier sale of this very address (same postcode, flat and house), and of
    the property type the vendor gives: a Tyneside flat at 27 is not the terraced house a
    vendor at 27 describes, and a repeat sale weighs 70% of the estimate."""
    if not address:
        return None
    q = select(*_SALE_COLUMNS).where(
        Sale.eligible, Sale.postcode == postcode.unit, Sale.deed_date < ctx.cutoff
    )
    if ptype:
        q = q.where(Sale.property_type == ptype)
    rows = session.execute(q.order_by(Sale.deed_date.desc()).limit(500))
    for row in rows:
        c = model.Comparable(*row)  # type: ignore[call-arg]
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
    """Comparables within 2 km if there are enough ("local"), else from the nearest sectors
    outwards until there are; None when there is no evidence at all."""
    series = ctx.series(postcode.district, postcode.area)
    subject_address = addr.normalise(address)
    ptype = PPD_TYPE.get(property_type or "")
    scoring: dict[str, Any] = {
        "latitude": point.latitude,
        "longitude": point.longitude,
        "subject_address": subject_address,
        "subject_postcode": postcode.unit,
        "evidence_month": ctx.evidence_month,
        "log_level_at": series.at,
        "today_level": series.at(ctx.evidence_month),
    }
    smap = sector_map()
    local = model.LOCAL
    types = (ptype,) if ptype else tuple("DSTF")
    # Half the radius first: in a dense city it holds plenty, at a quarter of the rows.
    for radius in (local.radius_m / 2, local.radius_m):
        rows = _sales(
            session,
            smap.near(point.latitude, point.longitude, radius),
            types,
            ctx.evidence_month - local.lookback_months,
            ctx,
            _bbox(point, radius),
            newest=LOCAL_ROWS,
        )
        found, chosen = model.score(rows, radius_m=radius, **scoring)
        if found >= model.WIDE_ENOUGH:
            break
    stage = local
    if found < model.MIN_COMPARABLES:
        chosen = []
        wide = model.WIDER if ptype else model.ANY_TYPE
        for stage in (wide, model.ANY_TYPE) if ptype else (wide,):
            stage_types = (ptype,) if stage.same_type and ptype else tuple("DSTF")
            nearest = smap.nearest(point.latitude, point.longitude, stage.radius_m)
            rows, batch, start = [], 8, 0
            while start < len(nearest) and len(rows) < model.WIDE_ENOUGH:
                sectors = [code for _, code in nearest[start : start + batch]]
                rows.extend(
                    _sales(
                        session,
                        sectors,
                        stage_types,
                        ctx.evidence_month - stage.lookback_months,
                        ctx,
                        newest=WIDE_BATCH_ROWS,
                    )
                )
                start, batch = start + batch, batch * 2
            found, chosen = model.score(rows, radius_m=stage.radius_m, **scoring)
            if chosen:
                break
        if not chosen:
            return None
    repeat = find_repeat_sale(session, postcode, subject_address, ctx, ptype)
    if repeat is not None:
        repeat.log_today = (
            math.log(repeat.price) + series.at(ctx.evidence_month) - series.at(repeat.month)
        )
    key = "repeat" if repeat is not None else "comparables"
    return model.estimate(chosen, stage, repeat, ctx.quantiles[key])


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
    has_lettings = session.scalar(select(RentalEvidence.id).where(scope).limit(1))
    pool: list[tuple[float, RentalEvidence]] = []
    if has_lettings is not None:
        widest, longest = max(r for r, _, _ in RENT_STAGES), max(m for _, m, _ in RENT_STAGES)
        since = _months_before(ctx.cutoff, longest)
        for chunk in _in_chunks(sector_map().near(point.latitude, point.longitude, widest)):
            q = select(RentalEvidence).where(
                scope,
                RentalEvidence.sector.in_(chunk),
                RentalEvidence.let_date >= since,
                RentalEvidence.let_date < ctx.cutoff,
            )
            for ev in session.scalars(q):
                if ev.latitude is not None and ev.longitude is not None:
                    d = fast_distance_m(point.latitude, point.longitude, ev.latitude, ev.longitude)
                    pool.append((d, ev))
    for radius, months, local in RENT_STAGES if pool else ():
        since = _months_before(ctx.cutoff, months)
        found = [(d, ev) for d, ev in pool if d <= radius and ev.let_date >= since]
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
    return Valuation(status, sale, rent, loc.precision, point)


def comparable_props(v: Valuation) -> list[dict[str, Any]] | None:
    """What the lead shows of the evidence: each comparable with where, when, what and how
    far (and in which direction: ``bearing``, degrees from north; null at the home itself).
    ``evidence`` says whether it is a sale (price £) or a letting (rent £ pcm)."""
    if v.sale is None and v.rent is None:
        return None
    out: list[dict[str, Any]] = []
    home = v.point

    def bearing(lat: float | None, lon: float | None, distance: float) -> int | None:
        if home is None or lat is None or lon is None or round(distance) == 0:
            return None
        return bearing_deg(home.latitude, home.longitude, lat, lon)

    if v.sale is not None:
        # The earlier sale of this very home comes first, and once: it is often a comparable too.
        repeat = v.sale.repeat
        others = [
            c for c in v.sale.comparables if not repeat or c.transaction_id != repeat.transaction_id
        ]
        for c in ([repeat] if repeat else []) + others:
            out.append(
                {
                    "evidence": "sale",
                    "address": c.address or None,
                    "postcode": c.postcode,
                    "price": c.price,
                    "date": c.deed_date.isoformat(),
                    "property_type": API_TYPE.get(c.property_type),
                    "distance": round(c.distance_m),
                    "bearing": bearing(c.latitude, c.longitude, c.distance_m),
                    "price_today": model.round_price(math.exp(c.log_today)),
                    "same_property": c is repeat,
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
                    "bearing": bearing(ev.latitude, ev.longitude, d),
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
