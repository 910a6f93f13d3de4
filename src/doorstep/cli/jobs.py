"""Durable work: see what is pending, done and failed, retry what failed, run a worker."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from typing import Annotated, Any

import typer

from doorstep import db
from doorstep.cli.common import JsonOpt, emit, ensure_schema, fail, session
from doorstep.jobs import queue
from doorstep.jobs.worker import Worker
from doorstep.leads.serialize import iso
from doorstep.models import Job
from doorstep.models.job import JOB_STATES

app = typer.Typer(help="Durable work (messages, webhooks, calls): list and retry.")


def job_dict(j: Job) -> dict[str, Any]:
    return {
        "id": j.id,
        "kind": j.kind,
        "state": j.state,
        "account_id": j.account_id,
        "lead_id": j.lead_id,
        "attempts": j.attempts,
        "max_attempts": j.max_attempts,
        "run_at": iso(j.run_at),
        "created_at": iso(j.created_at),
        "finished_at": iso(j.finished_at),
        "last_error": j.last_error,
    }


@app.command("list")
def list_(
    state: Annotated[
        str | None, typer.Option("--state", help="pending, running, done or failed.")
    ] = None,
    account: Annotated[int | None, typer.Option("--account", help="Account id.")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="e.g. webhook.deliver")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    as_json: bool = JsonOpt,
) -> None:
    """The newest jobs, with counts by state."""
    if state is not None and state not in JOB_STATES:
        fail(f"--state must be one of {', '.join(JOB_STATES)}.")
    with session() as s:
        rows = queue.listing(s, account_id=account, state=state, kind=kind, limit=limit)
        counts = queue.counts(s, account)
        jobs = [job_dict(j) for j in rows]
    lines = [", ".join(f"{n} {st}" for st, n in counts.items())]
    for j in jobs:
        line = f"{j['id']:>7}  {j['state']:<8} {j['kind']:<22} lead {j['lead_id'] or '-'}"
        line += f"  attempts {j['attempts']}/{j['max_attempts']}"
        if j["last_error"]:
            line += f"  {j['last_error'][:80]}"
        lines.append(line)
    emit({"counts": counts, "jobs": jobs}, as_json, "\n".join(lines))


@app.command("retry")
def retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Failed job ids.")] = None,
    all_failed: Annotated[
        bool, typer.Option("--all-failed", help="Every failed job (of --account).")
    ] = False,
    account: Annotated[int | None, typer.Option("--account", help="Account id.")] = None,
    as_json: bool = JsonOpt,
) -> None:
    """Put failed jobs back to pending, due now, with a fresh count of attempts."""
    if not ids and not all_failed:
        fail("Name the failed jobs to retry, or use --all-failed.")
    with session() as s:
        wanted = queue.failed_ids(s, account) if all_failed else list(ids or [])
        done = queue.retry(s, wanted, account)
    skipped = sorted(set(wanted) - set(done))
    emit(
        {"retried": done, "not_failed": skipped},
        as_json,
        f"Retrying {len(done)} job(s)."
        + (f" Not failed (left as they are): {', '.join(map(str, skipped))}." if skipped else ""),
    )


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", min=1, max=256, help="Jobs run at once (threads)."),
    ] = None,
) -> None:
    """Run durable work alone (any number of workers, on any number of hosts, against one
    PostgreSQL database). Stops cleanly on SIGTERM or Ctrl-C, finishing what it started."""
    ensure_schema()
    w = Worker(db.get_engine(), concurrency)

    def _stop(signum: int, _frame: object) -> None:
        typer.echo("Stopping: finishing the jobs in hand.", err=True)
        w._stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if not _bound_to_parent():
        return
    typer.echo(f"Worker {w.name}: {w.concurrency} at once.", err=True)
    w.run_forever()


# Set by `doorstep serve` for the worker process it runs beside its server processes.
PARENT_ENV = "DOORSTEP_WORKER_PARENT_PID"


def _bound_to_parent() -> bool:
    """Started by ``doorstep serve``: on Linux, SIGTERM (a clean stop) when serve dies
    without stopping it (SIGKILL); False if serve is gone already."""
    parent = os.environ.get(PARENT_ENV)
    if not parent:
        return True
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    return os.getppid() == int(parent)
