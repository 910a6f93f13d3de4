"""Webhooks: each lead change is delivered to the account's subscribed endpoints, signed as
Standard Webhooks (checked here with the `standardwebhooks` package a receiver would use, on
a real local receiver), retried on the documented schedule under one webhook-id, every
attempt logged, never sent to a private address unless the operator allows it."""

from __future__ import annotations

import base64
import json
import socket
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from typer.testing import CliRunner

from doorstep import db, retention
from doorstep.cli import app as cli
from doorstep.config import get_settings
from doorstep.jobs import queue
from doorstep.jobs.worker import Worker
from doorstep.leads.serialize import LEAD_KEYS
from doorstep.models import (
    Job,
    LeadEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from doorstep.models.base import utcnow
from doorstep.webhooks import net, service, tasks
from tests.conftest import create_lead_api
from tests.webhook_receiver import Receiver

runner = CliRunner()
LEASE = timedelta(seconds=30)


@pytest.fixture
def allow_private(monkeypatch):
    """The receiver is on 127.0.0.1: the tests let webhooks reach it."""
    monkeypatch.setenv("DOORSTEP_WEBHOOKS_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    net.reset_client()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    net.reset_client()


def _forbid_private(monkeypatch) -> None:
    monkeypatch.setenv("DOORSTEP_WEBHOOKS_ALLOW_PRIVATE", "false")
    get_settings.cache_clear()
    net.reset_client()


@pytest.fixture
def rx():
    with Receiver() as r:
        yield r


def _endpoint(account_id: int, url: str, events=("lead.created",), **kw) -> tuple[int, str]:
    with db.transaction() as s:
        new = service.create_endpoint(s, account_id, url, list(events), **kw)
        return new.endpoint.id, new.secret


def _run_due(engine, worker: str = "w1") -> int:
    """Run every due job (lead events first, then the deliveries they make)."""
    w = Worker(engine, 1, name=worker)
    ran = 0
    while jobs := queue.claim(engine, worker, 10, LEASE):
        for j in jobs:
            w.run_one(j)
        ran += len(jobs)
    return ran


def _due_now() -> None:
    with db.transaction() as s:
        s.execute(update(Job).where(Job.state == "pending").values(run_at=utcnow()))


def _deliveries() -> list[WebhookDelivery]:
    with db.transaction() as s:
        return list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def _attempts() -> list[WebhookAttempt]:
    with db.transaction() as s:
        return list(s.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id)))


def _delivery_job(delivery: WebhookDelivery) -> Job:
    with db.transaction() as s:
        job = s.get(Job, delivery.job_id)
        assert job is not None
        return job


def _timeline(lead_id: int) -> list[LeadEvent]:
    with db.transaction() as s:
        return list(
            s.scalars(
                select(LeadEvent)
                .where(LeadEvent.lead_id == lead_id, LeadEvent.kind.like("webhook%"))
                .order_by(LeadEvent.id)
            )
        )


def run(*args, code: int = 0):
    r = runner.invoke(cli, [str(a) for a in args])
    assert r.exit_code == code, r.output
    return json.loads(r.stdout) if "--json" in args else r.stdout


# -- delivery ---------------------------------------------------------------------------


def test_a_new_lead_is_posted_signed_and_the_receivers_library_verifies_it(
    engine, client, owner, rx, allow_private
):
    endpoint_id, secret = _endpoint(owner.account_id, rx.url)
    lead = create_lead_api(client, owner)
    before = int(time.time())
    _run_due(engine)
    (req,) = rx.wait_for(1)

    # The receiver's own library checks the signature (and the timestamp's freshness).
    payload = Webhook(secret).verify(req.body, req.headers)
    with db.transaction() as s:
        event = s.scalar(select(Job.payload).where(Job.kind == "lead.event"))
    assert payload == {"type": "lead.created", "timestamp": event["timestamp"], "data": lead}
    assert list(json.loads(req.body)) == ["type", "timestamp", "data"]
    assert list(payload["data"]) == LEAD_KEYS  # the lead object in its documented order
    assert req.method == "POST" and req.path == "/hooks"
    assert req.headers["webhook-id"].startswith("msg_")
    assert before <= int(req.headers["webhook-timestamp"]) <= int(time.time())
    assert req.headers["webhook-signature"].startswith("v1,")
    assert req.headers["content-type"] == "application/json"
    assert "Doorstep" in req.headers["user-agent"]
    with pytest.raises(WebhookVerificationError):
        Webhook(service.signing.new_secret()).verify(req.body, req.headers)

    (d,) = _deliveries()
    assert (d.state, d.attempts, d.endpoint_id, d.msg_id) == (
        "delivered",
        1,
        endpoint_id,
        req.headers["webhook-id"],
    )
    (a,) = _attempts()
    assert (a.number, a.status_code, a.error, a.response_excerpt) == (1, 200, None, '{"ok": true}')
    assert a.duration_ms > 0
    (entry,) = _timeline(lead["id"])
    assert entry.kind == "webhook_delivered" and entry.data["status_code"] == 200


