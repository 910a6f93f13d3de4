"""``doorstep geo import``: unit-postcode coordinates from the ONS Postcode Directory (ONSPD /
NSPL: ``pcds``, ``lat``, ``long``) or simple ``postcode,latitude,longitude`` files."""

from __future__ import annotations

import csv
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from doorstep.errors import DoorstepError
from doorstep.geo.postcodes import parse
from doorstep.imports import RowErrors, Tracker, open_text
from doorstep.models import Account, PostcodeUnit
from doorstep.models.account import new_routing_version

POSTCODE_COLUMNS = ("pcds", "postcode", "pcd", "pcd2")
LAT_COLUMNS = ("lat", "latitude")
LON_COLUMNS = ("long", "longitude", "lon", "lng")
BATCH = 5000
# ONSPD/NSPL give a postcode without a grid reference this latitude (or no coordinates at all).
NO_GRID_LATITUDE = 99.999999


@dataclass
class GeoImportResult(RowErrors):
    """Every row is counted once: imported, skipped (no coordinates, not a postcode) or
    invalid (too few columns, coordinates that are not numbers or not in the UK)."""

    rows: int = 0
    imported: int = 0
    skipped_no_coordinates: int = 0
    skipped_bad_postcode: int = 0
    invalid: int = 0

    def reject(self, line: int, reason: str) -> None:
        self.invalid += 1
        self.note(line, reason)


def _column(header: list[str], names: tuple[str, ...], what: str) -> int:
    lowered = [h.strip().lower() for h in header]
    for n in names:
        if n in lowered:
            return lowered.index(n)
    raise DoorstepError(
        f"The file has no {what} column (expected one of: {', '.join(names)}); "
        f"its header is: {', '.join(h[:40] for h in header[:12])}",
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
    try:
        _read(engine, stmt, path, tracker, result)
    except (EOFError, OSError, zlib.error) as e:  # a truncated or damaged gzip file
        raise DoorstepError(
            f"{path}: the file is damaged after {result.rows:,} rows ({e}); the postcodes "
            "before that are imported: import a whole copy again.",
            status_code=422,
        ) from None
    finally:
        if result.imported:
            # Unit coverage entries are measured from these coordinates: routing tables reload.
            with engine.begin() as conn:
                conn.execute(update(Account).values(routing_version=new_routing_version()))
    return result


def _read(
    engine: Engine, stmt: Any, path: str | Path, tracker: Tracker, result: GeoImportResult
) -> None:
    with open_text(path) as (text, raw, _size):
        reader = csv.reader(text)
        try:
            header = next((r for r in reader if any(c.strip() for c in r)), None)
        except csv.Error as e:
            raise DoorstepError(f"{path}: the header is not CSV ({e}).", status_code=422) from None
        if not header:
            raise DoorstepError(f"{path}: the file is empty.", status_code=422)
        if any("\x00" in h or "\ufffd" in h for h in header):
            raise DoorstepError(
                f"{path} is not CSV text (a spreadsheet, an archive or another encoding): "
                "save it as CSV (UTF-8).",
                status_code=422,
            )
        ipc = _column(header, POSTCODE_COLUMNS, "postcode")
        ilat = _column(header, LAT_COLUMNS, "latitude")
        ilon = _column(header, LON_COLUMNS, "longitude")
        batch: dict[str, dict[str, object]] = {}

        def flush() -> None:
            if batch:
                with engine.begin() as conn:
                    conn.execute(stmt, list(batch.values()))
                batch.clear()
                tracker.advance_to(raw.tell())

        width = max(ipc, ilat, ilon) + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:  # an unclosed quote past the field limit, say
                result.rows += 1
                result.reject(reader.line_num, f"not CSV: {e}.")
                continue
            if not any(c.strip() for c in row):
                continue
            result.rows += 1
            if len(row) < width:
                result.reject(reader.line_num, f"{len(row)} columns, expected at least {width}.")
                continue
            pc = parse(row[ipc])
            if pc is None:
                result.skipped_bad_postcode += 1
                continue
            lat_text, lon_text = row[ilat].strip(), row[ilon].strip()
            if not lat_text and not lon_text:
                result.skipped_no_coordinates += 1
                continue
            try:
                lat, lon = float(lat_text), float(lon_text)
            except ValueError:
                result.reject(
                    reader.line_num, f"coordinates '{lat_text}', '{lon_text}' are not numbers."
                )
                continue
            if lat == NO_GRID_LATITUDE:
                result.skipped_no_coordinates += 1
                continue
            if not (49.0 <= lat <= 61.5 and -9.0 <= lon <= 3.0):
                result.reject(reader.line_num, f"coordinates {lat}, {lon} are not in the UK.")
                continue
            # A postcode repeated in a batch: the later row wins, as a later batch would.
            result.imported += 1
            batch[pc.unit] = {"postcode": pc.unit, "latitude": lat, "longitude": lon}
            if len(batch) >= BATCH:
                flush()
        flush()
