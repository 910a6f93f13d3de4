"""Webhook endpoints and their deliveries, from the command line (AUTOMATION.md)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from doorstep.accounts.service import get_account
from doorstep.cli.common import JsonOpt, emit, session
from doorstep.leads.events import EVENT_TYPES
from doorstep.leads.serialize import iso
from doorstep.models import WebhookEndpoint
from doorstep.webhooks import service

app = typer.Typer(
    help="Webhooks: endpoints that receive lead events, and their deliveries.",
    no_args_is_help=True,
)

EVENTS_HELP = f"Comma-separated: {', '.join(EVENT_TYPES)}."


def endpoint_dict(e: WebhookEndpoint) -> dict[str, Any]:
    rotating = service.signing_secrets(e.secret, e.previous_secret, e.previous_secret_expires_at)
    return {
        "id": e.id,
        "account_id": e.account_id,
        "url": e.url,
        "description": e.description,
        "events": e.events,
        "enabled": e.enabled,
        "created_at": iso(e.created_at),
        "updated_at": iso(e.updated_at),
        # During a rotation's overlap deliveries carry the old secret's signature too.
        "previous_secret_until": iso(e.previous_secret_expires_at) if len(rotating) > 1 else None,
    }


def delivery_dict(v: service.DeliveryView) -> dict[str, Any]:
    d = v.delivery
    return {
        "id": d.id,
        "webhook_id": d.msg_id,
        "endpoint_id": d.endpoint_id,
        "url": v.url,
        "event_type": d.event_type,
        "lead_id": d.lead_id,
        "state": d.state,
        "created_at": iso(d.created_at),
        "finished_at": iso(d.finished_at),
        "next_attempt_at": iso(v.next_attempt_at),
        "last_error": d.last_error,
        "attempts": [
            {
                "number": a.number,
                "at": iso(a.attempted_at),
                "status_code": a.status_code,
                "error": a.error,
                "duration_ms": a.duration_ms,
                "response_excerpt": a.response_excerpt,
            }
            for a in v.attempts
        ],
    }


@app.command("create")
def create(
    account: Annotated[int, typer.Option("--account", help="Account id.")],
    url: Annotated[str, typer.Option("--url", help="https:// (or http://) address to POST to.")],
    events: Annotated[str, typer.Option("--events", help=EVENTS_HELP)] = ",".join(EVENT_TYPES),
    description: Annotated[str, typer.Option("--description", help="A note for people.")] = "",
    as_json: bool = JsonOpt,
) -> None:
    """Add an endpoint. Its signing secret is shown once, now."""
    with session() as s:
        get_account(s, account)
        new = service.create_endpoint(s, account, url, events, description)
        out = {"id": new.endpoint.id, "secret": new.secret}
    emit(
        out,
        as_json,
        f"Webhook endpoint {out['id']}: {url}\nSigning secret: {out['secret']}\n"
        "It will not be shown again.",
    )


@app.command("list")
def list_(
    account: Annotated[int, typer.Option("--account", help="Account id.")],
    as_json: bool = JsonOpt,
) -> None:
    """An account's endpoints (never their secrets)."""
    with session() as s:
        get_account(s, account)
        rows = [endpoint_dict(e) for e in service.list_endpoints(s, account)]
    human = "\n".join(
        f"{r['id']}\t{r['url']}\t{','.join(r['events'])}"
        + ("" if r["enabled"] else "\tDISABLED")
        + (f"\t{r['description']}" if r["description"] else "")
        for r in rows
    )
    emit({"account_id": account, "endpoints": rows}, as_json, human or "No webhook endpoints.")


@app.command("update")
def update(
    endpoint_id: Annotated[int, typer.Argument(help="Endpoint id.")],
    url: Annotated[str | None, typer.Option("--url", help="A new address.")] = None,
    events: Annotated[str | None, typer.Option("--events", help=EVENTS_HELP)] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    enabled: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Send to it, or stop.")
    ] = None,
    as_json: bool = JsonOpt,
) -> None:
    """Change an endpoint's address, events, description, or switch it on or off."""
    with session() as s:
        e = service.update_endpoint(
            s, None, endpoint_id, url=url, events=events, description=description, enabled=enabled
        )
        out = endpoint_dict(e)
    emit(out, as_json, f"Updated webhook endpoint {endpoint_id}.")


@app.command("delete")
def delete(
    endpoint_id: Annotated[int, typer.Argument(help="Endpoint id.")], as_json: bool = JsonOpt
) -> None:
    """Delete an endpoint with its deliveries; nothing more is sent to it."""
    with session() as s:
        service.delete_endpoint(s, None, endpoint_id)
    emit({"id": endpoint_id, "deleted": True}, as_json, f"Deleted webhook endpoint {endpoint_id}.")


@app.command("rotate-secret")
def rotate_secret(
    endpoint_id: Annotated[int, typer.Argument(help="Endpoint id.")], as_json: bool = JsonOpt
) -> None:
    """A new signing secret, shown once. For 24 hours deliveries are signed with both the
    new and the old secret, then with the new one only."""
    with session() as s:
        new = service.rotate_secret(s, None, endpoint_id)
        out = {
            "id": endpoint_id,
            "secret": new.secret,
            "previous_secret_until": iso(new.endpoint.previous_secret_expires_at),
        }
    emit(
        out,
        as_json,
        f"New signing secret for endpoint {endpoint_id}: {out['secret']}\n"
        f"It will not be shown again. The old secret also signs until "
        f"{out['previous_secret_until']}.",
    )


@app.command("deliveries")
def deliveries(
    endpoint: Annotated[int, typer.Option("--endpoint", help="Endpoint id.")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    as_json: bool = JsonOpt,
) -> None:
    """An endpoint's newest deliveries, each with every attempt."""
    with session() as s:
        e = service.get_endpoint(s, None, endpoint)
        rows = [
            delivery_dict(v) for v in service.deliveries(s, None, endpoint_id=e.id, limit=limit)
        ]
    lines = []
    for r in rows:
        last = r["attempts"][-1] if r["attempts"] else None
        what = (last["status_code"] or last["error"]) if last else "not attempted yet"
        lines.append(
            f"{r['id']:>7}  {r['state']:<9} {r['event_type']:<19} lead {r['lead_id'] or '-'}"
            f"  attempts {len(r['attempts'])}  {str(what)[:80]}"
        )
    emit(
        {"endpoint_id": endpoint, "deliveries": rows}, as_json, "\n".join(lines) or "No deliveries."
    )


@app.command("redeliver")
def redeliver(
    delivery_id: Annotated[int, typer.Argument(help="Delivery id.")], as_json: bool = JsonOpt
) -> None:
    """Send a delivery again now (a new series of attempts, the same webhook-id)."""
    with session() as s:
        d = service.redeliver(s, None, delivery_id)
        out = {"id": d.id, "webhook_id": d.msg_id, "state": d.state, "job_id": d.job_id}
    emit(out, as_json, f"Delivery {delivery_id} ({out['webhook_id']}) will be sent again.")
