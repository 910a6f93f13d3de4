"""Offices and their postcode coverage. Every query starts from the caller's account."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.orm import Session

from doorstep.errors import NotFound, ValidationFailed, is_row_id
from doorstep.geo import postcodes
from doorstep.geo.geography import centroids, locate
from doorstep.models import Account, Office, OfficeCoverage
from doorstep.models.account import new_routing_version


@dataclass(frozen=True)
class CoverageEntry:
    kind: str
    code: str


def parse_coverage(values: Iterable[str]) -> list[CoverageEntry]:
    """Parse "NG1, NG2 4, DE" into entries; every bad code is named in one error, whether it
    is not shaped like a postcode part or names a place the UK does not have (XX, ZZ9)."""
    out: dict[str, CoverageEntry] = {}
    bad: list[str] = []
    for raw in values:
        for part in raw.split(","):
            part = part.strip()
            if not part:
                continue
            c = postcodes.classify(part)
            if c is None:
                bad.append(f"'{part}' is not a postcode area, district, sector or unit.")
            elif not _known(*c):
                bad.append(f"'{c[1]}' is not a UK postcode {c[0]}.{_hint(c[1])}")
            else:
                out[c[1]] = CoverageEntry(*c)
    if bad:
        raise ValidationFailed({"coverage": bad})
    return list(out.values())


def _known(kind: str, code: str) -> bool:
    """Is the code a real place: against the shipped district and sector centroids (a unit is
    known when its district is: units are imported, if at all, separately)."""
    if kind == "unit":
        pc = postcodes.parse(code)
        return pc is not None and _known("district", pc.district)
    return bool(centroids().points_of(kind, code))


def _hint(code: str) -> str:
    """London's SW1, EC1, W1 ... are split into lettered districts (SW1A, SW1E ...)."""
    split = sorted(d for d in centroids().district if re.fullmatch(re.escape(code) + "[A-Z]", d))
    return f" Its districts are {', '.join(split)}." if split else ""


def _validate(name: str, postcode: str | None) -> tuple[str, str | None]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not 1 <= len(name) <= 255:
        errors["name"] = ["The name must be 1 to 255 characters."]
    pc = (postcode or "").strip() or None
    if pc is not None:
        if postcodes.parse(pc) is None:
            errors["postcode"] = ["The office postcode must be a full UK postcode, e.g. NG1 5FS."]
        else:
            pc = postcodes.canonical(pc)
            if not _known("unit", pc):
                errors["postcode"] = [f"{pc} is in no UK postcode district."]
    if errors:
        raise ValidationFailed(errors)
    return name, pc


def _validate_all(
    name: str, postcode: str | None, coverage: Iterable[str] | None
) -> tuple[str, str | None, list[CoverageEntry] | None]:
    """Every problem with an office's fields, reported at once."""
    errors: dict[str, list[str]] = {}
    try:
        name, pc = _validate(name, postcode)
    except ValidationFailed as e:
        errors.update(e.errors or {})
    entries = None
    if coverage is not None:
        try:
            entries = parse_coverage(coverage)
        except ValidationFailed as e:
            errors.update(e.errors or {})
    if errors:
        raise ValidationFailed(errors)
    return name, pc, entries


def office_query(account_id: int) -> Select[Office]:
    return select(Office).where(Office.account_id == account_id)


def list_offices(session: Session, account_id: int) -> list[Office]:
    return list(session.scalars(office_query(account_id).order_by(Office.name, Office.id)))


def get_office(session: Session, account_id: int, office_id: int) -> Office:
    office = None
    if is_row_id(office_id):
        office = session.scalar(office_query(account_id).where(Office.id == office_id))
    if office is None:
        raise NotFound(f"There is no office {office_id} in this account.")
    return office


def office_exists(session: Session, account_id: int, office_id: int) -> bool:
    return is_row_id(office_id) and (
        session.scalar(
            select(func.count())
            .select_from(Office)
            .where(Office.account_id == account_id, Office.id == office_id)
        )
        == 1
    )


def office_name(session: Session, account_id: int, office_id: int) -> str | None:
    """The name of an office of the account; None if the account has no such office."""
    if not is_row_id(office_id):
        return None
    return session.scalar(
        select(Office.name).where(Office.account_id == account_id, Office.id == office_id)
    )


