"""Shared plumbing for streaming file imports: gzip or plain, bounded memory, progress."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

# Each import lists its first bad rows with their line numbers, then says how many more.
MAX_REPORTED_ERRORS = 20


@dataclass(kw_only=True)
class RowErrors:
    """The bad rows of an import: the first MAX_REPORTED_ERRORS, and how many more."""

    errors: list[str] = field(default_factory=list)
    errors_not_listed: int = 0

    def note(self, line: int, reason: object) -> None:
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(f"line {line}: {reason}")
        else:
            self.errors_not_listed += 1

    def errors_text(self, what: str = "") -> str:
        """The listed errors, a line each, and the count of the rest (for the CLI)."""
        more = self.errors_not_listed
        return "".join(f"\n  {e}" for e in self.errors) + (
            f"\n  ... and {more:,} more{what}" if more else ""
        )


class Tracker(Protocol):
    def advance_to(self, position: int) -> None: ...


class _Null:
    def advance_to(self, position: int) -> None:
        pass


class _Rich:
    def __init__(self, progress: Progress, task: int) -> None:
        self.progress, self.task = progress, task

    def advance_to(self, position: int) -> None:
        self.progress.update(self.task, completed=position)  # type: ignore[arg-type]


@contextmanager
def open_text(path: str | Path) -> Iterator[tuple[IO[str], IO[bytes], int]]:
    """(text stream, raw byte stream for progress, raw size). Gzip is detected by magic bytes."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"No such file: {p}")
    raw = p.open("rb")
    try:
        magic = raw.read(2)
        raw.seek(0)
        binary: IO[bytes] = gzip.GzipFile(fileobj=raw) if magic == b"\x1f\x8b" else raw  # type: ignore[assignment]
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline="")
        yield text, raw, p.stat().st_size
    finally:
        raw.close()


@contextmanager
def progress(description: str, total: int, enabled: bool = True) -> Iterator[Tracker]:
    """A progress bar on stderr (the bytes of the file read so far)."""
    if not enabled:
        yield _Null()
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=False,
        redirect_stdout=False,
        # stdout is for the one JSON object of --json; the bar goes to stderr as documented.
        console=Console(stderr=True),
    ) as prog:
        task = prog.add_task(description, total=total)
        yield _Rich(prog, task)
        prog.update(task, completed=total)


@contextmanager
def rebuild_progress(enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """The index rebuild and the range calibration after an import (minutes on a national
    file): a spinner with the time taken and, once calibration starts, the held-out sales
    valued so far. Yields the calibration's ``progress(done, of)`` callback (per window)."""
    if not enabled:
        yield lambda done, of: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TimeElapsedColumn(),
        transient=False,
        redirect_stdout=False,
        console=Console(stderr=True),
    ) as prog:
        task = prog.add_task("Rebuilding the price index", total=None)
        valued = {"before": 0, "last": 0}

        def step(done: int, of: int) -> None:
            if done == 1 and valued["last"]:  # a new calibration window begins
                valued["before"] += valued["last"]
            valued["last"] = done
            total = valued["before"] + done
            prog.update(task, description=f"Calibrating the range: {total:,} held-out sales valued")

        yield step
        done = valued["before"] + valued["last"]
        said = f"{done:,} held-out sales valued" if done else "too few sales to calibrate on"
        prog.update(task, description=f"Price index rebuilt, range calibrated: {said}")
