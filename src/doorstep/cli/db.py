import typer

from doorstep import db, migrate, retention
from doorstep.cli.common import JsonOpt, emit, ensure_schema
from doorstep.config import get_settings

app = typer.Typer(help="The database schema and its upkeep.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Bring the schema up to date (every other command does this first)."""
    migrate.upgrade()
    typer.echo("The database schema is up to date.")


@app.command("prune")
def prune(as_json: bool = JsonOpt) -> None:
    """Delete request-log entries older than DOORSTEP_REQUEST_LOG_DAYS, expired
    Idempotency-Key records, past rate-limit counters and jobs finished more than
    DOORSTEP_JOB_RETENTION_DAYS ago (the server does this hourly)."""
    ensure_schema()
    days = get_settings().request_log_days
    pruned = retention.prune(db.get_engine())
    kept = f"{days} days" if days else "for ever"
    emit(
        {**pruned.as_dict(), "request_log_days": days},
        as_json,
        f"Deleted {pruned.request_logs} request-log entries (kept {kept}), "
        f"{pruned.idempotency_keys} expired idempotency keys, {pruned.rate_counters} "
        f"rate counters and {pruned.jobs} finished jobs.",
    )
