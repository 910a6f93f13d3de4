"""A worker killed with SIGKILL while it holds claimed work loses nothing: another worker
finishes it once the dead one's lease runs out, and no work stays claimed by the dead one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select

from doorstep import db
from doorstep.models import Job
from tests.conftest import TEST_URL, create_lead_api
from tests.smtp_server import smtp_server  # noqa: F401  (the fixture)
from tests.test_responder import SPRING, _import, _timeline


@contextmanager
def worker_process(smtp_url: str, name: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DOORSTEP_DATABASE_URL": TEST_URL,
        "DOORSTEP_SMTP_URL": smtp_url,
        "DOORSTEP_MAIL_FROM": "leads@agency.example.com",
        "DOORSTEP_JOB_LEASE_SECONDS": "2",
        "DOORSTEP_WORKER_POLL_SECONDS": "0.1",
        "DOORSTEP_LOG_LEVEL": "WARNING",
        "DOORSTEP_DB_POOL_SIZE": "3",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "doorstep", "worker", "--concurrency", "2"], env=env
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _jobs() -> list[Job]:
    with db.transaction() as s:
        return list(s.scalars(select(Job).where(Job.kind == "workflow.step")))


def test_a_worker_killed_mid_send_loses_nothing(engine, client, owner, smtp_server, tmp_path):  # noqa: F811
    flow = {**SPRING, "steps": [SPRING["steps"][0]]}
    _import(owner.account_id, flow, tmp_path=tmp_path)
    sending = smtp_server.hold(1, 30)  # the first send hangs at DATA
    lead = create_lead_api(client, owner, meta={"campaign": "spring"})
    with worker_process(smtp_server.url(), "a") as a:
        assert sending.wait(30), "the first worker never reached the SMTP server"
        (job,) = _jobs()
        assert job.state == "running" and job.claimed_by
        dead = job.claimed_by
        a.send_signal(signal.SIGKILL)
        a.wait(10)
    with worker_process(smtp_server.url(), "b"):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _jobs()[0].state != "done":
            time.sleep(0.1)
    (job,) = _jobs()
    assert job.state == "done" and job.claimed_by is None and job.attempts == 2
    with db.transaction() as s:
        held = s.scalars(select(Job).where(Job.claimed_by == dead)).all()
    assert held == []
    delivered = [m for m in smtp_server.received if m.rcpt_tos == ["cloud9@cloud.com"]]
    assert delivered, "the e-mail was never sent"
    # If the relay went on to accept the dead worker's copy too, it is the same message.
    assert {m.message["Message-ID"] for m in delivered} == {
        f"<doorstep.job{job.id}.0@agency.example.com>"
    }
    assert [t["outcome"] for t in _timeline(lead["id"])] == ["sent"]
