"""Migrate once per run; empty every table after each test. The same suite runs on SQLite and
PostgreSQL: `DOORSTEP_TEST_DATABASE_URL` chooses (the Makefile runs both)."""

from __future__ import annotations

import os
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

DEFAULT_URL = "sqlite:///" + os.path.join(os.path.dirname(__file__), "..", ".test-doorstep.db")
TEST_URL = os.environ.get("DOORSTEP_TEST_DATABASE_URL", DEFAULT_URL)
os.environ["DOORSTEP_DATABASE_URL"] = TEST_URL
os.environ.setdefault("DOORSTEP_LOG_JSON", "false")
# No background pruning beside the tests; test_retention.py turns it on where it is tested.
os.environ.setdefault("DOORSTEP_PRUNE_INTERVAL_MINUTES", "0")

from doorstep import db, migrate  # noqa: E402
from doorstep.config import get_settings  # noqa: E402
from doorstep.models import Base, Status  # noqa: E402

IS_POSTGRES = TEST_URL.startswith("postgres")


def _fresh_database(url: str) -> None:
    u = make_url(db.normalise_url(url))
    if u.get_backend_name() == "sqlite":
        path = u.database
        for suffix in ("", "-wal", "-shm"):
            if path and os.path.exists(path + suffix):
                os.remove(path + suffix)
        return
    import psycopg

    admin = u.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{u.database}"')


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    get_settings.cache_clear()
    _fresh_database(TEST_URL)
    eng = db.build_engine(TEST_URL)
    db.set_engine(eng)
    migrate.upgrade(eng)
    yield eng
    db.set_engine(None)


def _empty_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name == "statuses":
                conn.execute(delete(Status).where(Status.account_id.is_not(None)))
            elif table.name == "accounts":
                conn.execute(text("UPDATE accounts SET default_office_id = NULL"))
                conn.execute(delete(table))
            else:
                conn.execute(delete(table))


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "engine" in request.fixturenames:
        _empty_tables(request.getfixturevalue("engine"))


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with db.transaction() as s:
        yield s


@pytest.fixture
def app(engine: Engine) -> Any:
    from doorstep.app import create_app

    return create_app()


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@dataclass
class Agency:
    account_id: int
    token: str
    token_id: int
    offices: dict[str, int]

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-KEY": self.token}


def make_agency(
    name: str,
    offices: tuple[tuple[str, str, str], ...],
    rate_limit: int | None = None,
) -> Agency:
    from doorstep.accounts.service import create_account
    from doorstep.offices.service import create_office
    from doorstep.tokens.service import create_token

    with db.transaction() as s:
        account = create_account(s, name)
        ids = {n: create_office(s, account.id, n, pc, [cov]).id for n, pc, cov in offices}
        tok = create_token(s, account.id, "Website", rate_limit)
        return Agency(account.id, tok.secret, tok.token.id, ids)


@pytest.fixture
def owner(engine: Engine) -> Agency:
    """The agency under test: Nottingham covers NG1 and NG2 4; Derby covers DE."""
    return make_agency(
        "Demo Brand",
        (
            ("Nottingham", "NG1 5FS", "NG1,NG2 4"),
            ("Derby", "DE1 1JX", "DE"),
        ),
    )


@pytest.fixture
def other(engine: Engine) -> Agency:
    """Another agency on the same server: nothing of it may leak to the owner."""
    return make_agency("Skyline Estates Ltd", (("Oxford", "OX3 9NX", "OX3"),))


def lead_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "sale",
        "phone": "01623000000",
        "first_name": "Marla",
        "last_name": "Singer",
        "email": "cloud9@cloud.com",
        "advert_postcode": "NG1 5FS",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.fixture
def second_client(app: Any) -> Iterator[TestClient]:
    """A second, independent browser session (its own cookies)."""
    with TestClient(app) as c:
        yield c


def create_lead_api(client: TestClient, agency: Agency, **overrides: Any) -> dict[str, Any]:
    r = client.post("/api/v103/leads", json=lead_body(**overrides), headers=agency.headers)
    assert r.status_code == 200, r.text
    return r.json()


T = TypeVar("T")


def run_apart(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on a thread of its own: the browser tests' Playwright keeps an
    event loop running on the main thread for the rest of the session."""
    import asyncio

    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, main).result()
