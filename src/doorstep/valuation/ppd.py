"""HM Land Registry Price Paid Data, in the two forms agencies meet:

* the bulk CSV (yearly, complete and monthly-update files): 16 columns, no header, the last
  being the record status ``A`` added, ``C`` changed, ``D`` deleted;
* the report-builder CSV (landregistry.data.gov.uk/app/ppd): a header row naming the columns
  (``unique_id, price_paid, deed_date, ...``), no record status (every row is an addition).

Both are parsed into the same :class:`PricePaid` record, keyed by the transaction id without
braces, so a sale imported from either form is the same sale."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from doorstep.geo.postcodes import Postcode, parse

# Prices outside this band are data errors or not homes (a £550 garage, a £64m block).
MIN_PRICE = 10_000
MAX_PRICE = 20_000_000
HOME_TYPES = frozenset("DSTF")

BULK_COLUMNS = (
    "transaction_id",
    "price",
    "date",
    "postcode",
    "property_type",
    "new_build",
    "tenure",
    "paon",
    "saon",
    "street",
    "locality",
    "town",
    "district",
    "county",
    "category",
    "record_status",
)
# Report-builder header names -> the bulk names above.
REPORT_NAMES = {
    "unique_id": "transaction_id",
    "transaction_unique_identifier": "transaction_id",
    "price_paid": "price",
    "price": "price",
    "deed_date": "date",
    "date_of_transfer": "date",
    "postcode": "postcode",
    "property_type": "property_type",
    "new_build": "new_build",
    "old/new": "new_build",
    "estate_type": "tenure",
    "duration": "tenure",
    "saon": "saon",
    "paon": "paon",
    "street": "street",
    "locality": "locality",
    "town": "town",
    "town/city": "town",
    "district": "district",
    "county": "county",
    "transaction_category": "category",
    "ppd_category_type": "category",
    "record_status": "record_status",
}
# The values each coded column may hold (empty: the column is absent from a report export).
CODES = {
    "property_type": ("DSTFO", "D, S, T, F or O"),
    "new_build": ("YN", "Y or N"),
    "tenure": ("FLU", "F, L or U"),
    "category": ("AB", "A or B"),
}
# Price Paid Data begins with 1995; a deed is never dated after the day it is read.
FIRST_DATE = date(1995, 1, 1)
_PRICE = re.compile(r"^[0-9]{1,10}$")
_GUID = re.compile(
    r"^\{?[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}?$"
)


class FormatError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class PricePaid:
    transaction_id: str
    record_status: str  # A C D
    price: int
    deed_date: date
    postcode: Postcode | None
    raw_postcode: str
    property_type: str
    new_build: bool
    tenure: str
    paon: str
    saon: str
    street: str
    locality: str
    town: str
    category: str

    @classmethod
    def deletion(cls, transaction_id: str) -> PricePaid:
        """A D record: only its id is read (the rest of the row may be empty)."""
        return cls(transaction_id, "D", 0, FIRST_DATE, None, "", "O", False, "U",
                   "", "", "", "", "", "B")  # fmt: skip

    @property
    def month(self) -> int:
        return month_of(self.deed_date)

    @property
    def eligible(self) -> bool:
        """May a valuation use it: a standard (A) sale of a house or flat at a plausible
        price with a UK postcode."""
        return self.unusable is None

    @property
    def unusable(self) -> str | None:
        """Why a valuation may not use it, or None."""
        if self.category != "A":
            return "category B (not a standard sale)"
        if self.property_type not in HOME_TYPES:
            return "type O (not a house or flat)"
        if not MIN_PRICE <= self.price <= MAX_PRICE:
            return "price outside £10,000–£20m"
        if self.postcode is None:
            return "no UK postcode"
        return None

    @property
    def log_price(self) -> float:
        return math.log(self.price)


def month_of(d: date) -> int:
    return d.year * 12 + d.month - 1


def month_start(month: int) -> date:
    return date(month // 12, month % 12 + 1, 1)


def normalise_id(raw: str) -> str:
    return raw.strip().strip("{}").upper()


class Layout:
    """Where each field is in a row of one file."""

    def __init__(self, positions: dict[str, int], has_header: bool, form: str, width: int) -> None:
        self.positions = positions
        self.has_header = has_header
        self.form = form
        # Every row has as many fields as the first: one more is an unquoted comma that
        # shifted the rest (a D read from the category column, say).
        self.width = width

    @classmethod
    def detect(cls, first_row: Sequence[str]) -> Layout:
        names = [c.strip().lower() for c in first_row]
        if (
            "unique_id" in names
            or "price_paid" in names
            or "transaction_unique_identifier" in names
        ):
            positions: dict[str, int] = {}
            for i, n in enumerate(names):
                if n in REPORT_NAMES:
                    positions.setdefault(REPORT_NAMES[n], i)
            missing = {"transaction_id", "price", "date", "postcode", "property_type"} - set(
                positions
            )
            if missing:
                raise FormatError("The header names no " + ", ".join(sorted(missing)) + " column.")
            return cls(positions, True, "report", len(first_row))
        if len(first_row) in (15, 16) and _GUID.match(first_row[0].strip()):
            positions = {n: i for i, n in enumerate(BULK_COLUMNS[: len(first_row)])}
            return cls(positions, False, "bulk", len(first_row))
        raise FormatError(
            "Not a Price Paid Data file: expected the 16-column bulk CSV (first field a "
            "transaction id such as {8A78B2AF-863A-5CB0-E053-6B04A8C0F504}) or a report-builder "
            f"CSV with a header (unique_id, price_paid, deed_date, ...); the first row has "
            f"{len(first_row)} fields."
        )

    def parse(self, row: Sequence[str], today: date | None = None) -> PricePaid:
        """One row as a record; FormatError, saying what is wrong, for anything that is not
        a sale as Price Paid Data records it."""
        if len(row) != self.width:
            raise FormatError(f"{len(row)} fields, expected {self.width}.")
        p = self.positions

        def get(name: str) -> str:
            i = p.get(name)
            return row[i].strip() if i is not None else ""

        tid = normalise_id(get("transaction_id"))
        if not _GUID.match(tid):
            raise FormatError(f"'{get('transaction_id')}' is not a transaction id.")
        status = (get("record_status") or "A").upper()
        if status not in ("A", "C", "D"):
            raise FormatError(f"record status '{status}' is not A, C or D.")
        if status == "D":
            return PricePaid.deletion(tid)  # a deletion needs its id alone
        price_text = get("price")
        if not _PRICE.match(price_text) or int(price_text) < 1:
            raise FormatError(f"price '{price_text}' is not a number of whole pounds.")
        try:
            deed = date.fromisoformat(get("date")[:10])
        except ValueError:
            raise FormatError(f"date '{get('date')}' is not YYYY-MM-DD.") from None
        latest = today or date.today()
        if not FIRST_DATE <= deed <= latest:
            raise FormatError(
                f"date {deed.isoformat()} is outside Price Paid Data "
                f"({FIRST_DATE.isoformat()} to today, {latest.isoformat()})."
            )
        codes = {}
        for name, (allowed, said) in CODES.items():
            value = get(name).upper()
            if value and (len(value) != 1 or value not in allowed):
                raise FormatError(f"{name.replace('_', ' ')} '{get(name)}' is not {said}.")
            codes[name] = value
        raw_pc = get("postcode")
        return PricePaid(
            transaction_id=tid,
            record_status=status,
            price=int(price_text),
            deed_date=deed,
            postcode=parse(raw_pc),
            raw_postcode=raw_pc,
            property_type=codes["property_type"] or "O",
            new_build=codes["new_build"] == "Y",
            tenure=codes["tenure"] or "U",
            paon=get("paon"),
            saon=get("saon"),
            street=get("street"),
            locality=get("locality"),
            town=get("town"),
            category=codes["category"] or "A",
        )
