"""A real `uvicorn` process on the test database, for concurrency and crash tests, and
`doorstep serve` itself for its options."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.conftest import TEST_URL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(
    workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "doorstep.app:create_app", "--factory",
        "--port", str(port), "--workers", str(workers), "--log-level", "warning",
    ]  # fmt: skip
    with _running(command, port, {**_env(), **(env or {})}) as proc:
        yield f"http://127.0.0.1:{port}", proc


@contextmanager
def doorstep_serve(
    *options: str, env: dict[str, str] | None = None, workers: int = 1, work: bool = False
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``doorstep serve`` with the options given, as an operator starts it (one worker, and
    no durable work beside the tests unless ``work``)."""
    port = free_port()
    command = [
        sys.executable, "-c", "from doorstep.cli import main; main()",
        "serve", "--port", str(port), "--workers", str(workers),
        *([] if work else ["--no-worker"]), *options,
    ]  # fmt: skip
    with _running(command, port, {**_env(), **(env or {})}) as proc:
        yield f"http://127.0.0.1:{port}", proc


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "DOORSTEP_DATABASE_URL": TEST_URL,
        "DOORSTEP_LOG_LEVEL": "WARNING",
        # Few connections per worker: the tests share PostgreSQL's 100 with whatever else
        # runs on the machine, and requests queue on the pool rather than fail.
        "DOORSTEP_DB_POOL_SIZE": "5",
        "DOORSTEP_DB_MAX_OVERFLOW": "5",
        "DOORSTEP_DB_ASYNC_POOL_SIZE": "5",
    }


@contextmanager
def _running(
    command: list[str], port: int, env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the test server did not start")
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
