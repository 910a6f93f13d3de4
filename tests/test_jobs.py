"""Durable work: written with the change that causes it, claimed once, retried with backoff,
failed with a reason, recovered from a dead worker, listed and retried by an administrator."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from doorstep import db, retention
from doorstep.cli import app as cli
from doorstep.jobs import GiveUp, Retry, enqueue, handler, queue
from doorstep.jobs.worker import Work, Worker
from doorstep.models import Job, LeadEvent
from doorstep.models.base import utcnow
from tests.conftest import IS_POSTGRES, create_lead_api

runner = CliRunner()
LEASE = timedelta(seconds=30)

# What the test handlers saw, by job id.
seen: dict[int, int] = {}


@pytest.fixture(autouse=True)
def _forget():
    seen.clear()


@handler("test.count")
def _count(work: Work) -> None:
    seen[work.job.id] = seen.get(work.job.id, 0) + 1
    if work.payload.get("retry"):
        raise Retry("the server said 451 try later")
    if work.payload.get("give_up"):
        raise GiveUp("550 no such mailbox")
    if work.payload.get("crash"):
        raise ValueError("a bug")


def _noted(work: Work, reason: str) -> None:
    work.session.add(
        LeadEvent(
            lead_id=work.job.lead_id,
            account_id=work.job.account_id,
            kind="test",
            data={"r": reason},
        )
    )


@handler("test.note", backoff=(1, 1), on_failure=_noted)
def _note(work: Work) -> None:
    """Writes to the lead's timeline in the job's own transaction, then maybe fails."""
    work.session.add(
        LeadEvent(lead_id=work.job.lead_id, account_id=work.job.account_id, kind="test")
    )
    if work.payload.get("fail"):
        raise Retry("not this time")


def _jobs() -> list[Job]:
    with db.transaction() as s:
        return list(s.scalars(select(Job).order_by(Job.id)))


def _add(kind: str = "test.count", **payload) -> int:
    with db.transaction() as s:
        enqueue(s, kind, payload)
    return _jobs()[-1].id


def _run_due(engine, worker: str = "w1") -> int:
    w = Worker(engine, 1, name=worker)
    jobs = queue.claim(engine, worker, 10, LEASE)
    for j in jobs:
        w.run_one(j)
    return len(jobs)


def test_work_exists_only_if_the_change_that_caused_it_commits(engine):
    with pytest.raises(RuntimeError), db.transaction() as s:
        enqueue(s, "test.count", {"n": 1})
        raise RuntimeError("the lead's transaction fails")
    assert _jobs() == []
    _add(n=2)
    assert [j.payload for j in _jobs()] == [{"n": 2}]


def test_a_job_is_done_once_its_handler_returns(engine):
    jid = _add()
    assert _run_due(engine) == 1
    (job,) = _jobs()
    assert (job.state, job.attempts, job.claimed_by, seen[jid]) == ("done", 1, None, 1)
    assert job.finished_at is not None
    assert _run_due(engine) == 0


def test_a_failed_attempt_is_retried_with_backoff_then_failed_with_its_reason(engine):
    jid = _add(retry=True)
    _run_due(engine)
    (job,) = _jobs()
    assert job.state == "pending" and job.attempts == 1
    assert job.last_error == "the server said 451 try later"
    wait = (job.run_at - utcnow()).total_seconds()
    assert 25 <= wait <= 34  # the first step of the default backoff: 30 s, ±10%
    assert _run_due(engine) == 0  # not due yet
    for _ in range(job.max_attempts - 1):
        with db.transaction() as s:
            s.execute(update(Job).values(run_at=utcnow()))
        _run_due(engine)
    (job,) = _jobs()
    assert job.state == "failed" and job.attempts == job.max_attempts == 8
    assert job.last_error == "the server said 451 try later" and seen[jid] == 8


def test_give_up_fails_at_once_and_an_unexpected_error_is_retried(engine):
    a = _add(give_up=True)
    b = _add(crash=True)
    _run_due(engine)
    jobs = {j.id: j for j in _jobs()}
    assert jobs[a].state == "failed" and jobs[a].last_error == "550 no such mailbox"
    assert jobs[b].state == "pending" and jobs[b].last_error == "ValueError: a bug"


def test_the_handlers_writes_commit_with_the_job_and_only_then(engine, owner, client):
    lead = create_lead_api(client, owner)
    with db.transaction() as s:
        enqueue(s, "test.note", {"fail": True}, account_id=owner.account_id, lead_id=lead["id"])
        enqueue(s, "test.note", {}, account_id=owner.account_id, lead_id=lead["id"])
    _run_due(engine)
    with db.transaction() as s:
        kinds = list(s.scalars(select(LeadEvent.kind).where(LeadEvent.kind == "test")))
    assert kinds == ["test"]  # the failed attempt's write rolled back
    for _ in range(2):
        with db.transaction() as s:
            s.execute(update(Job).where(Job.state == "pending").values(run_at=utcnow()))
        _run_due(engine)
    with db.transaction() as s:
        data = list(s.scalars(select(LeadEvent.data).where(LeadEvent.kind == "test")))
    # on_failure recorded why, in the transaction that failed the job
    assert data == [None, {"r": "not this time"}]


@handler("test.logged", backoff=(1,))
def _logged(work: Work) -> None:
    """Logs its attempt whatever the outcome; its other writes only count on success."""
    work.session.add(
        LeadEvent(lead_id=work.job.lead_id, account_id=work.job.account_id, kind="test")
    )
    attempt = work.job.attempts
    work.on_outcome(
        lambda s: s.add(
            LeadEvent(
                lead_id=work.job.lead_id,
                account_id=work.job.account_id,
                kind="test_log",
                data={"attempt": attempt},
            )
        )
    )
    if attempt == 1:
        raise Retry("first time unlucky")


def test_a_handlers_log_of_its_attempt_is_kept_whatever_the_outcome(engine, owner, client):
    lead = create_lead_api(client, owner)
    with db.transaction() as s:
        enqueue(s, "test.logged", {}, account_id=owner.account_id, lead_id=lead["id"])
    _run_due(engine)
    with db.transaction() as s:
        s.execute(update(Job).where(Job.state == "pending").values(run_at=utcnow()))
    _run_due(engine)
    with db.transaction() as s:
        rows = s.execute(
            select(LeadEvent.kind, LeadEvent.data)
            .where(LeadEvent.kind.in_(("test", "test_log")))
            .order_by(LeadEvent.id)
        ).all()
    # the failed attempt's log stayed, its other write rolled back
    assert [tuple(r) for r in rows] == [
        ("test_log", {"attempt": 1}),
        ("test", None),
        ("test_log", {"attempt": 2}),
    ]


def test_enqueue_returns_the_new_jobs_ids_in_order(engine):
    with db.transaction() as s:
        one = enqueue(s, "test.count", {"n": 0})
        many = queue.enqueue_many(
            s, [{"kind": "test.count", "payload": {"n": i}} for i in (1, 2, 3)]
        )
    jobs = {j.id: j.payload["n"] for j in _jobs()}
    assert [jobs[i] for i in [one, *many]] == [0, 1, 2, 3]


def test_a_dead_workers_job_is_claimed_again_once_its_lease_runs_out(engine):
    jid = _add()
    (held,) = queue.claim(engine, "dead", 10, timedelta(seconds=-1))  # killed at once
    assert queue.claim(engine, "w2", 10, LEASE)[0].id == jid
    # the dead worker cannot complete what is no longer its own
    with db.transaction() as s, pytest.raises(queue.LostClaim):
        queue.finish(s, held.id, "dead")
    (job,) = _jobs()
    assert job.claimed_by == "w2" and job.attempts == 2


def test_a_live_worker_keeps_its_lease(engine):
    _add()
    (held,) = queue.claim(engine, "w1", 10, timedelta(seconds=1))
    assert queue.extend(engine, "w1", [held.id], LEASE) == 1
    time.sleep(1.1)
    assert queue.claim(engine, "w2", 10, LEASE) == []


def test_a_job_whose_worker_dies_every_time_is_failed_not_run_for_ever(engine):
    _add()
    for _ in range(8):
        queue.claim(engine, "dead", 10, timedelta(seconds=-1))
    _run_due(engine)
    (job,) = _jobs()
    assert job.state == "failed" and "stopped each time" in (job.last_error or "")


def test_concurrent_claimers_never_share_a_job(engine):
    with db.transaction() as s:
        for i in range(200):
            enqueue(s, "test.count", {"i": i})
    claimed: list[list[int]] = [[] for _ in range(4)]

    def claimer(n: int) -> None:
        while True:
            got = queue.claim(engine, f"w{n}", 7, LEASE)
            if not got:
                return
            claimed[n].extend(j.id for j in got)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for c in claimed for i in c]
    assert len(everything) == 200 == len(set(everything))


def test_on_postgresql_a_claimer_skips_rows_another_holds_without_waiting(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    with db.transaction() as s:
        for i in range(6):
            enqueue(s, "test.count", {"i": i})
    first = [j.id for j in _jobs()][:3]
    with engine.connect() as other:
        with other.begin():
            other.execute(select(Job.id).where(Job.id.in_(first)).with_for_update())
            started = time.monotonic()
            got = queue.claim(engine, "w2", 10, LEASE)
            assert time.monotonic() - started < 2
        assert sorted(j.id for j in got) == [j.id for j in _jobs()][3:]


def _worker_runs(w: Worker, jobs: int) -> list[int]:
    """Start ``w``, add ``jobs`` jobs, wait (10 s at most) until all are done, stop it."""
    w.start()
    try:
        ids = [_add() for _ in range(jobs)]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(j.state != "done" for j in _jobs()):
            time.sleep(0.05)
    finally:
        w.stop()
    return ids


def test_the_background_worker_runs_work_as_it_is_committed(engine):
    ids = _worker_runs(Worker(engine, 4, poll_s=0.05), 10)
    assert all(j.state == "done" for j in _jobs())
    assert all(seen[i] == 1 for i in ids)


@pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL's dead row versions")
def test_the_worker_vacuums_the_jobs_table_as_it_goes(engine):
    """Each claim and finish leaves dead row versions that every later claim reads past
    until they are vacuumed; this machine's PostgreSQL runs with autovacuum off."""
    before = _vacuums(engine)
    w = Worker(engine, 2, poll_s=0.05)
    w.vacuum_every, w.vacuum_min_s = 4, 0.0
    ids = _worker_runs(w, 10)
    assert all(seen[i] == 1 for i in ids)
    deadline = time.monotonic() + 5
    while _vacuums(engine) < before + 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _vacuums(engine) >= before + 2  # 10 jobs, a vacuum every 4


@pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL's dead row versions")
def test_the_worker_vacuums_at_most_so_often(engine):
    before = _vacuums(engine)
    w = Worker(engine, 2, poll_s=0.05)
    w.vacuum_every, w.vacuum_min_s = 4, 3600.0
    _worker_runs(w, 10)
    time.sleep(0.5)
    assert _vacuums(engine) == before  # 10 jobs, but not an hour since the worker started


def _vacuums(engine) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
        return int(
            conn.scalar(text("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'jobs'"))
        )


def test_the_due_jobs_index_holds_only_jobs_that_may_be_claimed(engine):
    from sqlalchemy import text

    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            definition = conn.scalar(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_jobs_due'")
            )
        else:
            definition = conn.scalar(
                text("SELECT sql FROM sqlite_master WHERE name = 'ix_jobs_due'")
            )
    assert "run_at" in definition and "'pending'" in definition and "'running'" in definition
    assert "'done'" not in definition


@handler("test.outcome_only")
def _outcome_only(work: Work) -> None:
    """Writes nothing but its outcome: the background worker records it with others."""
    n = work.payload["n"]
    if work.payload.get("bad_log") and work.job.attempts == 1:
        work.on_outcome(lambda s: s.execute(select(Job.id).where(Job.nonexistent == 1)))  # type: ignore[attr-defined]
        return
    work.on_outcome(
        lambda s: s.add(
            LeadEvent(
                lead_id=work.job.lead_id,
                account_id=work.job.account_id,
                kind="test_log",
                data={"n": n},
            )
        )
    )


