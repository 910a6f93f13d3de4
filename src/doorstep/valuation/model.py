"""The sale valuation: comparables, weights, central estimate and an honest range.

Pure functions over candidates the repository fetched, so the API and the back-test run the
same arithmetic. Parameters are module constants, documented in README "Instant valuation"."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from doorstep.valuation import address as addr

# How many comparables a valuation uses (the best by weight).
K = 15
# Weight of a comparable: exp(-distance/DISTANCE_SCALE - age/AGE_SCALE), times a bonus when it
# is in the same unit postcode or on the same street as the subject.
DISTANCE_SCALE_M = 600.0
AGE_SCALE_MONTHS = 24.0
SAME_POSTCODE_BONUS = 5.0
SAME_STREET_BONUS = 3.0
# An earlier sale of the very address, brought to today, blended with the comparables.
REPEAT_SALE_WEIGHT = 0.7
# Central estimate: a blend of the NEAR_K best-weighted comparables (their weighted median,
# NEAR_SHARE of the blend) and all K (the mean of their weighted median and weighted mean of
# log prices). The few nearest speak of the very street; the mean and the wider set damp the
# noise of any one sale. Chosen on validation months inside the training data (README).
NEAR_K = 8
NEAR_SHARE = 0.3
# Prior on the spread of log prices, for when the comparables are few.
PRIOR_SPREAD = 0.25
PRIOR_WEIGHT = 2.0
# Interval: central x exp(q * spread), q the calibrated 10th and 90th percentiles of
# standardised errors. Before any calibration, those of a normal distribution.
DEFAULT_QUANTILES = (-1.2816, 1.2816)


@dataclass(frozen=True)
class Stage:
    """Where the comparables were found."""

    radius_m: float
    lookback_months: int
    same_type: bool
    local: bool  # enough comparables here is a "Success"


# Local: enough sales of the type within 2 km in the last 5 years of evidence is a Success.
LOCAL = Stage(2_000, 60, True, True)
# Otherwise the nearest sectors are added until WIDE_ENOUGH sales of the type are found
# (up to 40 km, 20 years), and failing any, of every type.
WIDER = Stage(40_000, 240, True, False)
ANY_TYPE = Stage(40_000, 240, False, False)
MIN_COMPARABLES = 5
WIDE_ENOUGH = 30


@dataclass
class Comparable:
    transaction_id: str
    price: int
    deed_date: date
    month: int
    postcode: str | None
    property_type: str
    paon: str | None
    saon: str | None
    street: str | None
    town: str | None
    latitude: float
    longitude: float
    distance_m: float = 0.0
    log_today: float = 0.0
    weight: float = 0.0

    @property
    def address(self) -> str:
        return ", ".join(p for p in (self.saon, self.paon, self.street, self.town) if p)


@dataclass
class SaleEstimate:
    central: float
    low: float
    high: float
    spread: float
    comparables: list[Comparable]
    stage: Stage
    repeat: Comparable | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def local(self) -> bool:
        return self.stage.local


def score(
    rows: Iterable[Any],
    *,
    latitude: float,
    longitude: float,
    radius_m: float,
    subject_address: str,
    subject_postcode: str,
    evidence_month: int,
    log_level_at: Callable[[int], float],
    today_level: float,
) -> tuple[int, list[Comparable]]:
    """(how many sales lie within the radius, the best K of them as comparables).

    A row is (transaction_id, price, deed_date, month, postcode, property_type, paon, saon,
    street, town, latitude, longitude). Its weight falls with distance and age and rises for
    the same unit postcode or street; its price is brought to today by the index."""
    cos_lat = math.cos(math.radians(latitude))
    scored = []
    for row in rows:
        x = math.radians(row[11] - longitude) * cos_lat
        y = math.radians(row[10] - latitude)
        d = 6_371_008.8 * math.sqrt(x * x + y * y)
        if d > radius_m:
            continue
        w = math.exp(-d / DISTANCE_SCALE_M - max(0, evidence_month - row[3]) / AGE_SCALE_MONTHS)
        if row[4] == subject_postcode:
            w *= SAME_POSTCODE_BONUS
        if subject_address and addr.on_street(subject_address, row[8]):
            w *= SAME_STREET_BONUS
        scored.append((w, d, row))
    # Equal weights (same postcode, same month) are ordered by transaction id, not by the
    # order the database returns rows in: the same sales give the same valuation.
    best = heapq.nlargest(K, scored, key=lambda t: (t[0], t[2][0]))
    chosen = []
    for w, d, row in best:
        c = Comparable(*row)
        c.distance_m = d
        c.weight = w
        c.log_today = math.log(c.price) + today_level - log_level_at(c.month)
        chosen.append(c)
    return len(scored), chosen


def weighted_median(values: list[tuple[float, float]]) -> float:
    values = sorted(values)
    total = sum(w for _, w in values)
    acc = 0.0
    for v, w in values:
        acc += w
        if acc >= total / 2:
            return v
    return values[-1][0]


def estimate(
    chosen: list[Comparable],
    stage: Stage,
    repeat: Comparable | None,
    quantiles: tuple[float, float],
) -> SaleEstimate:
    values = sorted(((c.log_today, c.weight) for c in chosen), key=lambda t: -t[1])
    total = sum(w for _, w in values)
    whole = (weighted_median(values) + sum(v * w for v, w in values) / total) / 2
    centre = NEAR_SHARE * weighted_median(values[:NEAR_K]) + (1 - NEAR_SHARE) * whole
    var = sum(w * (v - centre) ** 2 for v, w in values) / total
    n_eff = total**2 / sum(w * w for _, w in values)
    spread = math.sqrt((n_eff * var + PRIOR_WEIGHT * PRIOR_SPREAD**2) / (n_eff + PRIOR_WEIGHT))
    if repeat is not None:
        centre = REPEAT_SALE_WEIGHT * repeat.log_today + (1 - REPEAT_SALE_WEIGHT) * centre
    q_low, q_high = quantiles
    low = centre + min(0.0, q_low) * spread
    high = centre + max(0.0, q_high) * spread
    return SaleEstimate(
        central=math.exp(centre),
        low=math.exp(low),
        high=math.exp(high),
        spread=spread,
        comparables=chosen,
        stage=stage,
        repeat=repeat,
    )


def round_price(value: float) -> int:
    """Sale estimates to the nearest £1,000 (£100 under £100,000): more digits would claim
    a precision the evidence does not have."""
    step = 100 if value < 100_000 else 1000
    return int(round(value / step) * step)


def round_rent(value: float) -> int:
    return int(round(value / 5) * 5)
