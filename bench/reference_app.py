"""The reference: the fastest honest create-lead this stack can serve (issue 14).

A bare FastAPI endpoint that validates the same body with the same Pydantic model as
``bench/minimal_app.py`` (same fields, lengths, types and e-mail check), inserts one row with
asyncpg (8 pooled connections, one statement) and echoes it. No auth, routing, grouping,
request log or durable work. Doorstep's full create is measured as a share of this.

Run by ``python -m bench`` as ``uvicorn bench.reference_app:app --workers 2`` with
``BENCH_REFERENCE_DATABASE_URL`` set (a libpq URL; the table is ``minimal_app.leads``).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI

from bench.minimal_app import LeadIn, LeadOut, leads

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/doorstep_bench_reference"
COLUMNS = [c.name for c in leads.columns if c.name not in ("id", "created_at")]
INSERT = (
    f"INSERT INTO leads ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))}) "
    "RETURNING id, created_at"
)
pool: Any = None


async def _init(conn: Any) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(
            kind,
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=json.loads,
            schema="pg_catalog",
        )


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    global pool
    url = os.environ.get("BENCH_REFERENCE_DATABASE_URL", DEFAULT_URL)
    pool = await asyncpg.create_pool(url, min_size=8, max_size=8, init=_init)
    try:
        yield
    finally:
        await pool.close()


app = FastAPI(title="Reference create-lead (asyncpg)", lifespan=lifespan)


@app.post("/leads")
async def create_lead(body: LeadIn) -> LeadOut:
    values = body.model_dump()
    row = await pool.fetchrow(INSERT, *(values[c] for c in COLUMNS))
    return LeadOut(**values, id=row["id"], created_at=row["created_at"])
