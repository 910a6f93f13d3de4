from __future__ import annotations

import json

from typer.testing import CliRunner

from doorstep.cli import app as cli

runner = CliRunner()


def test_demo_sets_up_real_offices_and_prints_a_working_token(client, engine):
    r = runner.invoke(cli, ["demo", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["account_name"] == "Demo Brand"
    offices = client.get("/api/v103/offices", headers={"X-API-KEY": out["token"]}).json()["data"]
    names = {o["name"] for o in offices}
    assert {"Nottingham", "Derby", "Wimbledon", "Newcastle", "Manchester"} <= names
    # running it again reuses the account and its offices
    again = json.loads(runner.invoke(cli, ["demo", "--json"]).stdout)
    assert again["account_id"] == out["account_id"] and again["token"] != out["token"]
    offices = client.get("/api/v103/offices", headers={"X-API-KEY": again["token"]}).json()["data"]
    assert len(offices) == len(names)
    # the previous run's token is revoked, not left to pile up
    assert client.get("/api/v103/offices", headers={"X-API-KEY": out["token"]}).status_code == 401
    # the instant valuation page is there, with its publishable key, once
    assert out["valuation_page"] == again["valuation_page"] == "/value/demo-brand"
    page = client.get("/value/demo-brand")
    assert page.status_code == 200 and 'data-key="ds_page_' in page.text


def test_db_upgrade(engine):
    r = runner.invoke(cli, ["db", "upgrade"])
    assert r.exit_code == 0 and "up to date" in r.stdout


def test_serve_production_keeps_the_workers_asked_for(engine, monkeypatch):
    """`--production --workers 1` ran one worker per CPU: 1 was taken for "not given"."""
    import os

    from doorstep.cli import serve
    from doorstep.config import get_settings

    ran: dict = {}
    monkeypatch.setattr(serve.uvicorn, "run", lambda *a, **kw: ran.update(kw))
    monkeypatch.setattr(serve, "_fit_pool", lambda workers, beside=0: None)
    started: list = []  # several server processes: the work in a process beside them
    monkeypatch.setattr(serve.WorkProcess, "start", lambda self: started.append(self))
    monkeypatch.setattr(serve.WorkProcess, "stop", lambda self, timeout=30.0: None)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    # serve sets these for its server processes; the test puts them back.
    monkeypatch.setenv("DOORSTEP_ENVIRONMENT", "development")
    monkeypatch.setenv("DOORSTEP_WORKER_IN_PROCESS", "false")
    try:
        r = runner.invoke(cli, ["serve", "--production", "--workers", "1"])
        assert r.exit_code == 0, r.output
        assert ran["workers"] == 1
        assert started == []
        r = runner.invoke(cli, ["serve", "--production"])
        assert r.exit_code == 0, r.output
        assert ran["workers"] == 4 and len(started) == 1
        assert os.environ["DOORSTEP_WORKER_IN_PROCESS"] == "false"
        r = runner.invoke(cli, ["serve"])
        assert r.exit_code == 0, r.output
        assert ran["workers"] == 1 and len(started) == 1
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        monkeypatch.undo()
        get_settings.cache_clear()
