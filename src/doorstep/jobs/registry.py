"""What each kind of job does. A feature registers its handlers with ``@handler(kind)`` in
its ``tasks.py``; ``jobs.handlers`` imports every such module for the worker."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from doorstep.jobs.worker import Work


class Retry(Exception):
    """The attempt failed for a reason that may pass (a server down, a timeout): try again
    on the handler's schedule, or give up once its attempts are spent."""

    def __init__(self, reason: str, after: timedelta | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after = after


class Later(Exception):
    """Not now, and not a failure (the office is closed): run again at ``at``, without
    spending an attempt."""

    def __init__(self, at: datetime, reason: str) -> None:
        super().__init__(reason)
        self.at = at
        self.reason = reason


class GiveUp(Exception):
    """The job can never succeed (an address refused, the lead gone): fail it now."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Seconds to wait after the 1st, 2nd, ... failed attempt; the last one's length is the number
# of attempts. The default: quick retries for a blip, then hours for an outage.
DEFAULT_BACKOFF = (30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600)


@dataclass(frozen=True)
class Handler:
    kind: str
    run: Callable[[Work], None]
    backoff: Sequence[float] = DEFAULT_BACKOFF
    # Called (in its own transaction) when the job fails for good: a handler's chance to
    # put the failure on the lead's timeline.
    on_failure: Callable[[Work, str], None] | None = None
    description: str = field(default="")
    # The handler only reads and writes the database, in ``work.session`` or through
    # ``work.on_outcome``: the worker takes such jobs in batches and runs them in the
    # transaction that marks them done (Worker.take), not one by one on its threads.
    in_transaction: bool = False

    @property
    def max_attempts(self) -> int:
        return len(self.backoff) + 1

    def delay(self, attempt: int) -> timedelta:
        """The wait after failed attempt number ``attempt`` (1-based), within ±10%."""
        base = self.backoff[min(attempt, len(self.backoff)) - 1]
        return timedelta(seconds=base * random.uniform(0.9, 1.1))


_HANDLERS: dict[str, Handler] = {}


def handler(
    kind: str,
    *,
    backoff: Sequence[float] = DEFAULT_BACKOFF,
    on_failure: Callable[[Work, str], None] | None = None,
    in_transaction: bool = False,
) -> Callable[[Callable[[Work], None]], Callable[[Work], None]]:
    def register(fn: Callable[[Work], None]) -> Callable[[Work], None]:
        if kind in _HANDLERS and _HANDLERS[kind].run is not fn:
            raise RuntimeError(f"two handlers for job kind {kind!r}")
        _HANDLERS[kind] = Handler(
            kind, fn, tuple(backoff), on_failure, (fn.__doc__ or "").strip(), in_transaction
        )
        return fn

    return register


def get(kind: str) -> Handler | None:
    return _HANDLERS.get(kind)


def in_transaction_kinds() -> tuple[str, ...]:
    return tuple(sorted(k for k, h in _HANDLERS.items() if h.in_transaction))


def max_attempts(kind: str) -> int:
    h = _HANDLERS.get(kind)
    return h.max_attempts if h else len(DEFAULT_BACKOFF) + 1