def test_secrets_are_whsec_and_24_or_more_random_bytes(engine, owner):
    _, a = _endpoint(owner.account_id, "https://hooks.example.com/a")
    _, b = _endpoint(owner.account_id, "https://hooks.example.com/b")
    assert a.startswith("whsec_") and a != b
    assert len(base64.b64decode(a.removeprefix("whsec_"))) >= 24


def test_only_the_accounts_enabled_endpoints_subscribed_to_the_event_get_it(
    engine, client, owner, other, rx, allow_private
):
    created, _ = _endpoint(owner.account_id, rx.url + "?created", ["lead.created"])
    status, _ = _endpoint(owner.account_id, rx.url + "?status", ["lead.status_changed"])
    off, _ = _endpoint(owner.account_id, rx.url + "?off", ["lead.created"])
    with db.transaction() as s:
        service.update_endpoint(s, owner.account_id, off, enabled=False)
    _endpoint(other.account_id, rx.url + "?other", ["lead.created", "lead.status_changed"])

    lead = create_lead_api(client, owner)
    r = client.patch(
        f"/api/v103/leads/{lead['id']}", json={"status": "Contacted"}, headers=owner.headers
    )
    assert r.status_code == 200
    _run_due(engine)
    got = rx.wait_for(2)
    time.sleep(0.2)
    assert sorted((q.path, q.json()["type"]) for q in rx.requests) == [
        ("/hooks?created", "lead.created"),
        ("/hooks?status", "lead.status_changed"),
    ]
    assert [q.json()["data"]["status"] for q in got if "status" in q.path] == ["Contacted"]
    assert {d.endpoint_id for d in _deliveries()} == {created, status}


def test_a_failing_endpoint_is_retried_on_the_schedule_under_one_webhook_id_then_failed(
    engine, client, owner, rx, allow_private
):
    rx.answer(500)
    _, secret = _endpoint(owner.account_id, rx.url)
    lead = create_lead_api(client, owner)
    _run_due(engine)
    waits = []
    for n in range(1, 9):
        (d,) = _deliveries()
        job = _delivery_job(d)
        assert d.attempts == n
        if n < 8:
            assert (d.state, job.state) == ("pending", "pending")
            waits.append((job.run_at - utcnow()).total_seconds())
            _due_now()
            _run_due(engine)
    # About 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (each within 10%).
    for wait, base in zip(waits, (5, 300, 1800, 7200, 18000, 36000, 36000), strict=True):
        assert base * 0.89 <= wait <= base * 1.1
    (d,) = _deliveries()
    assert (d.state, _delivery_job(d).state) == ("failed", "failed")
    assert "answered 500" in (d.last_error or "")

    requests = rx.wait_for(8)
    assert len(requests) == 8 and len({q.headers["webhook-id"] for q in requests}) == 1
    for q in requests:
        Webhook(secret).verify(q.body, q.headers)
    assert len({q.body for q in requests}) == 1  # the same bytes every time
    attempts = _attempts()
    assert [a.number for a in attempts] == list(range(1, 9))
    assert {(a.status_code, a.response_excerpt) for a in attempts} == {
        (500, '{"error": "told to fail"}')
    }
    (entry,) = _timeline(lead["id"])  # one entry for the delivery, not one per attempt
    assert entry.kind == "webhook_failed"
    assert "500" in entry.data["reason"] and entry.data["attempts"] == 8


