"""The demo's evidence: the shipped Price Paid samples (SW19, Greater Manchester, Newcastle)
and their unit postcodes, imported once into an empty database by ``doorstep demo``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from doorstep.geo.importer import import_units
from doorstep.imports import progress
from doorstep.models import Sale
from doorstep.valuation import calibration, importer

SAMPLES = (
    "pp_london_sw19_2010-2018.csv.gz",
    "pp_greater_manchester_2019.csv.gz",
    "pp_newcastle_ne_2022.csv.gz",
)


def sample_dir() -> Path:
    return Path(str(resources.files("doorstep.valuation") / "samples"))


def ensure_demo_sales(engine: Engine, show_progress: bool = True) -> dict[str, Any] | None:
    """Import the samples unless the database already holds sales; None when it did."""
    with engine.connect() as conn:
        if conn.scalar(select(func.count()).select_from(Sale)):
            return None
    folder = sample_dir()
    units = folder / "units_in_samples.csv.gz"
    with progress("Demo postcodes", units.stat().st_size, show_progress) as bar:
        import_units(engine, units, bar)
    results = []
    for name in SAMPLES:
        path = folder / name
        with progress(f"Demo sales {name}", path.stat().st_size, show_progress) as bar:
            results.append(importer.import_file(engine, path, bar))
    model = calibration.rebuild_model(engine)
    return {
        "sales": sum(r.stored for r in results),
        "eligible": sum(r.eligible for r in results),
        "months": [model["first_month"], model["last_month"]],
    }
