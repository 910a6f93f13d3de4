"""``doorstep geo import``: unit-postcode coordinates from the ONS Postcode Directory (ONSPD /
NSPL: ``pcds``, ``lat``, ``long``) or simple ``postcode,latitude,longitude`` files."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from doorstep.errors import DoorstepError
from doorstep.geo.postcodes import parse
from doorstep.imports import Tracker, open_text
from doorstep.models import Account, PostcodeUnit
from doorstep.models.account import new_routing_version

POSTCODE_COLUMNS = ("pcds", "postcode", "pcd", "pcd2")
LAT_COLUMNS = ("lat", "latitude")
LON_COLUMNS = ("long", "longitude", "lon", "lng")
BATCH = 5000


@dataclass
class GeoImportResult:
    rows: int = 0
    imported: int = 0
    skipped_no_coordinates: int = 0
    skipped_bad_postcode: int = 0


def _column(header: list[str], names: tuple[str, ...], what: str) -> int:
    lowered = [h.strip().lower() for h in header]
    for n in names:
        if n in lowered:
            return lowered.index(n)
    raise DoorstepError(
        f"The file has no {what} column (expected one of: {', '.join(names)}); "
        f"its header is: {', '.join(header[:12])}",
        status_code=422,
    )


def import_units(engine: Engine, path: str | Path, tracker: Tracker) -> GeoImportResult:
    result = GeoImportResult()
    ins = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    stmt = ins(PostcodeUnit)
    stmt = stmt.on_conflict_do_update(
        index_elements=["postcode"],
        set_={"latitude": stmt.excluded.latitude, "longitude": stmt.excluded.longitude},
    )
    with open_text(path) as (text, raw, _size):
        reader = csv.reader(text)
        header = next(reader, None)
        if not header:
            raise DoorstepError("The file is empty.", status_code=422)
        ipc = _column(header, POSTCODE_COLUMNS, "postcode")
        ilat = _column(header, LAT_COLUMNS, "latitude")
        ilon = _column(header, LON_COLUMNS, "longitude")
        batch: dict[str, dict[str, object]] = {}

        def flush() -> None:
            if batch:
                with engine.begin() as conn:
                    conn.execute(stmt, list(batch.values()))
                result.imported += len(batch)
                batch.clear()
                tracker.advance_to(raw.tell())

        for row in reader:
            if len(row) <= max(ipc, ilat, ilon):
                continue
            result.rows += 1
            pc = parse(row[ipc])
            if pc is None:
                result.skipped_bad_postcode += 1
                continue
            try:
                lat, lon = float(row[ilat]), float(row[ilon])
            except ValueError:
                result.skipped_no_coordinates += 1
                continue
            # ONSPD marks postcodes without a grid reference with lat 99.999999.
            if not (49.0 <= lat <= 61.5 and -9.0 <= lon <= 3.0):
                result.skipped_no_coordinates += 1
                continue
            batch[pc.unit] = {"postcode": pc.unit, "latitude": lat, "longitude": lon}
            if len(batch) >= BATCH:
                flush()
        flush()
    if result.imported:
        # Unit coverage entries are measured from these coordinates: routing tables reload.
        with engine.begin() as conn:
            conn.execute(update(Account).values(routing_version=new_routing_version()))
    return result