def test_a_delivery_that_fails_then_succeeds_is_delivered_with_both_attempts_logged(
    engine, client, owner, rx, allow_private
):
    rx.answer(503, 204)
    _endpoint(owner.account_id, rx.url)
    lead = create_lead_api(client, owner)
    _run_due(engine)
    _due_now()
    _run_due(engine)
    a, b = rx.wait_for(2)
    assert a.headers["webhook-id"] == b.headers["webhook-id"]
    assert [(x.number, x.status_code) for x in _attempts()] == [(1, 503), (2, 204)]
    (d,) = _deliveries()
    assert (d.state, d.last_error) == ("delivered", None)
    (entry,) = _timeline(lead["id"])
    assert entry.kind == "webhook_delivered" and entry.data["attempts"] == 2


def test_no_answer_within_the_time_limit_fails_the_attempt(
    engine, client, owner, rx, allow_private, monkeypatch
):
    monkeypatch.setattr(net, "TIMEOUT_S", 1.0)
    rx.hang()
    _endpoint(owner.account_id, rx.url)
    create_lead_api(client, owner)
    started = time.monotonic()
    _run_due(engine)
    assert time.monotonic() - started < 5
    (a,) = _attempts()
    assert a.status_code is None and a.error == "No complete response within 1 s."
    assert 900 <= a.duration_ms < 3000
    assert _deliveries()[0].state == "pending"


def test_a_response_excerpt_keeps_the_first_kilobyte(engine):
    import http.server
    import threading

    long = "é" * 2000

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers["content-length"]))
            body = long.encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DOORSTEP_WEBHOOKS_ALLOW_PRIVATE", "true")
            get_settings.cache_clear()
            sent = net.post(f"http://127.0.0.1:{server.server_address[1]}/", b"{}", {})
    finally:
        server.shutdown()
        get_settings.cache_clear()
        net.reset_client()
    assert sent.ok and sent.excerpt is not None
    assert len(sent.excerpt.encode()) <= 1024 + 3 and sent.excerpt.startswith("é" * 500)


# -- rotation ---------------------------------------------------------------------------


def test_after_a_rotation_both_secrets_verify_for_24_hours_then_only_the_new(
    engine, client, owner, rx, allow_private
):
    endpoint_id, old = _endpoint(owner.account_id, rx.url)
    r = run("webhooks", "rotate-secret", endpoint_id, "--json")
    new = r["secret"]
    assert new.startswith("whsec_") and new != old
    lead = create_lead_api(client, owner)
    _run_due(engine)
    (req,) = rx.wait_for(1)
    assert len(req.headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(req.body, req.headers)
    Webhook(old).verify(req.body, req.headers)  # a receiver not yet switched still accepts

    # 24 hours on: the old secret no longer signs, and is forgotten.
    with db.transaction() as s:
        s.execute(
            update(WebhookEndpoint).values(previous_secret_expires_at=utcnow() - timedelta(1))
        )
    client.patch(
        f"/api/v103/leads/{lead['id']}", json={"status": "Contacted"}, headers=owner.headers
    )
    with db.transaction() as s:
        service.update_endpoint(s, None, endpoint_id, events=["lead.updated"])
    _run_due(engine)
    _, later = rx.wait_for(2)
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(later.body, later.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(later.body, later.headers)
    assert retention.prune(engine).webhook_secrets == 1
    with db.transaction() as s:
        e = s.get(WebhookEndpoint, endpoint_id)
        assert (e.previous_secret, e.previous_secret_expires_at) == (None, None)


# -- SSRF -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.3.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fd12:3456::1", "unique-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-public"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.1.2.3", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 around 169.254.169.254
    ],
)
def test_non_public_addresses_are_refused(address, kind):
    import ipaddress

    why = net.why_refused(ipaddress.ip_address(address))
    assert why is not None and kind in why


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_are_not(address):
    import ipaddress

    assert net.why_refused(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hooks",
        "http://10.1.2.3:8080/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9000/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://localhost:8000/",
        "http://api.localhost/",
    ],
)
def test_an_endpoint_at_a_literal_private_address_is_refused_when_made(engine, owner, url):
    out = run("webhooks", "create", "--account", owner.account_id, "--url", url, "--json", code=1)
    assert "webhooks go only to public addresses" in out["errors"]["url"][0]


