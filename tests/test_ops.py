"""Health, readiness, metrics, structured logs and the API docs."""

from __future__ import annotations

import json
import logging
import os
import time

import httpx
import psycopg
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from doorstep import db
from doorstep.config import get_settings
from doorstep.models import RequestLog
from tests.conftest import IS_POSTGRES, lead_body
from tests.live import doorstep_serve, free_port

METRICS_TOKEN = "m3tr1cs-t0ken-for-the-tests-0123456789"


@pytest.fixture
def metrics_token(monkeypatch):
    monkeypatch.setenv("DOORSTEP_METRICS_TOKEN", METRICS_TOKEN)
    get_settings.cache_clear()
    yield METRICS_TOKEN
    monkeypatch.delenv("DOORSTEP_METRICS_TOKEN")
    get_settings.cache_clear()


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert (r.status_code, r.json()["database"]) == (200, "ok")


def test_readyz_is_503_when_the_database_is_unreachable(client, monkeypatch):
    from doorstep import db

    broken = db.build_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    monkeypatch.setattr(db, "get_engine", lambda: broken)
    assert client.get("/readyz").status_code == 503


def test_metrics_count_requests_latency_and_leads(client, owner, metrics_token):
    client.post("/api/v103/leads", json=lead_body(source="zoopla"), headers=owner.headers)
    text = client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"}).text
    assert (
        'doorstep_http_requests_total{method="POST",route="/api/v103/leads",status="200"}' in text
    )
    assert "doorstep_http_request_duration_seconds_bucket" in text
    assert 'doorstep_leads_created_total{source="zoopla",type="sale"}' in text


def test_metrics_are_off_the_public_app_unless_the_operator_sets_a_token(client):
    r = client.get("/metrics")
    assert r.status_code == 404 and r.json() == {"message": "Not found."}
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def test_metrics_need_the_operators_token(client, metrics_token):
    for authorization in (
        None,
        "Bearer wrong-token",
        f"Bearer {metrics_token}x",
        f"Basic {metrics_token}",
        metrics_token,
    ):
        headers = {"Authorization": authorization} if authorization else {}
        r = client.get("/metrics", headers=headers)
        assert r.status_code == 401, authorization
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert "doorstep_http_requests_total" not in r.text
    r = client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
    assert r.status_code == 200 and "doorstep_http_requests_total" in r.text


def test_metrics_on_a_port_of_their_own(engine, owner):
    metrics_port = free_port()
    with doorstep_serve("--metrics-port", str(metrics_port)) as (base, _proc):
        assert httpx.get(base + "/api/v103/offices", headers=owner.headers).status_code == 200
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert 'route="/api/v103/offices",status="200"' in text
        assert httpx.get(base + "/metrics").status_code == 404  # not on the public port


def test_serve_binds_the_metrics_port_to_loopback_unless_told(engine, monkeypatch):
    from doorstep.cli import app as cli
    from doorstep.cli import serve

    served: list[tuple[str, int]] = []
    monkeypatch.setattr(serve.uvicorn, "run", lambda *a, **kw: None)
    monkeypatch.setattr(serve.metrics, "serve", lambda host, port: served.append((host, port)))
    monkeypatch.setenv("DOORSTEP_WORKER_IN_PROCESS", "false")  # serve sets it
    runner = CliRunner()
    try:
        assert runner.invoke(cli, ["serve", "--metrics-port", "9101"]).exit_code == 0
        args = ["serve", "--metrics-port", "9101", "--metrics-host", "10.0.0.5"]
        assert runner.invoke(cli, args).exit_code == 0
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert served == [("127.0.0.1", 9101), ("10.0.0.5", 9101)]


def test_serve_refuses_a_forwarded_allow_ips_it_cannot_read(engine, monkeypatch):
    from doorstep.cli import app as cli
    from doorstep.cli import serve

    monkeypatch.setattr(serve.uvicorn, "run", lambda *a, **kw: pytest.fail("it started"))
    monkeypatch.setenv("DOORSTEP_ENVIRONMENT", "development")  # --production sets it
    try:
        args = ["serve", "--production", "--forwarded-allow-ips", "10.0.0.1;10.0.0.2"]
        r = CliRunner().invoke(cli, args)
    finally:
        monkeypatch.undo()
        os.environ.pop("DOORSTEP_FORWARDED_ALLOW_IPS", None)
        get_settings.cache_clear()
    assert r.exit_code == 1
    assert "'10.0.0.1;10.0.0.2' is not an IP address or network" in r.stderr


# What a proxy in front of Doorstep says of a request: the browser used HTTPS, from 203.0.113.7.
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


def _as_seen_through_a_proxy(base: str, owner) -> tuple[str, str | None]:
    """The Set-Cookie of a page and the client address in the request log, for requests that
    carry FORWARDED (sent from 127.0.0.1)."""
    cookie = httpx.get(base + "/login", headers=FORWARDED).headers["set-cookie"]
    r = httpx.get(base + "/api/v103/offices", headers={**FORWARDED, **owner.headers})
    assert r.status_code == 200
    rid = r.headers["x-request-id"]
    deadline = time.monotonic() + 5
    while True:
        with db.transaction() as s:
            found = s.execute(
                select(RequestLog.client_addr).where(RequestLog.request_id == rid)
            ).first()
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert found, "no request-log row"
    return cookie, found[0]


