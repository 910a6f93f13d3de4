"""How many PostgreSQL connections each server process may keep.

Each worker keeps ``DOORSTEP_DB_POOL_SIZE`` (+ overflow) connections open, so N workers need
N times that; PostgreSQL refuses clients beyond ``max_connections`` (100 by default), and a
server that starts fine would then fail requests under load with "too many clients". So
``doorstep serve`` measures what the server can still give and, unless the operator set the
pool size, shrinks each worker's pool to fit; an operator's own setting that does not fit
is kept with a warning."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text

# Connections left for the command line, migrations and a psql session beside the server.
HEADROOM = 5
MIN_POOL = 2


@dataclass(frozen=True)
class Fit:
    pool_size: int  # per worker
    message: str | None  # what was changed or what is wrong, for the operator


def available(engine: Engine) -> int:
    """Connections PostgreSQL can still accept from ordinary clients, less a headroom."""
    with engine.connect() as conn:
        limit = int(conn.execute(text("SHOW max_connections")).scalar_one())
        reserved = int(conn.execute(text("SHOW superuser_reserved_connections")).scalar_one())
        # Every client but this one: other applications, and a server still running.
        others = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    return limit - reserved - int(others) - HEADROOM


def fit(workers: int, pool_size: int, fixed: int, available: int, explicit: bool) -> Fit:
    """Each worker's pool size: ``fixed`` is what a worker keeps beside its pool whatever
    its size (the pool's overflow, the create path's asyncpg pool)."""
    need = workers * (pool_size + fixed)
    if need <= available:
        return Fit(pool_size, None)
    room = available // workers - fixed
    if explicit or room < MIN_POOL:
        return Fit(
            pool_size,
            f"{workers} workers x {pool_size + fixed} connections = {need}, but "
            f"PostgreSQL can accept about {max(available, 0)} more: requests will fail with "
            '"too many clients" under load. Run fewer workers, lower DOORSTEP_DB_POOL_SIZE '
            "or raise max_connections.",
        )
    return Fit(
        room,
        f"PostgreSQL can accept about {available} more connections: each of the {workers} "
        f"workers keeps {room + fixed} instead of {pool_size + fixed} "
        "(set DOORSTEP_DB_POOL_SIZE, or raise max_connections, to choose otherwise).",
    )
