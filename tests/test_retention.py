"""Retention: old request-log entries, expired idempotency keys and past rate counters go;
token totals and everything inside its window stay."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from sqlalchemy import func, insert, select, update
from typer.testing import CliRunner

from doorstep import db, retention
from doorstep.cli import app as cli
from doorstep.config import get_settings
from doorstep.models import IdempotencyKey, RateCounter, RequestLog
from doorstep.models.base import utcnow
from doorstep.tokens import service as tokens
from tests.conftest import lead_body

runner = CliRunner()


def _age(model, ids, **delta) -> None:
    with db.transaction() as s:
        s.execute(
            update(model).where(model.id.in_(ids)).values(created_at=utcnow() - timedelta(**delta))
        )


def _log_ids() -> list[int]:
    with db.transaction() as s:
        return list(s.scalars(select(RequestLog.id).order_by(RequestLog.id)))


def _setting(monkeypatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def _settings_back(monkeypatch) -> None:
    monkeypatch.undo()
    get_settings.cache_clear()


def test_old_log_entries_go_and_token_totals_stay(engine, client, owner):
    for _ in range(3):
        assert client.post("/api/v103/leads", json=lead_body(), headers=owner.headers).is_success
    assert client.get("/api/v103/leads/0", headers=owner.headers).status_code == 404
    ids = _log_ids()
    assert len(ids) == 4
    # The totals were never shown, so nothing of the log is folded into them yet.
    _age(RequestLog, ids[:3], days=91)
    pruned = retention.prune(engine)
    assert pruned.request_logs == 3
    assert _log_ids() == ids[3:]
    with db.transaction() as s:
        st = tokens.stats(s, [owner.token_id])[owner.token_id]
    assert (st.requests, st.successes, st.failures) == (4, 3, 1)
    # Nothing more is old: a second run deletes nothing.
    assert retention.prune(engine).request_logs == 0


def test_entries_inside_the_window_stay(engine, client, owner, monkeypatch):
    client.post("/api/v103/leads", json=lead_body(), headers=owner.headers)
    client.post("/api/v103/leads", json=lead_body(), headers=owner.headers)
    ids = _log_ids()
    _age(RequestLog, ids[:1], days=89)
    assert retention.prune(engine).request_logs == 0
    _setting(monkeypatch, "DOORSTEP_REQUEST_LOG_DAYS", "30")
    try:
        assert retention.prune(engine).request_logs == 1
        assert _log_ids() == ids[1:]
    finally:
        _settings_back(monkeypatch)


def test_zero_days_keeps_the_log_for_ever(engine, client, owner, monkeypatch):
    client.post("/api/v103/leads", json=lead_body(), headers=owner.headers)
    _age(RequestLog, _log_ids(), days=3650)
    _setting(monkeypatch, "DOORSTEP_REQUEST_LOG_DAYS", "0")
    try:
        assert retention.prune(engine).request_logs == 0
        assert len(_log_ids()) == 1
    finally:
        _settings_back(monkeypatch)


def test_a_long_log_goes_in_batches(engine, owner, monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 4)
    now = utcnow()
    rows = [
        {
            "account_id": owner.account_id,
            "token_id": owner.token_id,
            "created_at": now - timedelta(days=days),
            "method": "POST",
            "path": "/api/v103/leads",
            "status_code": 200,
            "duration_ms": 1.0,
            "request_id": f"r{i}",
        }
        for i, days in enumerate([200] * 9 + [95, 10, 1])
    ]
    with db.transaction() as s:
        s.execute(insert(RequestLog), rows)
    assert retention.prune(engine).request_logs == 10
    with db.transaction() as s:
        assert s.scalars(select(RequestLog.request_id).order_by(RequestLog.request_id)).all() == [
            "r10",
            "r11",
        ]


def test_expired_idempotency_keys_go_and_live_ones_still_replay(engine, client, owner):
    for key in ("old", "live"):
        r = client.post(
            "/api/v103/leads", json=lead_body(), headers=owner.headers | {"Idempotency-Key": key}
        )
        assert r.is_success
    with db.transaction() as s:
        old = s.scalar(select(IdempotencyKey.id).where(IdempotencyKey.key == "old"))
    _age(IdempotencyKey, [old], hours=25)
    assert retention.prune(engine).idempotency_keys == 1
    with db.transaction() as s:
        assert s.scalars(select(IdempotencyKey.key)).all() == ["live"]
    r = client.post(
        "/api/v103/leads", json=lead_body(), headers=owner.headers | {"Idempotency-Key": "live"}
    )
    assert r.headers.get("Idempotent-Replayed") == "true"


def test_a_reused_expired_key_does_not_hide_older_ones_from_pruning(
    engine, client, owner, monkeypatch
):
    monkeypatch.setattr(retention, "BATCH", 1)
    for key in ("a", "b"):
        client.post(
            "/api/v103/leads", json=lead_body(), headers=owner.headers | {"Idempotency-Key": key}
        )
    with db.transaction() as s:
        ids = s.scalars(select(IdempotencyKey.id).order_by(IdempotencyKey.id)).all()
    _age(IdempotencyKey, ids, hours=30)
    # "a" is used again after its 24 hours: claimed afresh, it must not keep the lowest id
    # with a new time, or pruning, which reads old rows from the lowest id, stops at it.
    r = client.post(
        "/api/v103/leads", json=lead_body(), headers=owner.headers | {"Idempotency-Key": "a"}
    )
    assert r.is_success and "Idempotent-Replayed" not in r.headers
    assert retention.prune(engine).idempotency_keys == 1
    with db.transaction() as s:
        assert s.scalars(select(IdempotencyKey.key)).all() == ["a"]


def test_past_rate_counters_go(engine, owner):
    now = utcnow()
    window = int(now.timestamp() // 60)
    with db.transaction() as s:
        s.execute(
            insert(RateCounter),
            [{"token_id": owner.token_id, "window": window - k, "count": 3} for k in (0, 1, 2, 9)],
        )
    assert retention.prune(engine, now).rate_counters == 2
    with db.transaction() as s:
        windows = s.scalars(select(RateCounter.window).order_by(RateCounter.window)).all()
    assert windows == [window - 1, window]


def test_db_prune_prints_what_it_deleted(engine, client, owner):
    client.post("/api/v103/leads", json=lead_body(), headers=owner.headers)
    _age(RequestLog, _log_ids(), days=120)
    result = runner.invoke(cli, ["db", "prune", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out == {
        "request_logs": 1,
        "idempotency_keys": 0,
        "rate_counters": 0,
        "jobs": 0,
        "webhook_secrets": 0,
        "sign_in_rows": 0,
        "request_log_days": 90,
    }
    human = runner.invoke(cli, ["db", "prune"])
    assert "Deleted 0 request-log entries (kept 90 days)" in human.stdout


def test_the_server_prunes_at_start_and_stops_with_it(engine, owner, monkeypatch):
    from fastapi.testclient import TestClient

    from doorstep.app import create_app

    with db.transaction() as s:
        s.execute(
            insert(RequestLog),
            {
                "account_id": owner.account_id,
                "token_id": owner.token_id,
                "created_at": utcnow() - timedelta(days=400),
                "method": "GET",
                "path": "/api/v103/offices",
                "status_code": 200,
                "duration_ms": 1.0,
                "request_id": "ancient",
            },
        )
    _setting(monkeypatch, "DOORSTEP_PRUNE_INTERVAL_MINUTES", "60")
    try:
        app = create_app()
        with TestClient(app):
            pruner = app.state.pruner
            deadline = time.monotonic() + 10
            while pruner.runs < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert pruner.runs == 1
            with db.transaction() as s:
                assert s.scalar(select(func.count()).select_from(RequestLog)) == 0
        assert not pruner._thread.is_alive()
    finally:
        _settings_back(monkeypatch)


def test_expired_sessions_and_old_sign_in_failures_go(engine, client, owner):
    from doorstep.models import SignInFailure, UserSession
    from doorstep.users import signin
    from tests.factories import make_user, sign_in

    sign_in(client, make_user(owner.account_id))
    now = utcnow()
    with db.transaction() as s:
        s.add(SignInFailure(key="e:old@example.com", at=now - timedelta(hours=1)))
        s.add(SignInFailure(key="e:new@example.com", at=now))
        live = s.scalars(select(UserSession)).one()
        signin.open_session(s, live.user_id, "expired", None, None, now - timedelta(days=2))
    assert retention.prune(engine).sign_in_rows == 2
    with db.transaction() as s:
        assert s.scalars(select(SignInFailure.key)).all() == ["e:new@example.com"]
        assert len(s.scalars(select(UserSession)).all()) == 1
    assert client.get("/leads", follow_redirects=False).status_code == 200
