"""``doorstep rents import``: an agency's own lettings as rental evidence.

The CSV has a header row; column names are matched case-insensitively, in any order:

==================  ========  ==========================================================
column              required  value
==================  ========  ==========================================================
``postcode``        yes       the let property's UK unit postcode (any case or spacing)
``bedrooms``        no        0-50 (0 = studio); empty when unknown
``property_type``   no        detached, semi-detached, terraced, flat-maisonette (also
                              D/S/T/F, flat, maisonette, semi, terrace); empty if unknown
``monthly_rent``    yes*      £ per calendar month (``1250``, ``£1,250``)
``weekly_rent``     yes*      £ per week instead (converted: x 52 / 12)
``date``            yes       when the let was agreed: ``2025-03-31`` or ``31/03/2025``
``reference``       no        your own tenancy id: re-importing it updates the letting
``address``         no        shown with the comparable in the valuation
==================  ========  ==========================================================

(*) one of the two. A row without a reference is keyed by all its values, so re-importing
the same file changes nothing. Bad rows are skipped and reported with their line number."""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from doorstep.errors import DoorstepError
from doorstep.geo.postcodes import parse
from doorstep.imports import Tracker, open_text
from doorstep.models import RentalEvidence
from doorstep.valuation.geo import locate_many

BATCH = 2000
MAX_REPORTED_ERRORS = 20
MIN_RENT, MAX_RENT = 50, 100_000

TYPE_ALIASES = {
    "detached": "detached",
    "d": "detached",
    "detached house": "detached",
    "bungalow": "detached",
    "semi-detached": "semi-detached",
    "semi detached": "semi-detached",
    "semi": "semi-detached",
    "s": "semi-detached",
    "terraced": "terraced",
    "terrace": "terraced",
    "terraced house": "terraced",
    "end terrace": "terraced",
    "end-terrace": "terraced",
    "mid terrace": "terraced",
    "t": "terraced",
    "flat-maisonette": "flat-maisonette",
    "flat": "flat-maisonette",
    "maisonette": "flat-maisonette",
    "apartment": "flat-maisonette",
    "studio": "flat-maisonette",
    "f": "flat-maisonette",
}
COLUMN_ALIASES = {
    "postcode": "postcode",
    "post_code": "postcode",
    "bedrooms": "bedrooms",
    "beds": "bedrooms",
    "property_type": "property_type",
    "type": "property_type",
    "monthly_rent": "monthly_rent",
    "rent_pcm": "monthly_rent",
    "rent": "monthly_rent",
    "weekly_rent": "weekly_rent",
    "rent_pw": "weekly_rent",
    "date": "date",
    "let_date": "date",
    "agreed_date": "date",
    "reference": "reference",
    "ref": "reference",
    "address": "address",
}


@dataclass
class RentImportResult:
    file: str
    rows: int = 0
    stored: int = 0
    invalid: int = 0
    errors: list[str] = field(default_factory=list)


class RowError(ValueError):
    pass


