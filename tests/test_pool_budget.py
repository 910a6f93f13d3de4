"""doorstep serve keeps its workers' PostgreSQL connections within what the server accepts."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from doorstep import db, pool_budget
from doorstep.cli import app as cli
from doorstep.cli import serve
from doorstep.config import get_settings
from tests.conftest import IS_POSTGRES

runner = CliRunner()


@pytest.fixture(autouse=True)
def _serve_leaves_no_worker_behind(monkeypatch):
    """`doorstep serve` writes DOORSTEP_WORKER_IN_PROCESS=true into the environment for the
    server processes it starts. Left there (and in the cached settings), every later test's
    app ran a background worker that raced the tests' own job runs for their jobs."""
    monkeypatch.setenv("DOORSTEP_WORKER_IN_PROCESS", "false")
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_pools_that_fit_are_left_alone():
    assert pool_budget.fit(2, 20, 0, 95, explicit=False) == pool_budget.Fit(20, None)


def test_too_many_workers_share_what_is_left():
    result = pool_budget.fit(4, 20, 0, 62, explicit=False)
    assert result.pool_size == 15
    assert result.message and "keeps 15 instead of 20" in result.message
    # Overflow connections count too.
    assert pool_budget.fit(4, 20, 5, 62, explicit=False).pool_size == 10


def test_an_operators_own_pool_size_is_kept_with_a_warning():
    result = pool_budget.fit(8, 20, 0, 95, explicit=True)
    assert result.pool_size == 20
    assert result.message and "too many clients" in result.message and "160" in result.message


def test_pools_too_small_to_work_are_not_made():
    result = pool_budget.fit(64, 20, 0, 95, explicit=False)
    assert result.pool_size == 20 and result.message and "fewer workers" in result.message


@pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL's own connection limit")
def test_the_budget_is_read_off_the_server(engine):
    with engine.connect() as conn:
        limit = int(conn.exec_driver_sql("SHOW max_connections").scalar_one())
    assert 0 < pool_budget.available(engine) < limit


def _no_work_process(monkeypatch):  # type: ignore[no-untyped-def]
    """serve --workers 3 would start `doorstep worker` beside its processes: not here."""
    started = []
    monkeypatch.setattr(serve.WorkProcess, "start", lambda self: started.append(self))
    monkeypatch.setattr(serve.WorkProcess, "stop", lambda self, timeout=30.0: None)
    return started


@pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL's own connection limit")
def test_serve_shrinks_the_workers_pools_to_fit(engine, monkeypatch):
    ran = {}
    monkeypatch.setattr("doorstep.cli.serve.uvicorn.run", lambda *a, **kw: ran.update(kw))
    monkeypatch.delenv("DOORSTEP_WORKER_IN_PROCESS", raising=False)  # serve sets it
    _no_work_process(monkeypatch)
    # Each worker keeps its SQLAlchemy pool and the create path's 12 asyncpg connections;
    # the work process beside them, its pool of 20 (it runs the 3 x 8 job threads the
    # server processes would have had, and 3 of its own).
    monkeypatch.setattr(pool_budget, "available", lambda engine: 66 + 20)
    monkeypatch.delenv("DOORSTEP_DB_POOL_SIZE", raising=False)
    try:
        r = runner.invoke(cli, ["serve", "--workers", "3"])
        assert r.exit_code == 0, r.output
        assert ran["workers"] == 3
        assert os.environ["DOORSTEP_DB_POOL_SIZE"] == "10"
        assert "each of the 3 workers keeps 22 instead of 32" in r.stderr
        assert db.get_engine().pool.size() == 10  # type: ignore[attr-defined]
    finally:
        os.environ.pop("DOORSTEP_DB_POOL_SIZE", None)
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        get_settings.cache_clear()
        db.set_engine(engine)


@pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL's own connection limit")
def test_serve_keeps_a_pool_size_the_operator_set(engine, monkeypatch, tmp_path):
    ran = {}
    monkeypatch.setattr("doorstep.cli.serve.uvicorn.run", lambda *a, **kw: ran.update(kw))
    monkeypatch.delenv("DOORSTEP_WORKER_IN_PROCESS", raising=False)  # serve sets it
    _no_work_process(monkeypatch)
    monkeypatch.setattr(pool_budget, "available", lambda engine: 30)
    monkeypatch.delenv("DOORSTEP_DB_POOL_SIZE", raising=False)
    (tmp_path / ".env").write_text("DOORSTEP_DB_POOL_SIZE=20\n")  # set in .env, not the shell
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    try:
        r = runner.invoke(cli, ["serve", "--workers", "3"])
        assert r.exit_code == 0, r.output
        assert "DOORSTEP_DB_POOL_SIZE" not in os.environ
        assert get_settings().db_pool_size == 20
        assert "too many clients" in r.stderr
    finally:
        monkeypatch.undo()
        os.environ.pop("DOORSTEP_DB_POOL_SIZE", None)
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        get_settings.cache_clear()
        db.set_engine(engine)


@pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL's own connection limit")
def test_serve_starts_when_the_limit_cannot_be_read(engine, monkeypatch):
    from sqlalchemy.exc import ProgrammingError

    def refuse(engine):
        raise ProgrammingError("SHOW max_connections", {}, Exception("permission denied"))

    ran = {}
    monkeypatch.setattr("doorstep.cli.serve.uvicorn.run", lambda *a, **kw: ran.update(kw))
    monkeypatch.delenv("DOORSTEP_WORKER_IN_PROCESS", raising=False)  # serve sets it
    monkeypatch.setattr(pool_budget, "available", refuse)
    r = runner.invoke(cli, ["serve"])
    assert r.exit_code == 0, r.output
    assert ran["workers"] == 1
    assert "Could not read PostgreSQL's connection limit" in r.stderr
