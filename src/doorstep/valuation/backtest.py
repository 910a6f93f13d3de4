"""``doorstep valuation backtest``: how good are the estimates on sales the model never saw.

The training files are imported into a scratch database exactly as ``prices import`` would
(index and range calibration included, from the training data only). Each sale of the test
files (category A, houses and flats) is then valued as of its own date, from the postcode,
property type and address a vendor would give, through the same code as the API."""

from __future__ import annotations

import csv
import math
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from doorstep import db, migrate
from doorstep.geo.importer import import_units
from doorstep.imports import open_text, progress
from doorstep.valuation import calibration, importer, index, service
from doorstep.valuation.ppd import FormatError, Layout, PricePaid, month_of


def read_sales(path: str | Path) -> list[PricePaid]:
    out: list[PricePaid] = []
    with open_text(path) as (text, _raw, _size):
        reader = csv.reader(text)
        first = next(reader, None)
        if first is None:
            return out
        layout = Layout.detect(first)
        rows: Any = reader if layout.has_header else [first, *reader]
        for row in rows:
            if not row:
                continue
            try:
                out.append(layout.parse(row))
            except FormatError:
                continue
    return out


def _pct(values: list[float], limit: float) -> float:
    return round(100 * sum(1 for v in values if v <= limit) / len(values), 2)


def run(
    train: Sequence[Path],
    test: Sequence[Path],
    geo: Sequence[Path] = (),
    show_progress: bool = False,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="doorstep-backtest-") as tmp:
        engine = db.build_engine(f"sqlite:///{tmp}/backtest.db")
        try:
            migrate.upgrade(engine)
            for g in geo:
                with progress(f"Geography {g.name}", g.stat().st_size, show_progress) as bar:
                    import_units(engine, g, bar)
            imported = []
            for f in train:
                with progress(f"Training {f.name}", f.stat().st_size, show_progress) as bar:
                    imported.append(importer.import_file(engine, f, bar))
            model = calibration.rebuild_model(engine)
            result = _evaluate(engine, test, model)
        finally:
            engine.dispose()
    result["train"] = {
        "files": [str(f) for f in train],
        "sales": sum(r.stored for r in imported),
        "eligible": sum(r.eligible for r in imported),
        "months": [model["first_month"], model["last_month"]],
    }
    result["calibration"] = model["calibration"] | {"quantiles": model["quantiles"]}
    return result


def _evaluate(engine: Any, test: Sequence[Path], model: dict[str, Any]) -> dict[str, Any]:
    errors: list[float] = []
    signed: list[float] = []
    inside = 0
    statuses: dict[str, int] = {}
    unvalued = 0
    skipped = 0
    with Session(engine) as session:
        live = service.live_context(session)
        cache: dict[tuple[str, str], index.Series] = {}

        def series(district: str, area: str) -> index.Series:
            if (district, area) not in cache:
                cache[(district, area)] = index.load_series(session, district, area)
            return cache[(district, area)]

        last = live.evidence_month
        for f in test:
            for s in read_sales(f):
                if s.record_status == "D" or not s.eligible:
                    skipped += 1
                    continue
                ctx = service.Context(
                    cutoff=s.deed_date,
                    evidence_month=min(month_of(s.deed_date), last),
                    quantiles=live.quantiles,
                    series=series,
                )
                v = service.valuate(
                    session,
                    postcode=s.postcode.unit if s.postcode else None,
                    property_type=service.API_TYPE.get(s.property_type),
                    address=calibration.subject_address(s),
                    ctx=ctx,
                    with_rent=False,
                )
                statuses[v.status] = statuses.get(v.status, 0) + 1
                if v.sale is None:
                    unvalued += 1
                    continue
                low = service.model.round_price(v.sale.low)
                mid = service.model.round_price(v.sale.central)
                high = service.model.round_price(v.sale.high)
                errors.append(abs(mid - s.price) / s.price)
                signed.append(math.log(mid / s.price))
                inside += 1 if min(low, mid) <= s.price <= max(high, mid) else 0
    n = len(errors)
    return {
        "count": n,
        "mdape": round(100 * statistics.median(errors), 2) if n else None,
        "within_10pct": _pct(errors, 0.10) if n else None,
        "within_20pct": _pct(errors, 0.20) if n else None,
        "interval_coverage": round(100 * inside / n, 2) if n else None,
        "median_log_error": round(statistics.median(signed), 4) if n else None,
        "not_valued": unvalued,
        "skipped_not_eligible": skipped,
        "statuses": statuses,
    }
