from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from typing import Annotated

import typer
import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from doorstep import db, pool_budget
from doorstep.cli.common import JsonOpt, emit, ensure_schema, session
from doorstep.cli.jobs import PARENT_ENV
from doorstep.config import get_settings
from doorstep.demo import ensure_demo
from doorstep.ops import logging as ops_logging
from doorstep.ops import metrics
from doorstep.valuation.demo import ensure_demo_sales


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes (default 1; with --production one per CPU)."),
    ] = None,
    production: Annotated[
        bool,
        typer.Option(
            "--production",
            help="Production mode: one worker per CPU unless --workers is given, trusts "
            "X-Forwarded-* from the proxies of --forwarded-allow-ips.",
        ),
    ] = False,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            "--forwarded-allow-ips",
            help="With --production: the proxies whose X-Forwarded-For and -Proto are "
            "believed, comma-separated addresses or networks ('*': any). Default: "
            "DOORSTEP_FORWARDED_ALLOW_IPS, else 127.0.0.1.",
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            help="Serve /metrics on this port, without a token (on the public port it needs "
            "DOORSTEP_METRICS_TOKEN).",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="Interface for --metrics-port.")
    ] = "127.0.0.1",
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker",
            help="Do not run durable work (messages, webhooks) in the server's processes; "
            "run `doorstep worker` instead.",
        ),
    ] = False,
) -> None:
    """Serve the API (docs at /docs) and the dashboard."""
    if production:
        os.environ["DOORSTEP_ENVIRONMENT"] = "production"
        get_settings.cache_clear()
    if forwarded_allow_ips is not None:
        os.environ["DOORSTEP_FORWARDED_ALLOW_IPS"] = forwarded_allow_ips
        get_settings.cache_clear()
        if not production:
            typer.echo("--forwarded-allow-ips counts only with --production.", err=True)
    if workers is None:
        workers = (os.cpu_count() or 1) if production else 1
    settings = get_settings()
    try:
        settings.check()
    except RuntimeError as e:
        typer.echo(f"Error: {e}", err=True)
        raise typer.Exit(1) from None
    ensure_schema()
    ops_logging.configure(settings.log_level, settings.log_json)
    # One server process runs the work on threads of its own. Several leave it to one
    # `doorstep worker` process beside them: a worker's threads in a server process compete
    # with its requests for the process's one interpreter lock (measured with two server
    # processes: 635 creates a second with a worker thread in each, 761 with the work in a
    # process of its own, whose CPU was counted too).
    beside = not no_worker and workers > 1
    # Server processes read their settings from the environment when they start.
    os.environ["DOORSTEP_WORKER_IN_PROCESS"] = "false" if no_worker or beside else "true"
    get_settings.cache_clear()
    _fit_pool(workers, WorkProcess.connections(workers) if beside else 0)
    if workers > 1:
        # prometheus_client adds up the processes' metrics through files in this folder.
        mdir = os.path.join(tempfile.gettempdir(), f"doorstep-metrics-{port}")
        shutil.rmtree(mdir, ignore_errors=True)
        os.makedirs(mdir)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = mdir
    if metrics_port is not None:
        try:
            metrics.serve(metrics_host, metrics_port)
        except OSError as e:
            where = f"{metrics_host}:{metrics_port}"
            typer.echo(f"Error: cannot serve metrics on {where}: {e}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"Metrics on http://{metrics_host}:{metrics_port}/metrics", err=True)
    typer.echo(f"Doorstep on http://{host}:{port} (API docs: http://{host}:{port}/docs)", err=True)
    work = WorkProcess(workers) if beside else None
    if work is not None:
        work.start()
    try:
        uvicorn.run(
            "doorstep.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            proxy_headers=production,
            # Only these addresses may say which client and scheme a request came from: from any
            # other, X-Forwarded-For would spoof the request log's client address and
            # X-Forwarded-Proto: https would pass a plain-HTTP request off as secure.
            forwarded_allow_ips=get_settings().forwarded_allow_ips if production else None,
            access_log=False,
            log_config=None,
        )
    finally:
        if work is not None:
            work.stop()


class WorkProcess:
    """`doorstep worker` beside the server's processes: started with them, stopped with them
    (it finishes the jobs in hand), started again if it dies. It polls for due work every
    WORK_POLL_S (the server's processes cannot wake it as they wake a worker thread), unless
    DOORSTEP_WORKER_POLL_SECONDS says otherwise."""

    def __init__(self, servers: int) -> None:
        # The job threads the server processes would have had between them.
        self.concurrency = WorkProcess.threads_for(servers)
        self.proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._supervise, name="doorstep-work", daemon=True)

    @staticmethod
    def threads_for(servers: int) -> int:
        return min(256, get_settings().worker_concurrency * servers)

    @staticmethod
    def connections(servers: int) -> int:
        """The most database connections it holds: its claim, lease and recording threads
        and one a job thread, within its pool."""
        settings = get_settings()
        pool = settings.db_pool_size + settings.db_max_overflow
        return min(pool, WorkProcess.threads_for(servers) + 3)

    def start(self) -> None:
        self._thread.start()

    def _supervise(self) -> None:
        env = {
            "DOORSTEP_WORKER_POLL_SECONDS": str(WORK_POLL_S),
            **os.environ,
            # It stops when serve dies without stopping it (SIGKILL): cli/jobs.py.
            PARENT_ENV: str(os.getpid()),
        }
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                self.proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "doorstep",
                        "worker",
                        "--concurrency",
                        str(self.concurrency),
                    ],
                    env=env,
                )
            code = self.proc.wait()
            if self._stopping.is_set() or code == 0:
                return  # stopped by us, or by a signal to the whole group (Ctrl-C)
            typer.echo(
                f"The worker process exited with {code}; starting it again in {RESTART_S} s.",
                err=True,
            )
            if self._stopping.wait(RESTART_S):
                return

    def stop(self, timeout: float = 30.0) -> None:
        with self._lock:
            self._stopping.set()
            proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()  # SIGTERM: it finishes the jobs in hand
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._thread.join(timeout)


