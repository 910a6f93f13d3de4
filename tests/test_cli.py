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
    assert page.status_code == 200 and 'data-key="ds_pub_' in page.text


def test_db_upgrade(engine):
    r = runner.invoke(cli, ["db", "upgrade"])
    assert r.exit_code == 0 and "up to date" in r.stdout
