"""``doorstep prices import``: Price Paid Data streamed into ``sales`` in batches.

Memory stays bounded whatever the file size: rows are read one at a time and written every
``BATCH`` rows (only the current batch is held). Each batch is its own transaction, keyed by
transaction id, so an interrupted import can simply be run again."""

from __future__ import annotations

import csv
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from doorstep.errors import DoorstepError
from doorstep.imports import RowErrors, Tracker, open_text
from doorstep.models import PostcodeUnit, RentalEvidence, Sale
from doorstep.valuation.geo import centroid_point, locate_many
from doorstep.valuation.ppd import FormatError, Layout, PricePaid

BATCH = 5000
NOT_LOCATED = "postcode not located"


@dataclass
class FileResult(RowErrors):
    file: str
    form: str = ""
    rows: int = 0
    stored: int = 0  # added or changed (A and C records)
    deleted: int = 0  # D records (a sale that was never imported is simply absent)
    eligible: int = 0  # of the stored: usable as comparables
    unusable: dict[str, int] = field(default_factory=dict)  # the others, by reason
    malformed: int = 0
    seconds: float = 0.0
    failed: str | None = None  # why the file stopped before its end (what came before stays)

    def reject(self, line: int, reason: object) -> None:
        self.malformed += 1
        self.note(line, reason)


def _upsert(engine: Engine) -> Any:
    ins = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    stmt = ins(Sale)
    cols = [c.name for c in Sale.__table__.columns if c.name != "transaction_id"]
    return stmt.on_conflict_do_update(
        index_elements=["transaction_id"], set_={c: stmt.excluded[c] for c in cols}
    )


def _row(r: PricePaid, points: dict[str, Any]) -> dict[str, Any]:
    pc = r.postcode
    point = points.get(pc.unit) if pc else None
    return {
        "transaction_id": r.transaction_id,
        "price": r.price,
        "deed_date": r.deed_date,
        "month": r.month,
        "postcode": pc.unit if pc else (r.raw_postcode[:8] or None),
        "sector": pc.sector if pc else None,
        "district": pc.district if pc else None,
        "area": pc.area if pc else None,
        "property_type": r.property_type,
        "new_build": r.new_build,
        "tenure": r.tenure,
        "paon": r.paon[:100] or None,
        "saon": r.saon[:100] or None,
        "street": r.street[:100] or None,
        "locality": r.locality[:100] or None,
        "town": r.town[:100] or None,
        "category": r.category,
        "eligible": r.eligible and point is not None,
        "latitude": point.latitude if point else None,
        "longitude": point.longitude if point else None,
        "geo_precision": point.precision if point else None,
    }


_COLUMNS = [c.name for c in Sale.__table__.columns]


class _RowWriter:
    """Any database: row-wise upserts (SQLite, and the reference for PostgreSQL)."""

    batch = BATCH

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.upsert = _upsert(engine)

    def write(self, keep: list[PricePaid], gone: list[str]) -> tuple[int, int, int]:
        deleted = 0
        with self.engine.begin() as conn:
            points = locate_many(conn, (r.postcode for r in keep if r.postcode))
            rows = [_row(r, points) for r in keep]
            if rows:
                conn.execute(self.upsert, rows)
            for i in range(0, len(gone), 900):
                res = conn.execute(delete(Sale).where(Sale.transaction_id.in_(gone[i : i + 900])))
                deleted += res.rowcount or 0
        return len(rows), sum(1 for r in rows if r["eligible"]), deleted

    def close(self) -> None:
        pass


class _CopyWriter:
    """PostgreSQL: COPY each batch into a temporary table, then one INSERT ... SELECT ... ON
    CONFLICT that also joins the unit coordinates. Several times the row-wise speed."""

    batch = 50_000

    def __init__(self, engine: Engine) -> None:
        self.conn = engine.connect()
        cols = ", ".join(_COLUMNS)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS if c != "transaction_id")
        picked = ", ".join(
            {
                "eligible": "s.home AND (pu.postcode IS NOT NULL OR s.latitude IS NOT NULL)",
                "latitude": "COALESCE(pu.latitude, s.latitude)",
                "longitude": "COALESCE(pu.longitude, s.longitude)",
                "geo_precision": "CASE WHEN pu.postcode IS NOT NULL THEN 'unit' "
                "ELSE s.geo_precision END",
            }.get(c, f"s.{c}")
            for c in _COLUMNS
        )
        self.copy_sql = f"COPY sales_stage ({cols}, home) FROM STDIN"
        self.merge_sql = (
            f"WITH ins AS (INSERT INTO sales ({cols}) SELECT {picked} FROM sales_stage s "
            "LEFT JOIN postcode_units pu ON pu.postcode = s.postcode "
            f"ON CONFLICT (transaction_id) DO UPDATE SET {updates} RETURNING eligible) "
            "SELECT count(*), count(*) FILTER (WHERE eligible) FROM ins"
        )
        with self.conn.begin():
            self.conn.exec_driver_sql(
                "CREATE TEMP TABLE IF NOT EXISTS sales_stage (LIKE sales, home boolean)"
            )

    def write(self, keep: list[PricePaid], gone: list[str]) -> tuple[int, int, int]:
        stored = eligible = deleted = 0
        centroids = {}
        for r in keep:
            if r.postcode and r.postcode.unit not in centroids:
                centroids[r.postcode.unit] = centroid_point(r.postcode)
        with self.conn.begin():
            raw: Any = self.conn.connection.driver_connection
            with raw.cursor() as cur:
                cur.execute("TRUNCATE sales_stage")
                if keep:
                    with cur.copy(self.copy_sql) as copy:
                        for r in keep:
                            row = _row(r, centroids)
                            copy.write_row([row[c] for c in _COLUMNS] + [r.eligible])
                    cur.execute(self.merge_sql)
                    stored, eligible = cur.fetchone()
                if gone:
                    cur.execute("DELETE FROM sales WHERE transaction_id = ANY(%s)", (gone,))
                    deleted = cur.rowcount
        return stored, eligible, deleted

    def close(self) -> None:
        self.conn.close()