def test_deliveries_to_addresses_that_are_or_resolve_to_private_ones_are_refused(
    engine, client, owner, rx, allow_private, monkeypatch
):
    # Made while allowed (as an operator might have), then the operator forbids them.
    urls = [
        rx.url,
        f"http://localhost:{rx.port}/hooks",
        f"http://[::1]:{rx.port}/hooks",
        "http://10.11.12.13/hooks",
        "http://169.254.169.254/latest",
    ]
    for url in urls:
        _endpoint(owner.account_id, url)
    _forbid_private(monkeypatch)
    create_lead_api(client, owner)
    _run_due(engine)
    errors = {a.delivery_id: a.error for a in _attempts()}
    with db.transaction() as s:
        url_of = dict(s.execute(select(WebhookEndpoint.id, WebhookEndpoint.url)).all())
    by_url = {url_of[d.endpoint_id]: errors[d.id] for d in _deliveries()}
    assert by_url[rx.url].startswith("Refused: 127.0.0.1 is a loopback address")
    assert by_url[urls[1]].startswith("Refused: localhost resolves to 127.0.0.1 (a loopback")
    assert by_url[urls[2]].startswith("Refused: ::1 is a loopback address")
    assert by_url[urls[3]].startswith("Refused: 10.11.12.13 is a private address")
    assert by_url[urls[4]].startswith("Refused: 169.254.169.254 is a link-local address")
    assert all("DOORSTEP_WEBHOOKS_ALLOW_PRIVATE=true" in e for e in by_url.values())
    assert rx.requests == []  # nothing reached the receiver
    assert {d.state for d in _deliveries()} == {"pending"}  # attempts failed, to be retried


def test_the_connection_goes_to_the_checked_address_under_the_urls_name(
    engine, owner, rx, monkeypatch
):
    """The name is resolved once, at connect time; the socket is opened to the address that
    was checked (no second look-up for a rebinding DNS server to answer differently), and
    the request still carries the URL's own host name."""
    answers = iter(["127.0.0.1", "10.0.0.7"])  # a rebinding server: a new answer each time
    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host == "hooks.agency.test":
            return real(next(answers), port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(net.socket, "getaddrinfo", rebinding)
    monkeypatch.setenv("DOORSTEP_WEBHOOKS_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    net.reset_client()
    try:
        sent = net.post(f"http://hooks.agency.test:{rx.port}/hooks", b"{}", {})
        assert sent.status_code == 200, sent
        (req,) = rx.wait_for(1)
        assert req.headers["host"] == f"hooks.agency.test:{rx.port}"
        _forbid_private(monkeypatch)
        monkeypatch.setattr(net.socket, "getaddrinfo", rebinding)
        refused = net.post(f"http://hooks.agency.test:{rx.port}/hooks", b"{}", {})
        assert refused.error and "10.0.0.7 (a private address)" in refused.error
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        net.reset_client()


def test_redirects_are_not_followed(engine, allow_private):
    import http.server
    import threading

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(307)
            self.send_header("location", "http://169.254.169.254/")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sent = net.post(f"http://127.0.0.1:{server.server_address[1]}/", b"{}", {})
    finally:
        server.shutdown()
    assert (sent.ok, sent.status_code) == (False, 307)


def test_a_cookie_one_receiver_sets_is_not_sent_on(engine, allow_private):
    import http.server
    import threading

    cookies: list[str | None] = []

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers["content-length"]))
            cookies.append(self.headers.get("cookie"))
            self.send_response(200)
            self.send_header("set-cookie", "session=theirs; Path=/")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for _ in range(2):
            assert net.post(f"http://127.0.0.1:{server.server_address[1]}/", b"{}", {}).ok
    finally:
        server.shutdown()
    assert cookies == [None, None]


# -- redelivery, deletion, retention ------------------------------------------------------