def _run_in_background(engine, until) -> None:
    w = Worker(engine, 4, poll_s=0.05)
    w.start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not until():
            time.sleep(0.05)
    finally:
        w.stop()


def test_jobs_that_only_log_their_outcome_are_recorded_together_and_kept(engine, owner, client):
    lead = create_lead_api(client, owner)
    with db.transaction() as s:
        queue.enqueue_many(
            s,
            [
                {
                    "kind": "test.outcome_only",
                    "payload": {"n": i},
                    "account_id": owner.account_id,
                    "lead_id": lead["id"],
                }
                for i in range(40)
            ],
        )
    _run_in_background(
        engine, lambda: all(j.state == "done" for j in _jobs() if j.kind == "test.outcome_only")
    )
    jobs = [j for j in _jobs() if j.kind == "test.outcome_only"]
    assert len(jobs) == 40 and {(j.state, j.claimed_by) for j in jobs} == {("done", None)}
    with db.transaction() as s:
        logged = sorted(
            d["n"] for d in s.scalars(select(LeadEvent.data).where(LeadEvent.kind == "test_log"))
        )
    assert logged == list(range(40))


def test_a_log_that_cannot_be_written_retries_its_job_and_spares_the_others(engine, owner, client):
    lead = create_lead_api(client, owner)
    with db.transaction() as s:
        for i in range(6):
            payload = {"n": i, "bad_log": i == 3}
            enqueue(
                s, "test.outcome_only", payload, account_id=owner.account_id, lead_id=lead["id"]
            )

    def settled() -> bool:
        return all(j.state in ("done", "pending") for j in _jobs() if j.kind == "test.outcome_only")

    _run_in_background(engine, settled)
    by_n = {j.payload["n"]: j for j in _jobs() if j.kind == "test.outcome_only"}
    assert {n for n, j in by_n.items() if j.state == "done"} == {0, 1, 2, 4, 5}
    bad = by_n[3]
    assert bad.state == "pending" and bad.attempts == 1
    assert (bad.last_error or "").startswith("Recording its outcome failed: AttributeError")


