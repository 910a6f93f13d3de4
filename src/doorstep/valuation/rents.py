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

(*) one of the two. A row without a reference is keyed by all its values and by how many
identical rows came before it in the file: two flats let alike on one day are two lettings,
and re-importing the same file changes nothing. A reference repeated in one file keeps its
first row; bad rows and repeats are skipped and reported with their line number. UTF-8 is
read, and Windows-1252 (Excel's plain "CSV") when the file is not valid UTF-8."""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from doorstep.errors import DoorstepError
from doorstep.geo.postcodes import parse
from doorstep.imports import RowErrors, Tracker
from doorstep.models import RentalEvidence
from doorstep.valuation.geo import locate_many

BATCH = 2000
MIN_RENT, MAX_RENT = 50, 100_000
# Bytes Windows-1252 leaves undefined: a file holding them is not Excel's "CSV" either.
CP1252_UNDEFINED = (0x81, 0x8D, 0x8F, 0x90, 0x9D)

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
class RentImportResult(RowErrors):
    file: str
    rows: int = 0
    stored: int = 0
    invalid: int = 0
    duplicates: int = 0  # a reference already used by an earlier row of the file
    encoding: str = "utf-8"  # or cp1252 (Windows-1252), when the file is not valid UTF-8
    failed: str | None = None  # why the file stopped before its end (what came before stays)

    def reject(self, line: int, reason: object, *, duplicate: bool = False) -> None:
        if duplicate:
            self.duplicates += 1
        else:
            self.invalid += 1
        self.note(line, reason)


class RowError(ValueError):
    pass


def _encoding(binary: IO[bytes], path: str | Path) -> str:
    """UTF-8 when the whole file is, else Windows-1252 (Excel's plain "CSV"). Decided on the
    whole file before any row is read: a stray byte near the end cannot change it midway."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    utf8, cp1252 = True, True
    try:
        while chunk := binary.read(1 << 20):
            if b"\x00" in chunk:
                raise DoorstepError(
                    f"{path} is not CSV text: it holds NUL bytes (a spreadsheet, an archive or "
                    "UTF-16). Save it as CSV (UTF-8).",
                    status_code=422,
                )
            cp1252 = cp1252 and not any(b in chunk for b in CP1252_UNDEFINED)
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
    except (EOFError, OSError) as e:  # a damaged or truncated gzip file
        raise DoorstepError(f"{path}: cannot be read ({e}).", status_code=422) from None
    if utf8 and not decoder.getstate()[0]:  # nor does it end inside a character
        return "utf-8"
    if cp1252:
        return "cp1252"
    raise DoorstepError(
        f"{path} is neither UTF-8 nor Windows-1252 text. Save it as CSV (UTF-8).",
        status_code=422,
    )


@contextmanager
def _open_csv(path: str | Path) -> Iterator[tuple[IO[str], IO[bytes], str]]:
    """(text, raw bytes for progress, encoding: ``utf-8`` or ``cp1252``), gzip or not."""
    with Path(path).open("rb") as raw:
        magic = raw.read(2)
        raw.seek(0)
        binary: IO[bytes] = gzip.GzipFile(fileobj=raw) if magic == b"\x1f\x8b" else raw  # type: ignore[assignment]
        encoding = _encoding(binary, path)
        binary.seek(0)
        codec = "utf-8-sig" if encoding == "utf-8" else encoding  # skips Excel's UTF-8 BOM
        yield io.TextIOWrapper(binary, encoding=codec, newline=""), raw, encoding


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
            "The rents CSV needs a header with the columns postcode, monthly_rent (or "
            "weekly_rent) and date, and optionally bedrooms, property_type, reference and "
            f"address; missing: {', '.join(missing)}. Its header is: "
            f"{', '.join(h[:40] for h in header[:12])}",
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
            n = float(get("bedrooms"))
        except ValueError:
            raise RowError(f"bedrooms '{get('bedrooms')}' is not a number.") from None
        if not (n.is_integer() and 0 <= n <= 50):
            raise RowError(f"bedrooms '{get('bedrooms')}' is not a whole number from 0 to 50.")
        beds = int(n)
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


def _key(account_id: int | None, rec: dict[str, Any], copies: Counter[str]) -> str:
    """A reference names its letting. Without one, the n-th identical row of a file is the n-th
    such letting (two flats let alike on one day; ``copies`` counts them), so re-importing the
    file meets the same keys. The first keeps the bare digest earlier imports stored."""
    scope = f"a{account_id}" if account_id is not None else "shared"
    if rec["reference"]:
        return f"{scope}:ref:{rec['reference']}"
    raw = "|".join(
        str(rec[k])
        for k in ("postcode", "bedrooms", "property_type", "monthly_rent", "let_date", "address")
    )
    digest = hashlib.sha256(raw.encode()).hexdigest()[:40]
    copies[digest] += 1
    return f"{scope}:row:{digest}" + (f"#{copies[digest]}" if copies[digest] > 1 else "")


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
    first_line: dict[str, int] = {}  # reference -> the line that stored it
    copies: Counter[str] = Counter()  # digest of a reference-less row -> rows seen so far

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

    with _open_csv(path) as (text, raw, encoding):
        result.encoding = encoding
        # strict: a quote left open to the end of the file is an error, not one long field.
        reader = csv.reader(text, strict=True)
        try:
            header = next((r for r in reader if any(c.strip() for c in r)), None)
        except csv.Error as e:
            raise DoorstepError(f"{path}: the header is not CSV ({e}).", status_code=422) from None
        if header is None:
            raise DoorstepError(f"{path}: the file is empty.", status_code=422)
        cols = _columns(header)
        while True:
            line = reader.line_num + 1  # where the row starts (a quoted field may span lines)
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                result.rows += 1
                result.reject(line, f"not CSV: {e}.")
                if reader.line_num > line:
                    # An open quote swallowed the lines after it: what follows cannot be trusted.
                    result.failed = (
                        f"a quote opened on line {line} is still open on line {reader.line_num}; "
                        "the rest of the file was not imported."
                    )
                    break
                continue
            if not any(c.strip() for c in row):
                continue
            result.rows += 1
            try:
                rec = parse_row(row, cols)
            except RowError as e:
                result.reject(line, e)
                continue
            ref = rec["reference"]
            if ref in first_line:
                result.reject(
                    line,
                    f"reference '{ref}' is already on line {first_line[ref]}; "
                    "this row was skipped.",
                    duplicate=True,
                )
                continue
            if ref:
                first_line[ref] = line
            pending[_key(account_id, rec, copies)] = rec
            if len(pending) >= BATCH:
                flush(raw.tell())
        flush(raw.tell())
    return result
