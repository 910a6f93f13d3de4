"""Lead Responder workflows as JSON files: import (create or replace by name), export, list."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from doorstep.accounts.service import get_account
from doorstep.cli.common import JsonOpt, emit, fail, session
from doorstep.leads.serialize import iso
from doorstep.responder import service
from doorstep.responder.definition import DefinitionErrors

app = typer.Typer(help="Lead Responder workflows, kept as JSON.", no_args_is_help=True)
AccountOpt = Annotated[int, typer.Option("--account", help="Account id.")]


@app.command("import")
def import_(
    file: Annotated[str, typer.Argument(help="A JSON file: one workflow or a list; - = stdin.")],
    account: AccountOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create each workflow, or replace the one of the same name. All or nothing: a file
    with any problem imports nothing, and every problem is named."""
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        fail(f"Cannot read {file}: {e}")
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as e:
        fail(f"{file} is not JSON: {e.msg} at line {e.lineno}, column {e.colno}.")
    items = data if isinstance(data, list) else [data]
    if not items:
        fail(f"{file} holds no workflow.")
    with session() as s:
        get_account(s, account)
        try:
            done = service.import_many(s, account, items)
        except DefinitionErrors as e:
            fail(
                f"Nothing imported: {len(e.problems)} problem(s) in {file}.",
                errors={"workflow": e.problems},
            )
    emit(
        {"created": done.created, "replaced": done.replaced},
        as_json,
        "\n".join(
            [f"Created “{n}”." for n in done.created] + [f"Replaced “{n}”." for n in done.replaced]
        ),
    )


@app.command("export")
def export(account: AccountOpt) -> None:
    """Every workflow of the account, as a JSON list that `import` takes back."""
    with session() as s:
        get_account(s, account)
        out = service.export(s, account)
    sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")


@app.command("list")
def list_(account: AccountOpt, as_json: bool = JsonOpt) -> None:
    """Name, trigger, whether enabled, and steps of each workflow."""
    with session() as s:
        get_account(s, account)
        rows = [
            {
                "id": w.id,
                "name": w.name,
                "enabled": w.enabled,
                "trigger": w.trigger,
                "steps": [
                    f"{st['action']} after {st.get('after', '0s')}" for st in w.definition["steps"]
                ],
                "updated_at": iso(w.updated_at),
            }
            for w in service.list_workflows(s, account)
        ]
    emit(
        {"workflows": rows},
        as_json,
        "\n".join(
            f"{r['id']:>4}  {'on ' if r['enabled'] else 'off'}  {r['trigger']:<20} {r['name']}"
            for r in rows
        )
        or "No workflows.",
    )