def _columns(header: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, name in enumerate(header):
        key = re.sub(r"[\s\-]+", "_", name.strip().lower())
        if key in COLUMN_ALIASES:
            out.setdefault(COLUMN_ALIASES[key], i)
    missing = [c for c in ("postcode", "date") if c not in out]
    if "monthly_rent" not in out and "weekly_rent" not in out:
        missing.append("monthly_rent (or weekly_rent)")
    if missing:
        raise DoorstepError(
            "The rents CSV needs a header with the columns postcode, bedrooms, property_type, "
            f"monthly_rent and date; missing: {', '.join(missing)}. Its header is: "
            f"{', '.join(header[:12])}",
            status_code=422,
        )
    return out


def _money(text: str) -> float:
    cleaned = re.sub(r"[£,\s]", "", text)
    try:
        return float(cleaned)
    except ValueError:
        raise RowError(f"rent '{text}' is not an amount of pounds.") from None


def _date(text: str) -> date:
    t = text.strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%Y/%m/%d"):
        try:
            return datetime.strptime(t[:10], fmt).date()
        except ValueError:
            continue
    raise RowError(f"date '{text}' is not YYYY-MM-DD or DD/MM/YYYY.")


def parse_row(row: list[str], cols: dict[str, int]) -> dict[str, Any]:
    def get(name: str) -> str:
        i = cols.get(name)
        return row[i].strip() if i is not None and i < len(row) else ""

    pc = parse(get("postcode"))
    if pc is None:
        raise RowError(f"postcode '{get('postcode')}' is not a UK postcode.")
    beds: int | None = None
    if get("bedrooms"):
        try:
            beds = int(float(get("bedrooms")))
        except ValueError:
            raise RowError(f"bedrooms '{get('bedrooms')}' is not a number.") from None
        if not 0 <= beds <= 50:
            raise RowError(f"bedrooms {beds} is not between 0 and 50.")
    ptype: str | None = None
    if get("property_type"):
        ptype = TYPE_ALIASES.get(get("property_type").lower())
        if ptype is None:
            raise RowError(
                f"property type '{get('property_type')}' is not one of detached, "
                "semi-detached, terraced, flat-maisonette."
            )
    if get("monthly_rent"):
        rent = _money(get("monthly_rent"))
    elif get("weekly_rent"):
        rent = _money(get("weekly_rent")) * 52 / 12
    else:
        raise RowError("no rent.")
    if not MIN_RENT <= rent <= MAX_RENT:
        raise RowError(f"monthly rent £{rent:,.0f} is outside £{MIN_RENT}–£{MAX_RENT:,}.")
    let = _date(get("date"))
    if let > datetime.now(UTC).date():
        raise RowError(f"date {let} is in the future.")
    return {
        "postcode": pc.unit,
        "sector": pc.sector,
        "district": pc.district,
        "bedrooms": beds,
        "property_type": ptype,
        "monthly_rent": round(rent),
        "let_date": let,
        "address": get("address")[:255] or None,
        "reference": get("reference")[:150] or None,
        "_pc": pc,
    }


def _key(account_id: int | None, rec: dict[str, Any]) -> str:
    scope = f"a{account_id}" if account_id is not None else "shared"
    if rec["reference"]:
        return f"{scope}:ref:{rec['reference']}"
    raw = "|".join(
        str(rec[k])
        for k in ("postcode", "bedrooms", "property_type", "monthly_rent", "let_date", "address")
    )
    return f"{scope}:row:{hashlib.sha256(raw.encode()).hexdigest()[:40]}"


def import_rents(
    engine: Engine, path: str | Path, account_id: int | None, tracker: Tracker
) -> RentImportResult:
    result = RentImportResult(file=str(path))
    ins = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    stmt = ins(RentalEvidence)
    updatable = [c.name for c in RentalEvidence.__table__.columns if c.name not in ("id", "key")]
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"], set_={c: stmt.excluded[c] for c in updatable}
    )
    pending: dict[str, dict[str, Any]] = {}

    def flush(position: int) -> None:
        if not pending:
            return
        with engine.begin() as conn:
            points = locate_many(conn, (r["_pc"] for r in pending.values()))
            rows = []
            for key, r in pending.items():
                p = points.get(r["postcode"])
                rows.append(
                    {
                        "key": key,
                        "account_id": account_id,
                        **{k: v for k, v in r.items() if k not in ("_pc", "reference")},
                        "latitude": p.latitude if p else None,
                        "longitude": p.longitude if p else None,
                        "geo_precision": p.precision if p else None,
                        "imported_at": datetime.now(UTC),
                    }
                )
            conn.execute(stmt, rows)
        result.stored += len(pending)
        pending.clear()
        tracker.advance_to(position)

    with open_text(path) as (text, raw, _size):
        reader = csv.reader(text)
        header = next(reader, None)
        if not header:
            raise DoorstepError(f"{path}: the file is empty.", status_code=422)
        cols = _columns(header)
        for row in reader:
            if not any(c.strip() for c in row):
                continue
            result.rows += 1
            try:
                rec = parse_row(row, cols)
            except RowError as e:
                result.invalid += 1
                if len(result.errors) < MAX_REPORTED_ERRORS:
                    result.errors.append(f"line {reader.line_num}: {e}")
                continue
            pending[_key(account_id, rec)] = rec
            if len(pending) >= BATCH:
                flush(raw.tell())
        flush(raw.tell())
    return result
