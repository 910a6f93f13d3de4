"""Named tokens, shown once and stored as a hash; the request log and per-token counts."""

from __future__ import annotations

import json

from sqlalchemy import select
from typer.testing import CliRunner

from doorstep.cli import app as cli
from doorstep.models import ApiToken, RequestLog
from doorstep.tokens.service import hash_token
from tests.conftest import lead_body

runner = CliRunner()


def run(*args):
    r = runner.invoke(cli, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout) if "--json" in args else r.stdout


def test_only_the_hash_of_a_token_is_stored(engine, owner, session):
    row = session.get(ApiToken, owner.token_id)
    assert row.token_hash == hash_token(owner.token)
    assert owner.token not in (row.token_hash, row.prefix)


def test_every_authenticated_request_is_logged_with_its_fields(client, owner, session):
    body = lead_body()
    r = client.post(
        "/api/v103/leads?src=test",
        json=body,
        headers={**owner.headers, "User-Agent": "agency-site/1.0"},
    )
    bad = client.post("/api/v103/leads", json={"first_name": ""}, headers=owner.headers)
    client.get("/api/v103/offices")  # no token: not logged
    logs = session.scalars(select(RequestLog).order_by(RequestLog.id)).all()
    assert len(logs) == 2
    ok, failed = logs
    assert (ok.method, ok.path, ok.query, ok.status_code) == (
        "POST",
        "/api/v103/leads",
        "src=test",
        200,
    )
    assert ok.request_id == r.headers["x-request-id"]
    assert ok.lead_id == r.json()["id"]
    assert ok.user_agent == "agency-site/1.0"
    assert ok.client_addr
    assert ok.duration_ms > 0
    assert json.loads(ok.body) == body
    assert ok.token_id == owner.token_id and ok.account_id == owner.account_id
    # What the client was told, each field's reasons included (the message alone named them).
    told = bad.json()
    reasons = [f"{f}: {r}" for f, rs in told["errors"].items() for r in rs]
    assert (failed.status_code, failed.error) == (422, "\n".join([told["message"], *reasons]))


def test_the_logged_body_is_cut_at_16_kib(client, owner, session):
    client.post("/api/v103/leads", json=lead_body(padding="x" * 30_000), headers=owner.headers)
    log = session.scalars(select(RequestLog)).one()
    assert len(log.body.encode()) == 16 * 1024
    assert log.body_truncated