WORK_POLL_S = 0.1
RESTART_S = 1.0


def _fit_pool(workers: int, beside: int = 0) -> None:
    """Keep the workers' connections within what PostgreSQL accepts (pool_budget.py);
    ``beside``: the connections another process of serve's holds (its worker process)."""
    engine = db.get_engine()
    if engine.dialect.name != "postgresql":
        return
    settings = get_settings()
    try:
        available = pool_budget.available(engine) - beside
    except SQLAlchemyError as e:
        typer.echo(
            f"Could not read PostgreSQL's connection limit ({e}); pools left as set.", err=True
        )
        return
    # Beside its SQLAlchemy pool a worker keeps that pool's overflow and the create path's
    # asyncpg pool (pg.py).
    fixed = settings.db_max_overflow + (settings.db_async_pool_size if settings.db_async else 0)
    result = pool_budget.fit(
        workers,
        settings.db_pool_size,
        fixed,
        available,
        # Set in the environment or .env: the operator's choice, kept.
        explicit="db_pool_size" in settings.model_fields_set,
    )
    if result.pool_size != settings.db_pool_size:
        # Worker processes read their settings from the environment when they start; a
        # single worker runs in this process, on an engine built afresh.
        os.environ["DOORSTEP_DB_POOL_SIZE"] = str(result.pool_size)
        get_settings.cache_clear()
        db.set_engine(db.build_engine(get_settings().database_url))
    if result.message:
        typer.echo(result.message, err=True)


def demo(as_json: bool = JsonOpt) -> None:
    """Set up the "Demo Brand" account with real offices; print the demo admin's dashboard
    login (a fresh password each run) and a fresh API token. The first time, also import the
    shipped Price Paid samples (SW19, Greater Manchester, Newcastle) so instant valuations
    there return real estimates."""
    ensure_schema()
    with session() as s:
        d = ensure_demo(s)
        out = {
            "account_id": d.account.id,
            "account_name": d.account.name,
            "token": d.token,
            "admin_email": d.admin_email,
            "admin_password": d.admin_password,
            "valuation_page": d.valuation_page,
        }
    sales = ensure_demo_sales(db.get_engine(), show_progress=not as_json)
    out["imported_sales"] = sales
    body = (
        '{"type":"vendor","first_name":"Marla","last_name":"Singer","email":"m@example.com",'
        '"phone":"07986000000","postcode":"M25 9RZ","property_type":"semi-detached"}'
    )
    emit(
        out,
        as_json,
        f"Demo account: {out['account_name']} (id {out['account_id']})\n"
        f"Dashboard:    http://127.0.0.1:8000/login\n"
        f"  email:      {out['admin_email']}\n"
        f"  password:   {out['admin_password']}\n"
        f"API token:    {out['token']}\n"
        f"API docs:     http://127.0.0.1:8000/docs\n"
        f"Try:          curl -H 'X-API-KEY: {out['token']}' http://127.0.0.1:8000/api/v103/offices\n"
        f"Valuation:    curl -H 'X-API-KEY: {out['token']}' -H 'Content-Type: application/json' "
        f"-d '{body}' http://127.0.0.1:8000/api/v103/leads/valuation"
        + (
            f"\nValuation page: http://127.0.0.1:8000{out['valuation_page']} (try M25 9RZ)"
            if out["valuation_page"]
            else ""
        )
        + (
            f"\nDemo sales:   {sales['sales']:,} imported ({sales['months'][0]} to "
            f"{sales['months'][1]}), Price Paid Data for SW19, Greater Manchester, Newcastle"
            if sales
            else ""
        ),
    )
