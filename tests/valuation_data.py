"""Price Paid Data files for tests, written the way HM Land Registry writes them."""

from __future__ import annotations

import csv
import gzip
import io
import random
import uuid
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from doorstep.db import get_engine
from doorstep.imports import progress
from doorstep.valuation import calibration, importer

REPORT_HEADER = (
    "unique_id,price_paid,deed_date,postcode,property_type,new_build,estate_type,saon,paon,"
    "street,locality,town,district,county,transaction_category,linked_data_uri"
)


def tid(n: int) -> str:
    return str(uuid.UUID(int=n)).upper()


def bulk_row(
    n: int,
    price: int,
    when: date,
    postcode: str,
    ptype: str = "T",
    *,
    paon: str | None = None,
    saon: str = "",
    street: str = "EXAMPLE STREET",
    category: str = "A",
    status: str = "A",
) -> list[str]:
    return [
        "{" + tid(n) + "}",
        str(price),
        f"{when.isoformat()} 00:00",
        postcode,
        ptype,
        "N",
        "L" if ptype == "F" else "F",
        paon if paon is not None else str(n),
        saon,
        street,
        "",
        "NOTTINGHAM",
        "NOTTINGHAM",
        "NOTTINGHAMSHIRE",
        category,
        status,
    ]


def report_row(row: list[str]) -> list[str]:
    """The same sale in the report-builder layout (SAON before PAON, no braces or status)."""
    (tid_, price, when, pc, t, new, ten, paon, saon, street, loc, town, dist, county, cat, _) = row
    bare = tid_.strip("{}")
    uri = f"http://landregistry.data.gov.uk/data/ppi/transaction/{bare}/current"
    return [bare, price, when[:10], pc, t, new, ten, saon, paon, street, loc, town, dist, county,
            cat, uri]  # fmt: skip


def write_bulk(path: Path, rows: Iterable[list[str]], gz: bool = False) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for r in rows:
        w.writerow(r)
    data = buf.getvalue().encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_report(path: Path, rows: Iterable[list[str]]) -> Path:
    buf = io.StringIO()
    buf.write(REPORT_HEADER + "\n")
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for r in rows:
        w.writerow(report_row(r))
    path.write_text(buf.getvalue())
    return path


def market(today: date, seed: int = 7) -> list[list[str]]:
    """Three years of sales around Nottingham city centre (sector NG1 5 and its neighbours):
    terraced houses about £200,000, semis about £300,000, flats about £150,000, all rising
    1% a month, plus an earlier sale of 12 Example Street."""
    rnd = random.Random(seed)
    rows = []
    n = 1
    units = ["NG1 5FS", "NG1 5AW", "NG1 5BH", "NG1 6AB", "NG1 7AA"]
    for ptype, base in (("T", 200_000), ("S", 300_000), ("F", 150_000)):
        for _ in range(60):
            months_ago = rnd.randint(0, 35)
            when = today - timedelta(days=30 * months_ago + rnd.randint(0, 20))
            price = base * (1.01 ** (-months_ago)) * rnd.uniform(0.92, 1.08)
            pc = rnd.choice(units)
            rows.append(bulk_row(n, int(price // 100 * 100), when, pc, ptype, paon=str(100 + n)))
            n += 1
    rows.append(
        bulk_row(
            n, 240_000, today - timedelta(days=400), "NG1 5FS", "T", paon="12",
            street="EXAMPLE STREET",
        )
    )  # fmt: skip
    rows.sort(key=lambda r: r[2])
    return rows


def load(tmp: Path, rows: list[list[str]]) -> dict[str, Any]:
    """Import as ``doorstep prices import`` does, model rebuild included."""
    path = write_bulk(tmp / "pp.csv", rows)
    engine = get_engine()
    with progress("test", 1, enabled=False) as bar:
        importer.import_file(engine, path, bar)
    return calibration.rebuild_model(engine)