def test_the_raw_body_is_logged_even_when_it_is_not_json(client, owner, session):
    client.post(
        "/api/v103/leads",
        content=b"{not json",
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    log = session.scalars(select(RequestLog)).one()
    assert (log.body, log.status_code) == ("{not json", 400)


def test_rate_limited_requests_are_logged(client, engine):
    from tests.conftest import make_agency

    agency = make_agency("Tiny", (("Derby", "DE1 1JX", "DE1"),), rate_limit=1)
    client.get("/api/v103/offices", headers=agency.headers)
    client.get("/api/v103/offices", headers=agency.headers)
    out = run("tokens", "list", "--account", agency.account_id, "--json")
    (tok,) = out["tokens"]
    assert (tok["requests"], tok["successes"], tok["failures"]) == (2, 1, 1)


def test_tokens_cli_create_list_log_and_revoke(client, owner):
    created = run("tokens", "create", "--account", owner.account_id, "--name", "Zoopla feed",
                  "--rate-limit", "100", "--json")  # fmt: skip
    assert set(created) == {"id", "token", "account_id"}
    headers = {"X-API-KEY": created["token"]}
    lead = client.post("/api/v103/leads", json=lead_body(), headers=headers).json()
    client.get("/api/v103/leads/999999", headers=headers)

    listed = run("tokens", "list", "--account", owner.account_id, "--json")
    mine = next(t for t in listed["tokens"] if t["id"] == created["id"])
    assert (mine["name"], mine["rate_limit_per_minute"]) == ("Zoopla feed", 100)
    assert (mine["requests"], mine["successes"], mine["failures"]) == (2, 1, 1)
    assert mine["last_used_at"].endswith("Z")
    assert created["token"] not in json.dumps(listed)

    log = run("tokens", "log", created["id"], "--json")
    assert [e["status_code"] for e in log["entries"]] == [404, 200]
    assert log["entries"][1]["lead_id"] == lead["id"]

    run("tokens", "revoke", created["id"])
    assert client.get("/api/v103/offices", headers=headers).status_code == 401


def test_cli_commands_print_exactly_one_json_object(engine):
    acc = run("accounts", "create", "Skyline Estates", "--json")
    assert set(acc) == {"id", "name"}
    office = run("offices", "create", "--account", acc["id"], "--name", "Oxford",
                 "--postcode", "ox3 9nx", "--coverage", "OX3, OX4 1,OX", "--json")  # fmt: skip
    assert set(office) == {"id", "name"}
    listed = run("offices", "list", "--account", acc["id"], "--json")
    assert listed["offices"][0]["postcode"] == "OX3 9NX"
    assert sorted(listed["offices"][0]["coverage"]) == ["OX", "OX3", "OX4 1"]
    status = run("statuses", "create", "--account", acc["id"], "--name", "Viewing",
                 "--stage", "100", "--json")  # fmt: skip
    assert status["stageId"] == 100
    token = run("tokens", "create", "--account", acc["id"], "--name", "Web", "--json")
    assert token["token"].startswith("ds_") and token["account_id"] == acc["id"]


def test_cli_errors_are_clear_and_exit_non_zero(engine):
    r = runner.invoke(cli, ["offices", "create", "--account", "1", "--name", "X",
                            "--postcode", "NG1 5FS", "--json"])  # fmt: skip
    assert r.exit_code == 1 and "no account" in r.stderr
    # With --json a failure is one JSON object too (stdout was empty).
    assert json.loads(r.stdout) == {"error": "There is no account 1.", "errors": {}}
    acc = run("accounts", "create", "A", "--json")
    r = runner.invoke(cli, ["offices", "create", "--account", str(acc["id"]), "--name", "X",
                            "--postcode", "nowhere", "--coverage", "NG1,12345"])  # fmt: skip
    assert r.exit_code == 1 and r.stdout == ""  # no --json: nothing on stdout
    assert "postcode" in r.stderr and "'12345'" in r.stderr
    bad = ["offices", "create", "--account", str(acc["id"]), "--name", "X",
           "--postcode", "nowhere", "--coverage", "NG1,12345", "--json"]  # fmt: skip
    r = runner.invoke(cli, bad)
    assert set(json.loads(r.stdout)["errors"]) == {"postcode", "coverage"}


def test_help_lists_every_command(engine):
    out = runner.invoke(cli, ["--help"]).stdout
    for name in ("serve", "db", "accounts", "offices", "statuses", "tokens", "geo"):
        assert name in out


def test_usage_totals_are_folded_in_and_never_counted_twice(client, owner):
    from datetime import timedelta

    from sqlalchemy import update

    from doorstep import db
    from doorstep.models import TokenUsage
    from doorstep.models.base import utcnow
    from doorstep.tokens.service import stats

    for _ in range(3):
        client.get("/api/v103/offices", headers=owner.headers)
    client.get("/api/v103/leads/424242", headers=owner.headers)

    def figures():
        with db.transaction() as s:
            st = stats(s, [owner.token_id])[owner.token_id]
            return (st.requests, st.successes, st.failures)

    assert figures() == (4, 3, 1)  # all fresh: counted on the fly, nothing stored yet
    with db.transaction() as s:
        assert s.get(TokenUsage, owner.token_id) is None
    with db.transaction() as s:  # the log settles
        s.execute(update(RequestLog).values(created_at=utcnow() - timedelta(minutes=1)))
    assert figures() == (4, 3, 1)
    with db.transaction() as s:
        usage = s.get(TokenUsage, owner.token_id)
        assert (usage.requests, usage.successes) == (4, 3)
    assert figures() == (4, 3, 1)  # folded once, not again
    client.get("/api/v103/leads/424243", headers=owner.headers)
    assert figures() == (5, 3, 2)


def test_ids_and_limits_past_the_integer_columns_are_refused_not_a_crash(engine, owner):
    """A PostgreSQL INTEGER holds 2**31 - 1: a larger id or limit reached the database."""
    big = str(2**31)
    for args, says in (
        (["tokens", "revoke", big], f"There is no token {big}"),
        (["tokens", "list", "--account", big], f"There is no account {big}"),
        (
            ["tokens", "create", "--account", owner.account_id, "--name", "x", "--rate-limit", big],
            "0 (unlimited) to 1,000,000",
        ),
    ):
        r = runner.invoke(cli, [str(a) for a in args])
        assert r.exit_code == 1, r.output
        assert says in r.output