def import_file(engine: Engine, path: str | Path, tracker: Tracker) -> FileResult:
    started = time.perf_counter()
    result = FileResult(file=str(path))
    writer: _RowWriter | _CopyWriter = (
        _CopyWriter(engine) if engine.dialect.name == "postgresql" else _RowWriter(engine)
    )
    # Last record per id wins inside a batch, so "A then D" in one file ends deleted.
    pending: dict[str, PricePaid] = {}

    def flush(position: int) -> None:
        if not pending:
            return
        keep = [r for r in pending.values() if r.record_status != "D"]
        gone = [r.transaction_id for r in pending.values() if r.record_status == "D"]
        stored, eligible, deleted = writer.write(keep, gone)
        result.stored += stored
        result.eligible += eligible
        reasons = Counter(r.unusable for r in keep if r.unusable)
        # Homes with a postcode that is not located (no unit, sector or district known).
        reasons[NOT_LOCATED] += stored - eligible - sum(reasons.values())
        for reason, n in reasons.items():
            if n:
                result.unusable[reason] = result.unusable.get(reason, 0) + n
        result.deleted += deleted
        pending.clear()
        tracker.advance_to(position)

    try:
        _read(path, result, pending, flush, writer.batch)
    except (EOFError, OSError, zlib.error) as e:
        # A truncated or damaged file: the batches before the damage are stored (each is its
        # own transaction, and re-importing a whole file later is harmless).
        result.failed = f"the file is damaged after {result.rows:,} rows: {e}"
    finally:
        writer.close()
    result.seconds = round(time.perf_counter() - started, 2)
    return result


def check_file(path: str | Path) -> str:
    """The file's form (``bulk`` or ``report``), read off its first row before anything is
    imported; DoorstepError when it is not Price Paid Data."""
    try:
        with open_text(path) as (text, _raw, _size):
            return _layout(csv.reader(text), path)[0].form
    except (EOFError, OSError, zlib.error, csv.Error, UnicodeError) as e:
        raise DoorstepError(f"{path}: cannot be read as a CSV file ({e}).") from None


def _layout(reader: Any, path: str | Path) -> tuple[Layout, list[str]]:
    """The layout read off the first row that is not blank, and that row."""
    first = next(reader, None)
    while first is not None and not any(c.strip() for c in first):
        first = next(reader, None)
    if first is None:
        raise DoorstepError(f"{path}: the file is empty.", status_code=422)
    try:
        return Layout.detect(first), first
    except FormatError as e:
        raise DoorstepError(f"{path}: {e}", status_code=422) from None


def _read(
    path: str | Path,
    result: FileResult,
    pending: dict[str, PricePaid],
    flush: Any,
    batch: int,
) -> None:
    with open_text(path) as (text, raw, _size):
        reader = csv.reader(text)
        layout, first = _layout(reader, path)
        result.form = layout.form
        rows_iter = reader if layout.has_header else _chain(first, reader)
        today = date.today()
        while True:
            try:
                row = next(rows_iter)
            except StopIteration:
                break
            except csv.Error as e:  # an unclosed quote ran past the field limit, say
                result.rows += 1
                result.reject(reader.line_num, f"not CSV: {e}.")
                continue
            if not row or not any(c.strip() for c in row):
                continue
            result.rows += 1
            try:
                rec = layout.parse(row, today)
            except FormatError as e:
                result.reject(reader.line_num, e)
                continue
            pending.pop(rec.transaction_id, None)
            pending[rec.transaction_id] = rec
            if len(pending) >= batch:
                flush(raw.tell())
        flush(raw.tell())


def _chain(first: list[str], rest: Any) -> Any:
    yield first
    yield from rest


def relocate(engine: Engine) -> int:
    """Give sales and lettings located by a centroid their unit coordinates once those are
    imported (``doorstep geo import`` after ``doorstep prices import``). Returns rows moved."""
    moved = 0
    with engine.begin() as conn:
        for model in (Sale, RentalEvidence):
            match = PostcodeUnit.postcode == model.postcode
            res = conn.execute(
                update(model)
                .where(
                    model.geo_precision != "unit",
                    model.postcode.is_not(None),
                    select(PostcodeUnit.postcode).where(match).exists(),
                )
                .values(
                    latitude=select(PostcodeUnit.latitude).where(match).scalar_subquery(),
                    longitude=select(PostcodeUnit.longitude).where(match).scalar_subquery(),
                    geo_precision="unit",
                )
            )
            moved += res.rowcount or 0
    return moved
