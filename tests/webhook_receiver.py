"""A real HTTP receiver for webhook tests: records every request and answers as told
(200, 500, any status; or hangs, holding the request open until told otherwise).

    with Receiver() as rx:
        rx.answer(500)              # every request from now on
        rx.answer(500, 500, 200)    # the next two get 500, the ones after 200
        rx.hang()                   # hold requests open (until rx.answer(...) or the end)
        rx.wait_for(3)              # the first three requests, when they have come
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    at: float = field(default_factory=time.time)

    def json(self) -> Any:
        import json

        return json.loads(self.body)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        rx = self.server.receiver
        rx._record(
            Received(
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
        )
        status = rx._next_status()
        if status is None:  # hanging: wait until told to answer, or the receiver stops
            rx._release.wait()
            status = rx._next_status() or 200
        reply = b'{"ok": true}' if status < 400 else b'{"error": "told to fail"}'
        phrase = self.responses.get(status, ("",))[0]
        head = (
            f"HTTP/1.1 {status} {phrase}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(reply)}\r\n\r\n"
        )
        try:
            # One write: headers and body in one segment (no Nagle/delayed-ACK stall).
            self.wfile.write(head.encode() + reply)
            self.wfile.flush()
        except OSError:
            pass  # the sender went away (killed, or gave up waiting)

    do_PUT = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    receiver: Receiver


class Receiver:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self._server = _Server((host, 0), _Handler)
        self._server.receiver = self
        self.host = host
        self.port = int(self._server.server_address[1])
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._script: list[int] = []
        self._then: int | None = 200
        self._release = threading.Event()
        self._release.set()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    # -- telling it what to do ------------------------------------------------------------

    def answer(self, *statuses: int) -> None:
        """The next requests get these statuses in turn; the last one stays."""
        with self._lock:
            self._script = list(statuses[:-1])
            self._then = statuses[-1]
        self._release.set()

    def hang(self) -> None:
        with self._lock:
            self._script = []
            self._then = None
        self._release.clear()

    def _next_status(self) -> int | None:
        with self._lock:
            if self._script:
                return self._script.pop(0)
            return self._then

    # -- what came ------------------------------------------------------------------------

    def _record(self, r: Received) -> None:
        with self._arrived:
            self.requests.append(r)
            self._arrived.notify_all()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Received]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= n, timeout):
                raise AssertionError(
                    f"expected {n} requests within {timeout} s, got {len(self.requests)}"
                )
            return list(self.requests)
