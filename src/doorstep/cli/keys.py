"""The key that signs dashboard sessions and links (auth/keys.py)."""

from __future__ import annotations

import typer

from doorstep import db
from doorstep.auth import keys
from doorstep.cli.common import JsonOpt, emit, ensure_schema, fail

app = typer.Typer(help="The key that signs dashboard sessions and links.", no_args_is_help=True)


@app.command("rotate")
def rotate(as_json: bool = JsonOpt) -> None:
    """Replace the stored signing key with a new random one. Restart every `doorstep serve`
    and `doorstep worker`: from then on every dashboard session and every link signed with
    the old key is refused (everyone signs in again)."""
    ensure_schema()
    if keys.source() == "DOORSTEP_SECRET_KEY":
        fail(
            "The key comes from DOORSTEP_SECRET_KEY: set a new value there (at least 32 "
            "bytes, e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`) "
            "and restart the servers."
        )
    keys.rotate(db.get_engine())
    emit(
        {"rotated": True, "restart_required": True},
        as_json,
        "A new signing key is stored. Restart every `doorstep serve` and `doorstep worker`: "
        "then every session signed with the old key ends.",
    )
