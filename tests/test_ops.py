"""Health, readiness, metrics, structured logs and the API docs."""

from __future__ import annotations

import json
import logging

import psycopg
import pytest

from tests.conftest import IS_POSTGRES, lead_body


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert (r.status_code, r.json()["database"]) == (200, "ok")


def test_readyz_is_503_when_the_database_is_unreachable(client, monkeypatch):
    from doorstep import db

    broken = db.build_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    monkeypatch.setattr(db, "get_engine", lambda: broken)
    assert client.get("/readyz").status_code == 503


def test_metrics_count_requests_latency_and_leads(client, owner):
    client.post("/api/v103/leads", json=lead_body(source="zoopla"), headers=owner.headers)
    text = client.get("/metrics").text
    assert (
        'doorstep_http_requests_total{method="POST",route="/api/v103/leads",status="200"}' in text
    )
    assert "doorstep_http_request_duration_seconds_bucket" in text
    assert 'doorstep_leads_created_total{source="zoopla",type="sale"}' in text


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