def test_redelivery_by_hand_sends_the_same_webhook_id_again(
    engine, client, owner, rx, allow_private
):
    endpoint_id, secret = _endpoint(owner.account_id, rx.url)
    lead = create_lead_api(client, owner)
    _run_due(engine)
    (d,) = _deliveries()
    out = run("webhooks", "redeliver", d.id, "--json")
    assert out["webhook_id"] == d.msg_id and out["state"] == "pending"
    _run_due(engine)
    first, again = rx.wait_for(2)
    assert first.headers["webhook-id"] == again.headers["webhook-id"] == d.msg_id
    assert first.body == again.body
    Webhook(secret).verify(again.body, again.headers)
    assert [a.number for a in _attempts()] == [1, 2]
    assert [e.kind for e in _timeline(lead["id"])] == ["webhook_delivered"] * 2
    out = run("webhooks", "deliveries", "--endpoint", endpoint_id, "--json")
    (row,) = out["deliveries"]
    assert row["webhook_id"] == d.msg_id and row["state"] == "delivered"
    assert [a["status_code"] for a in row["attempts"]] == [200, 200]


def test_a_failed_delivery_sent_again_by_hand_gets_a_new_series_of_attempts(
    engine, client, owner, rx, allow_private
):
    rx.answer(500)
    _endpoint(owner.account_id, rx.url)
    create_lead_api(client, owner)
    _run_due(engine)
    with db.transaction() as s:  # as if its last attempt had come and gone
        s.execute(update(Job).where(Job.kind == "webhook.deliver").values(attempts=8))
    _due_now()
    _run_due(engine)
    (d,) = _deliveries()
    assert d.state == "failed"
    rx.answer(500, 200)
    with db.transaction() as s:
        service.redeliver(s, owner.account_id, d.id)
    _run_due(engine)
    (d,) = _deliveries()
    job = _delivery_job(d)
    assert (d.state, job.state, job.attempts) == ("pending", "pending", 1)
    assert 4 <= (job.run_at - utcnow()).total_seconds() <= 6  # the schedule starts again
    _due_now()
    _run_due(engine)
    assert _deliveries()[0].state == "delivered"
    assert len({q.headers["webhook-id"] for q in rx.requests}) == 1


def test_a_disabled_endpoints_waiting_delivery_is_failed_and_cannot_be_redelivered(
    engine, client, owner, rx, allow_private
):
    endpoint_id, _ = _endpoint(owner.account_id, rx.url)
    lead = create_lead_api(client, owner)
    w = Worker(engine, 1, name="w")
    (event,) = queue.claim(engine, "w", 1, LEASE)
    w.run_one(event)  # the delivery is written, not yet sent
    run("webhooks", "update", endpoint_id, "--disable", "--json")
    _run_due(engine)
    (d,) = _deliveries()
    assert (d.state, d.last_error) == ("failed", "The endpoint is disabled.")
    assert rx.requests == []
    assert _timeline(lead["id"])[0].data["reason"] == "The endpoint is disabled."
    out = run("webhooks", "redeliver", d.id, "--json", code=1)
    assert "enable it" in out["errors"]["endpoint"][0]


def test_deleting_an_endpoint_drops_its_waiting_deliveries(
    engine, client, owner, rx, allow_private
):
    endpoint_id, _ = _endpoint(owner.account_id, rx.url)
    create_lead_api(client, owner)
    w = Worker(engine, 1, name="w")
    (event,) = queue.claim(engine, "w", 1, LEASE)
    w.run_one(event)
    assert len(_deliveries()) == 1
    assert run("webhooks", "delete", endpoint_id, "--json") == {"id": endpoint_id, "deleted": True}
    assert _deliveries() == []
    with db.transaction() as s:
        assert s.scalars(select(Job.kind).where(Job.state == "pending")).all() == []
    assert _run_due(engine) == 0 and rx.requests == []


def test_deliveries_and_attempts_go_with_their_jobs_at_retention(
    engine, client, owner, rx, allow_private
):
    _endpoint(owner.account_id, rx.url)
    create_lead_api(client, owner)
    _run_due(engine)
    assert len(_deliveries()) == 1 and len(_attempts()) == 1
    with db.transaction() as s:
        s.execute(update(Job).values(finished_at=utcnow() - timedelta(days=31)))
    assert retention.prune(engine).jobs == 2  # the lead event and the delivery
    assert _deliveries() == [] and _attempts() == []


