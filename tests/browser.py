"""A live server and Debian's chromium for the browser tests.

Playwright drives /usr/bin/chromium (its own browser downloads are not used). `make test`
installs chromium and sets DOORSTEP_REQUIRE_BROWSER=1, so there a missing browser fails the
run; a plain `pytest` without chromium skips these tests instead."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PORTS = range(8200, 8300)


def bound_socket() -> socket.socket:
    """A listening-ready socket on the first free port of PORTS, held from here on: choosing a
    port and binding it later raced with other suites running at the same time."""
    for port in PORTS:
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        return sock
    raise RuntimeError("no free port in 8200-8299")


def free_port() -> int:
    """A port free now (for a server that binds it itself: prefer bound_socket)."""
    with bound_socket() as sock:
        port: int = sock.getsockname()[1]
    return port


class LiveServer:
    def __init__(self, app: Any) -> None:
        import uvicorn

        self.socket = bound_socket()
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


@pytest.fixture
def live_server(app: Any) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server


# One browser for the whole run. Each test module that imports the fixture below defines a
# session fixture of its own, and a second sync_playwright() while the first runs fails
# ("Sync API inside the asyncio loop"): the modules share this one, the last user closes it.
_shared: dict[str, Any] = {"users": 0}


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("DOORSTEP_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing: `make browser` installs it")
        pytest.skip(f"{CHROMIUM} is missing (run `make browser`)")
    from playwright.sync_api import sync_playwright

    if not _shared["users"]:
        _shared["playwright"] = sync_playwright().start()
        _shared["browser"] = _shared["playwright"].chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
    _shared["users"] += 1
    try:
        yield _shared["browser"]
    finally:
        _shared["users"] -= 1
        if not _shared["users"]:
            _shared.pop("browser").close()
            _shared.pop("playwright").stop()