def test_jobs_list_and_retry_from_the_command_line(engine):
    bad = _add(give_up=True)
    good = _add()
    _run_due(engine)
    r = runner.invoke(cli, ["jobs", "list", "--state", "failed", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["counts"] == {"pending": 0, "running": 0, "done": 1, "failed": 1}
    assert [j["id"] for j in out["jobs"]] == [bad]
    assert out["jobs"][0]["last_error"] == "550 no such mailbox"
    r = runner.invoke(cli, ["jobs", "retry", str(bad), str(good), "--json"])
    assert json.loads(r.stdout) == {"retried": [bad], "not_failed": [good]}
    job = next(j for j in _jobs() if j.id == bad)
    assert job.state == "pending" and job.attempts == 0
    r = runner.invoke(cli, ["jobs", "list", "--state", "stuck", "--json"])
    assert r.exit_code == 1 and "--state must be one of" in json.loads(r.stdout)["error"]
    r = runner.invoke(cli, ["jobs", "retry", "--json"])
    assert r.exit_code == 1


def test_finished_jobs_go_after_their_retention_pending_ones_never(engine):
    old_done = _add()
    _run_due(engine)
    pending = _add(kind="test.count")
    with db.transaction() as s:
        s.execute(update(Job).values(created_at=utcnow() - timedelta(days=400)))
        s.execute(
            update(Job).where(Job.id == old_done).values(finished_at=utcnow() - timedelta(days=31))
        )
    assert retention.prune(engine).jobs == 1
    assert [j.id for j in _jobs()] == [pending]


def test_a_server_process_runs_a_worker_unless_told_not_to(engine, monkeypatch):
    from fastapi.testclient import TestClient

    from doorstep.app import create_app
    from doorstep.config import get_settings

    monkeypatch.setenv("DOORSTEP_WORKER_IN_PROCESS", "true")
    monkeypatch.setenv("DOORSTEP_WORKER_POLL_SECONDS", "0.05")
    get_settings.cache_clear()
    try:
        with TestClient(create_app()) as c:
            assert c.app.state.worker is not None
            jid = _add()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _jobs()[0].state != "done":
                time.sleep(0.05)
            assert _jobs()[0].state == "done" and seen[jid] == 1
        monkeypatch.setenv("DOORSTEP_WORKER_IN_PROCESS", "false")
        get_settings.cache_clear()
        with TestClient(create_app()) as c:
            assert c.app.state.worker is None
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_serve_runs_work_in_its_processes_unless_told_not_to(engine, monkeypatch):
    import os

    ran: dict = {}
    monkeypatch.setattr("doorstep.cli.serve.uvicorn.run", lambda *a, **kw: ran.update(kw))
    monkeypatch.delenv("DOORSTEP_WORKER_IN_PROCESS", raising=False)  # serve sets it
    from doorstep.config import get_settings

    try:
        assert runner.invoke(cli, ["serve"]).exit_code == 0
        assert os.environ["DOORSTEP_WORKER_IN_PROCESS"] == "true"
        assert runner.invoke(cli, ["serve", "--no-worker"]).exit_code == 0
        assert os.environ["DOORSTEP_WORKER_IN_PROCESS"] == "false"
    finally:
        monkeypatch.undo()
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        get_settings.cache_clear()


def _children(pid: int) -> dict[int, str]:
    """The processes ``pid`` started, with their command lines."""
    from pathlib import Path

    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
                out[int(stat.parent.name)] = cmdline.decode()
        except (OSError, IndexError, ValueError):
            pass
    return out


def _work_processes(pid: int) -> list[int]:
    return [p for p, cmd in _children(pid).items() if "-m doorstep worker" in cmd]


def _until(check, seconds: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return found


def test_serve_with_several_processes_runs_the_work_in_one_process_beside_them(owner):
    """`doorstep serve --workers 2` runs no worker threads in its server processes (they
    would compete with the requests for each process's interpreter lock) but one `doorstep
    worker` beside them: it does a lead's work, is started again if it dies, and stops with
    serve."""
    import os
    import signal

    import httpx

    from tests.conftest import lead_body
    from tests.live import doorstep_serve

    def state(lead_id: int) -> str | None:
        with db.transaction() as s:
            return s.scalar(select(Job.state).where(Job.lead_id == lead_id))

    with doorstep_serve(workers=2, work=True) as (base, proc):
        (first,) = _until(lambda: _work_processes(proc.pid))
        r = httpx.post(base + "/api/v103/leads", json=lead_body(), headers=owner.headers)
        assert r.status_code == 200, r.text
        _until(lambda: state(r.json()["id"]) == "done")
        os.kill(first, signal.SIGKILL)
        (second,) = _until(lambda: [p for p in _work_processes(proc.pid) if p != first])
        r = httpx.post(
            base + "/api/v103/leads",
            json=lead_body(email="second@example.com", phone="07700900123"),
            headers=owner.headers,
        )
        _until(lambda: state(r.json()["id"]) == "done")
    with pytest.raises(ProcessLookupError):  # stopped with serve
        for _ in range(50):
            os.kill(second, 0)
            time.sleep(0.1)


def test_a_worker_started_by_serve_does_not_outlive_it():
    """The worker process serve starts is bound to it (PR_SET_PDEATHSIG on Linux): started
    after serve is gone (its parent is no longer the pid serve gave), it does not run."""
    import os
    import subprocess
    import sys

    from tests.conftest import TEST_URL

    env = {**os.environ, "DOORSTEP_DATABASE_URL": TEST_URL, "DOORSTEP_WORKER_PARENT_PID": "1"}
    # Its own process (the check binds the process that makes it): a worker that ran would
    # run until the timeout.
    r = subprocess.run(
        [sys.executable, "-m", "doorstep", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "at once" not in r.stderr  # never started
