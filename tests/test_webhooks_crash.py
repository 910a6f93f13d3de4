"""A worker killed in the middle of a delivery loses nothing: real `doorstep worker`
processes, one SIGKILLed while its POST is held open by the receiver, a second one that
delivers the webhook under the same webhook-id once the dead worker's lease runs out."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from standardwebhooks import Webhook

from doorstep import db
from doorstep.config import get_settings
from doorstep.models import Job, WebhookAttempt, WebhookDelivery
from doorstep.webhooks import service
from tests.conftest import TEST_URL, create_lead_api
from tests.webhook_receiver import Receiver

DOORSTEP = str(Path(sys.executable).parent / "doorstep")


def _worker() -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DOORSTEP_DATABASE_URL": TEST_URL,
        "DOORSTEP_WEBHOOKS_ALLOW_PRIVATE": "true",
        # A short lease: a dead worker's job is claimed again within seconds.
        "DOORSTEP_JOB_LEASE_SECONDS": "2",
        "DOORSTEP_WORKER_POLL_SECONDS": "0.1",
        "DOORSTEP_LOG_LEVEL": "WARNING",
        "DOORSTEP_DB_POOL_SIZE": "4",
    }
    return subprocess.Popen([DOORSTEP, "worker", "--concurrency", "2"], env=env)


def _wait(what: str, ok: Callable[[], object], timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = ok()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _delivery_job() -> Job | None:
    with db.transaction() as s:
        return s.scalar(select(Job).where(Job.kind == "webhook.deliver"))


def test_a_worker_killed_mid_delivery_loses_nothing_and_the_repeat_keeps_its_id(
    engine, client, owner, monkeypatch
):
    monkeypatch.setenv("DOORSTEP_WEBHOOKS_ALLOW_PRIVATE", "true")  # the receiver is local
    get_settings.cache_clear()
    procs: list[subprocess.Popen[bytes]] = []
    with Receiver() as rx:
        try:
            with db.transaction() as s:
                secret = service.create_endpoint(
                    s, owner.account_id, rx.url, ["lead.created"]
                ).secret
            rx.hang()  # the receiver holds the POST open
            lead = create_lead_api(client, owner)

            first = _worker()
            procs.append(first)
            rx.wait_for(1, timeout=30)
            held = _delivery_job()
            assert held is not None and held.state == "running" and held.claimed_by
            dead = held.claimed_by
            assert f":{first.pid}:" in dead  # this very process holds it
            first.kill()  # SIGKILL: no chance to tidy up
            first.wait(10)

            rx.answer(200)
            procs.append(_worker())
            _wait(
                "the delivery",
                lambda: (j := _delivery_job()) is not None and j.state == "done",
            )
        finally:
            for p in procs:
                if p.poll() is None:
                    p.terminate()
                    try:
                        p.wait(15)
                    except subprocess.TimeoutExpired:
                        p.kill()
            monkeypatch.undo()
            get_settings.cache_clear()
        requests = list(rx.requests)

    # Sent again after the crash, under the same id, so the receiver can drop the repeat.
    assert len(requests) == 2
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    for r in requests:
        assert Webhook(secret).verify(r.body, r.headers)["data"]["id"] == lead["id"]
    with db.transaction() as s:
        (d,) = s.scalars(select(WebhookDelivery)).all()
        attempts = s.scalars(select(WebhookAttempt)).all()
        jobs = s.scalars(select(Job)).all()
        assert d.state == "delivered" and d.msg_id == requests[0].headers["webhook-id"]
        # The dead worker's attempt was never recorded; the second worker's was.
        assert [(a.number, a.status_code) for a in attempts] == [(1, 200)]
        assert {j.state for j in jobs} == {"done"}
        assert not [j for j in jobs if j.claimed_by == dead]
        job = next(j for j in jobs if j.kind == "webhook.deliver")
        assert job.attempts == 2  # the killed claim counted
