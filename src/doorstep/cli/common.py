"""Shared CLI plumbing: schema upgrade before every command, one-JSON-object output."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from sqlalchemy.orm import Session

from doorstep import db, migrate
from doorstep.errors import DoorstepError

_json_requested = False


def _remember_json(value: bool) -> bool:
    # fail() may be far from the command's own arguments: it reads the flag from here.
    global _json_requested
    _json_requested = value
    return value


JsonOpt = typer.Option(
    False,
    "--json",
    help="Print exactly one JSON object on stdout (on failure: its error).",
    callback=_remember_json,
)

_upgraded = False


def ensure_schema() -> None:
    global _upgraded
    if not _upgraded:
        migrate.upgrade()
        _upgraded = True


@contextmanager
def session() -> Iterator[Session]:
    """A committed-on-success session; a domain error becomes a clear message and exit 1."""
    ensure_schema()
    try:
        with db.transaction() as s:
            yield s
    except DoorstepError as e:
        fail(e.message, errors=e.errors)


def emit(obj: dict[str, Any], as_json: bool, human: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(obj, default=str) + "\n")
    else:
        typer.echo(human)


def failed_after_summary(message: str) -> None:
    """Exit 1 for a command whose summary (its one JSON object) is already out: the message
    on stderr only, so a script reads the summary and the exit status."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(1)


def fail(message: str, *, errors: dict[str, list[str]] | None = None, code: int = 1) -> None:
    """The message on stderr and exit ``code``; with ``--json``, also the one JSON object on
    stdout, ``{"error": ..., "errors": {...}}``, so a script reads failures as it reads results."""
    if _json_requested:
        sys.stdout.write(json.dumps({"error": message, "errors": errors or {}}) + "\n")
    typer.echo(f"Error: {message}", err=True)
    for field, reasons in (errors or {}).items():
        for r in reasons:
            typer.echo(f"  {field}: {r}", err=True)
    raise typer.Exit(code)