def test_post_signed_sends_one_signed_post_for_a_workflow_step(engine, rx, allow_private):
    secret = service.signing.new_secret()
    sent = service.post_signed(rx.url, secret, "workflow.step", {"lead_id": 7})
    assert sent.ok and sent.status_code == 200
    (req,) = rx.wait_for(1)
    payload = Webhook(secret).verify(req.body, req.headers)
    assert payload["type"] == "workflow.step" and payload["data"] == {"lead_id": 7}


# -- command line -----------------------------------------------------------------------


def test_webhooks_from_the_command_line(engine, owner, other):
    out = run(
        "webhooks", "create", "--account", owner.account_id,
        "--url", "https://crm.agency.co.uk/hooks", "--events", "lead.created,lead.updated",
        "--json",
    )  # fmt: skip
    assert set(out) == {"id", "secret"} and out["secret"].startswith("whsec_")
    listed = run("webhooks", "list", "--account", owner.account_id, "--json")
    (e,) = listed["endpoints"]
    assert e["id"] == out["id"] and e["url"] == "https://crm.agency.co.uk/hooks"
    assert e["events"] == ["lead.created", "lead.updated"] and e["enabled"] is True
    assert out["secret"] not in json.dumps(listed)  # shown once, never listed
    assert run("webhooks", "list", "--account", other.account_id, "--json")["endpoints"] == []
    updated = run(
        "webhooks", "update", out["id"], "--disable", "--events", "lead.status_changed", "--json"
    )
    assert (updated["enabled"], updated["events"]) == (False, ["lead.status_changed"])
    rotated = run("webhooks", "rotate-secret", out["id"], "--json")
    assert rotated["secret"].startswith("whsec_") and rotated["previous_secret_until"]
    assert run("webhooks", "deliveries", "--endpoint", out["id"], "--json")["deliveries"] == []
    assert run("webhooks", "delete", out["id"], "--json") == {"id": out["id"], "deleted": True}


@pytest.mark.parametrize(
    ("args", "field", "text"),
    [
        (["--url", "ftp://example.com/x"], "url", "must start with https:// or http://"),
        (["--url", "crm.agency.co.uk/hooks"], "url", "https:// or http://"),
        (["--url", "https://"], "url", "no host"),
        (["--url", "https://exa mple.com/"], "url", "spaces"),
        (["--url", "https://x.example.com:99999/"], "url", "not a valid URL"),
        (["--url", "http://[::1"], "url", "not a valid URL"),
        (["--url", "https://x.example.com", "--events", "lead.deleted"], "events", "lead.deleted"),
        (["--url", "https://x.example.com", "--events", ","], "events", "at least one"),
    ],
)
def test_the_command_line_says_what_is_wrong(engine, owner, args, field, text):
    out = run("webhooks", "create", "--account", owner.account_id, *args, "--json", code=1)
    assert text in out["errors"][field][0]


def test_unknown_ids_are_clear_errors(engine, owner):
    assert run("webhooks", "delete", 999, "--json", code=1)["error"] == (
        "There is no webhook endpoint 999."
    )
    assert "no webhook delivery 5" in run("webhooks", "redeliver", 5, "--json", code=1)["error"]
    assert "no webhook endpoint" in run("webhooks", "rotate-secret", 7, "--json", code=1)["error"]
    assert (
        "no webhook endpoint"
        in run("webhooks", "deliveries", "--endpoint", 7, "--json", code=1)["error"]
    )
    out = run("webhooks", "list", "--account", 9999, "--json", code=1)
    assert "9999" in out["error"]


def test_the_deliver_handler_is_registered_with_the_documented_schedule():
    from doorstep.jobs import registry

    h = registry.get("webhook.deliver")
    assert h is not None and h.run is tasks.deliver
    assert tuple(h.backoff) == (5, 300, 1800, 7200, 18000, 36000, 36000) and h.max_attempts == 8
