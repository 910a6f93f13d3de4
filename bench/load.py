"""A deliberately light HTTP/1.1 load generator on raw asyncio streams.

It shares two cores with the servers under test, so it does almost nothing per request:
the requests are encoded before the clock starts, each client keeps one keep-alive
connection, and a response is read by its Content-Length without parsing the body.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Target:
    host: str
    port: int
    path: str
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self, body: bytes) -> bytes:
        head = [
            f"POST {self.path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Content-Type: application/json",
            "User-Agent: doorstep-bench",
            *(f"{k}: {v}" for k, v in self.headers.items()),
            f"Content-Length: {len(body)}",
        ]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@dataclass
class LoadResult:
    requests: int
    elapsed_s: float
    latencies_ms: list[float]
    errors: Counter[str]
    client_cpu_s: float

    @property
    def ok(self) -> int:
        return self.requests - sum(self.errors.values())


class _Connection:
    def __init__(self, target: Target, timeout: float) -> None:
        self.target = target
        self.timeout = timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> int:
        """Send one request, read the whole response; return its status code."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(
                self.target.host, self.target.port
            )
        assert self.reader is not None
        self.writer.write(raw)
        async with asyncio.timeout(self.timeout):
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
                elif name == b"transfer-encoding":
                    raise RuntimeError("chunked responses are not expected")
            await self.reader.readexactly(length)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Clients:
    """``n`` clients, each with one keep-alive connection kept from phase to phase, each
    sending its next request as soon as the previous answer is in."""

    def __init__(self, target: Target, n: int, timeout: float = 30.0) -> None:
        self.target = target
        self.connections = [_Connection(target, timeout) for _ in range(n)]

    def close(self) -> None:
        for c in self.connections:
            c.close()

    async def run(self, bodies: Sequence[bytes], duration: float, ramp: float = 0.0) -> LoadResult:
        """Send ``bodies`` in order (wrapping) for ``duration`` seconds. With ``ramp``, the
        clients start one by one over that many seconds: connections opened in one burst
        would all be accepted by whichever worker process wakes first."""
        requests = [self.target.encode(b) for b in bodies]
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        next_index = 0
        cpu0 = time.process_time()
        started = time.perf_counter()
        deadline = started + duration
        step = ramp / len(self.connections)

        async def client(i: int, conn: _Connection) -> None:
            nonlocal next_index
            if step:
                await asyncio.sleep(i * step)
            while time.perf_counter() < deadline:
                raw = requests[next_index % len(requests)]
                next_index += 1
                t0 = time.perf_counter()
                try:
                    status = await conn.request(raw)
                except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as e:
                    conn.close()
                    errors[type(e).__name__] += 1
                    latencies.append((time.perf_counter() - t0) * 1000)
                    await asyncio.sleep(0.01)
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)
                if status != 200:
                    errors[f"HTTP {status}"] += 1

        await asyncio.gather(*(client(i, c) for i, c in enumerate(self.connections)))
        return LoadResult(
            requests=len(latencies),
            elapsed_s=time.perf_counter() - started,
            latencies_ms=latencies,
            errors=errors,
            client_cpu_s=time.process_time() - cpu0,
        )


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]
