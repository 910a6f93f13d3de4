"""After every import: rebuild the price index, then calibrate the range on the data itself.

Calibration repeats, inside the imported sales, what a valuation faces in use: the last three
months of sales are hidden, a price index is built from the months before them, and each hidden
sale (up to ``CALIBRATION_SALES``, a pseudo-random sample: transaction ids are random) is
valued from the earlier evidence alone, as the API would value it. Where those months hold
fewer sales (one district's evidence), the three months before them are hidden and valued the
same way, and so on for up to ``MAX_WINDOWS`` windows: read off one SW19 quarter (200-360 sales),
the 10th percentile ranged from -0.76 to -1.62 over twelve quarters. An earlier window values
only sales of districts with a year of evidence before it, so that its errors are those of a
model that knows about as much as the live one (an area imported for a few months calibrates on
its last quarter alone). The 10th and 90th percentiles of the standardised errors, log(actual /
estimate) / spread, become the range's multipliers, so about 80% of real prices fall between
the minimum and maximum estimates."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from doorstep.models import Sale, ValuationModel
from doorstep.valuation import index, service
from doorstep.valuation.ppd import month_start

HOLDOUT_MONTHS = 3
CALIBRATION_SALES = 2000
MAX_WINDOWS = 4
MIN_HISTORY_MONTHS = 12  # of evidence before any window but the last
MIN_GROUP = 40  # fewer errors than this and a group borrows the pooled quantiles
MIN_TRAINING_SALES = 200


@dataclass
class Calibration:
    sales: int = 0
    quantiles: dict[str, list[float]] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    mdape: float | None = None
    cutoff: str | None = None
    reason: str | None = None


def subject_address(s: Sale | Any) -> str:
    """A sale's address as a vendor would type it."""
    return ", ".join(p for p in (s.saon, s.paon, s.street, s.locality, s.town) if p)


def _quantile(values: list[float], q: float) -> float:
    values = sorted(values)
    pos = q * (len(values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def _value_window(
    session: Session,
    start: int,
    limit: int,
    z: dict[str, list[float]],
    ape: list[float],
    progress: Callable[[int, int], None] | None,
    seasoned_only: bool = False,
) -> int:
    """Value up to ``limit`` sales of the months from ``start`` as the API would have the day
    before, from the evidence and an index of the months before ``start`` alone; with
    ``seasoned_only``, only sales of districts with a year of evidence before ``start``.
    Returns how many sales it took."""
    q = select(Sale).where(Sale.eligible, Sale.month >= start, Sale.month < start + HOLDOUT_MONTHS)
    if seasoned_only:
        seasoned = (
            select(Sale.district)
            .where(Sale.eligible)
            .group_by(Sale.district)
            .having(func.min(Sale.month) <= start - MIN_HISTORY_MONTHS)
        )
        q = q.where(Sale.district.in_(seasoned))
    hidden = session.scalars(q.order_by(Sale.transaction_id).limit(limit)).all()
    if not hidden:
        return 0
    computed = index.compute(session.connection(), before_month=start)
    ctx = service.Context(
        cutoff=month_start(start),
        evidence_month=start - 1,
        quantiles={"comparables": (0.0, 0.0), "repeat": (0.0, 0.0)},
        series=lambda district, area: index.series_from(computed, district, area),
    )
    for i, s in enumerate(hidden):
        v = service.valuate(
            session,
            postcode=s.postcode,
            property_type=service.API_TYPE.get(s.property_type),
            address=subject_address(s),
            ctx=ctx,
            with_rent=False,
        )
        if progress:
            progress(i + 1, len(hidden))
        if v.sale is None:
            continue
        err = math.log(s.price / v.sale.central)
        z["repeat" if v.sale.repeat else "comparables"].append(err / v.sale.spread)
        ape.append(abs(v.sale.central / s.price - 1))
    return len(hidden)


def calibrate(
    engine: Engine,
    first_month: int | None,
    last_month: int | None,
    progress: Callable[[int, int], None] | None = None,
) -> Calibration:
    """The range's quantiles from the eligible sales of ``first_month`` .. ``last_month``."""
    if first_month is None or last_month is None:
        return Calibration(reason="no sales")
    z: dict[str, list[float]] = {"comparables": [], "repeat": []}
    ape: list[float] = []
    cutoff = month_start(last_month - HOLDOUT_MONTHS + 1)
    reason = None
    with Session(engine) as session:
        for window in range(MAX_WINDOWS):
            start = last_month - HOLDOUT_MONTHS * (window + 1) + 1
            wanted = CALIBRATION_SALES - len(ape)
            if window and (wanted <= 0 or start - first_month < MIN_HISTORY_MONTHS):
                break  # enough errors, or no district has a year of evidence before it
            before = session.scalar(
                select(func.count()).select_from(Sale).where(Sale.eligible, Sale.month < start)
            )
            if (before or 0) < MIN_TRAINING_SALES:
                if not window:
                    reason = f"only {before or 0} sales before {cutoff}: default range used"
                break
            if _value_window(session, start, wanted, z, ape, progress, seasoned_only=window > 0):
                cutoff = month_start(start)
    if reason:
        return Calibration(cutoff=cutoff.isoformat(), reason=reason)
    pooled = z["comparables"] + z["repeat"]
    if len(pooled) < MIN_GROUP:
        return Calibration(
            sales=len(pooled),
            cutoff=cutoff.isoformat(),
            reason=f"only {len(pooled)} sales could be valued: default range used",
        )
    both = [_quantile(pooled, 0.1), _quantile(pooled, 0.9)]
    quantiles = {
        key: ([_quantile(vals, 0.1), _quantile(vals, 0.9)] if len(vals) >= MIN_GROUP else both)
        for key, vals in z.items()
    }
    return Calibration(
        sales=len(pooled),
        quantiles=quantiles,
        groups={k: len(v) for k, v in z.items()},
        mdape=round(100 * statistics.median(ape), 2),
        cutoff=cutoff.isoformat(),
    )


def rebuild_model(
    engine: Engine, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Index and calibration from every sale in the database; stored as the current model."""
    started = time.perf_counter()
    summary = index.rebuild(engine)
    indexed = time.perf_counter()
    cal = calibrate(engine, summary.first_month, summary.last_month, progress)
    done = time.perf_counter()
    params = {
        "quantiles": cal.quantiles,
        "calibration": {
            "sales": cal.sales,
            "groups": cal.groups,
            "mdape": cal.mdape,
            "cutoff": cal.cutoff,
            "note": cal.reason,
            "seconds": round(done - indexed, 2),
        },
        "index": {
            "regions": summary.regions,
            "rows": summary.rows,
            "seconds": round(indexed - started, 2),
        },
    }
    with Session(engine) as session, session.begin():
        session.add(
            ValuationModel(
                sales=summary.sales,
                first_month=summary.first_month,
                last_month=summary.last_month,
                params=params,
            )
        )
    return {
        "sales": summary.sales,
        "first_month": _month_text(summary.first_month),
        "last_month": _month_text(summary.last_month),
        **params,
    }


def _month_text(month: int | None) -> str | None:
    if month is None:
        return None
    d: date = month_start(month)
    return f"{d.year}-{d.month:02d}"
