"""Shared plumbing for streaming file imports: gzip or plain, bounded memory, progress."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
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