@pytest.mark.parametrize(
    ("options", "env"),
    [
        (("--forwarded-allow-ips", "192.0.2.1"), {}),
        ((), {"DOORSTEP_FORWARDED_ALLOW_IPS": "192.0.2.1, 198.51.100.0/24"}),
    ],
    ids=["option", "environment"],
)
def test_production_believes_x_forwarded_only_from_the_listed_proxies(engine, owner, options, env):
    """`--production` trusted X-Forwarded-* from anyone: a client reaching the port directly
    got Secure cookies over plain HTTP and wrote any address it liked into the request log."""
    with doorstep_serve("--production", *options, env=env) as (base, _proc):
        cookie, client_addr = _as_seen_through_a_proxy(base, owner)
    assert "secure" not in cookie.lower()
    assert client_addr == "127.0.0.1"


def test_production_believes_x_forwarded_from_a_proxy_on_this_host_by_default(engine, owner):
    with doorstep_serve("--production") as (base, _proc):
        cookie, client_addr = _as_seen_through_a_proxy(base, owner)
    assert "secure" in cookie.lower()
    assert client_addr == "203.0.113.7"


def test_logs_are_json_lines_with_the_request_id(client, owner, capsys):
    from doorstep.ops.logging import configure

    configure("INFO", as_json=True)
    try:
        r = client.get("/api/v103/offices", headers=owner.headers)
    finally:
        logging.getLogger().handlers.clear()
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    access = [x for x in lines if x["logger"] == "doorstep.access"]
    assert access and access[-1]["request_id"] == r.headers["x-request-id"]
    assert access[-1]["status"] == 200 and access[-1]["route"] == "/api/v103/offices"


@pytest.mark.parametrize("path", ["/unsubscribe/{}", "/q/{}"])
def test_the_access_log_does_not_hand_out_signed_links(client, capsys, path):
    """An unsubscribe or questionnaire link works for whoever holds it: the access log, read
    by operators and shipped to log stores, must not carry one."""
    from doorstep.ops.logging import configure

    secret = "eyJsZWFkIjo0Mn0.c2lnbmVkLWxpbmstdmFsdWU"
    configure("INFO", as_json=True)
    try:
        client.get(path.format(secret))
    finally:
        logging.getLogger().handlers.clear()
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    ours = [x for x in lines if x["logger"].startswith("doorstep")]
    assert ours[-1]["logger"] == "doorstep.access"
    assert ours[-1]["path"] == path.format("[redacted]")
    assert not [x for x in ours if secret in json.dumps(x)]


def test_openapi_documents_every_endpoint_with_the_documentation_examples(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path, method in [
        ("/api/v103/leads", "post"),
        ("/api/v103/leads/{lead_id}", "get"),
        ("/api/v103/leads/{lead_id}", "patch"),
        ("/api/v103/person/leads", "get"),
        ("/api/v103/offices", "get"),
        ("/api/v103/statuses", "get"),
    ]:
        assert method in paths[path], path
    create = paths["/api/v103/leads"]["post"]["requestBody"]["content"]["application/json"]
    assert create["example"]["email"] == "cloud9@cloud.com"
    props = create["schema"]["properties"]
    assert props["first_name"]["maxLength"] == 50
    assert "1,024 bytes" in props["meta"]["description"]
    assert set(paths["/api/v103/leads"]["post"]["responses"]) >= {
        "200", "400", "401", "409", "413", "415", "422", "429",
    }  # fmt: skip
    assert client.get("/docs").status_code == 200


def test_about_shows_the_ons_attribution(client):
    text = client.get("/about").text
    assert "Office for National Statistics licensed under the Open Government Licence v.3.0" in text
    assert "Royal Mail" in text and "GeoPlace" in text


def _close_our_connections(engine):
    """What a database restart does to the pool: every connection it holds is closed."""
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as conn:  # from outside the pool
        closed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert closed[0] >= 1


@pytest.mark.skipif(not IS_POSTGRES, reason="a SQLite file has no server to restart")
def test_requests_after_a_database_restart_succeed(client, owner, engine):
    # API requests check out a connection without a ping (their first statement is the
    # ping, retried once on a fresh connection); everything else is pinged on checkout.
    for _ in range(3):  # several pooled connections
        assert client.get("/api/v103/offices", headers=owner.headers).status_code == 200
    _close_our_connections(engine)
    r = client.post("/api/v103/leads", json=lead_body(), headers=owner.headers)
    assert r.status_code == 200, r.text
    assert client.get(f"/api/v103/leads/{r.json()['id']}", headers=owner.headers).status_code == 200
    _close_our_connections(engine)
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/v103/statuses", headers=owner.headers).status_code == 200