def code_order(code: str) -> tuple[Any, ...]:
    """Postcode order, numbers as numbers: NE1, NE2, NE12 (not NE1, NE12, NE2)."""
    return tuple(int(p) if p.isdigit() else p for p in re.findall(r"[0-9]+|[A-Z]+", code))


def coverage_of(session: Session, account_id: int, office_id: int) -> list[OfficeCoverage]:
    rows = session.scalars(
        select(OfficeCoverage).where(
            OfficeCoverage.account_id == account_id, OfficeCoverage.office_id == office_id
        )
    )
    return sorted(rows, key=lambda c: code_order(c.code))


def routing_changed(session: Session, account_id: int) -> None:
    """Every process reloads the account's routing table on its next request."""
    session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(routing_version=new_routing_version())
        .execution_options(synchronize_session=False)
    )


def coverage_by_office(session: Session, account_id: int) -> dict[int, list[str]]:
    """Every office's coverage codes, in one query (for listing all the offices)."""
    codes: dict[int, list[str]] = {}
    for office_id, code in session.execute(
        select(OfficeCoverage.office_id, OfficeCoverage.code)
        .where(OfficeCoverage.account_id == account_id)
        .order_by(OfficeCoverage.code)
    ):
        codes.setdefault(office_id, []).append(code)
    return {office_id: sorted(found, key=code_order) for office_id, found in codes.items()}


def shared_coverage(session: Session, office: Office) -> list[tuple[str, str]]:
    """(code, other office's name) for each code of the office's coverage that another
    office of the account covers too: routing then picks the nearer office, which is seldom
    what was meant."""
    mine = select(OfficeCoverage.code).where(OfficeCoverage.office_id == office.id)
    rows = session.execute(
        select(OfficeCoverage.code, Office.name)
        .join(Office, Office.id == OfficeCoverage.office_id)
        .where(
            OfficeCoverage.account_id == office.account_id,
            OfficeCoverage.office_id != office.id,
            OfficeCoverage.code.in_(mine),
        )
        .order_by(OfficeCoverage.code, Office.name)
    )
    return [(code, name) for code, name in rows]


def set_coverage(session: Session, office: Office, entries: list[CoverageEntry]) -> None:
    """Replace the office's coverage; the caller marks the account's routing changed."""
    session.execute(delete(OfficeCoverage).where(OfficeCoverage.office_id == office.id))
    session.add_all(
        OfficeCoverage(office_id=office.id, account_id=office.account_id, kind=e.kind, code=e.code)
        for e in entries
    )
    session.flush()


def _place(session: Session, office: Office) -> None:
    loc = locate(session, office.postcode)
    office.latitude, office.longitude = (loc.latitude, loc.longitude) if loc else (None, None)


def create_office(
    session: Session,
    account_id: int,
    name: str,
    postcode: str | None,
    coverage: Iterable[str] = (),
) -> Office:
    name, pc, entries = _validate_all(name, postcode, coverage)
    office = Office(account_id=account_id, name=name, postcode=pc)
    _place(session, office)
    session.add(office)
    session.flush()
    routing_changed(session, account_id)
    set_coverage(session, office, entries or [])
    account = session.get(Account, account_id)
    if account is not None and account.default_office_id is None:
        account.default_office_id = office.id
    return office


def update_office(
    session: Session,
    account_id: int,
    office_id: int,
    *,
    name: str,
    postcode: str | None,
    coverage: Iterable[str] | None = None,
) -> Office:
    office = get_office(session, account_id, office_id)
    name, pc, entries = _validate_all(name, postcode, coverage)
    # Names, places and coverage are all in the routing table: one new version for the edit.
    routing_changed(session, account_id)
    office.name = name
    if pc != office.postcode:
        office.postcode = pc
        _place(session, office)
    if entries is not None:
        set_coverage(session, office, entries)
    session.flush()
    return office


def set_default_office(session: Session, account_id: int, office_id: int) -> None:
    office = get_office(session, account_id, office_id)
    account = session.get(Account, account_id)
    assert account is not None
    account.default_office_id = office.id
    routing_changed(session, account_id)
