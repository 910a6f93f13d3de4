"""Keys a browser may hold (CONTRACT.md): create-only, from the listed origins only, CORS for
those origins alone, a limit per client address, and never a CORS grant for a secret token."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from doorstep import db, statements
from doorstep.cli import app as cli
from doorstep.errors import RateLimited, ValidationFailed
from doorstep.models import ApiToken, ClientRateCounter, RequestLog
from doorstep.tokens import browser, service
from tests.conftest import lead_body

SITE = "https://www.agency.co.uk"
OTHER = "https://evil.example"
URL = "/api/v103/leads"


@dataclass
class Key:
    id: int
    secret: str

    def headers(self, origin: str | None = SITE) -> dict[str, str]:
        return {"X-API-KEY": self.secret, **({"Origin": origin} if origin else {})}


def publishable(account_id: int, origins=(SITE,), **kw) -> Key:
    with db.transaction() as s:
        new = service.create_token(
            s, account_id, "Website form", publishable=True, origins=origins, **kw
        )
        return Key(new.token.id, new.secret)


@pytest.fixture
def key(owner) -> Key:
    return publishable(owner.account_id)


def test_a_publishable_key_creates_leads_from_its_origin_with_a_cors_grant(client, key):
    assert key.secret.startswith("ds_pub_")
    for path in (URL, f"{URL}/valuation"):
        body = lead_body(type="vendor", postcode="NG1 5FS")
        r = client.post(path, json=body, headers=key.headers())
        assert r.status_code == 200, r.text
        assert r.headers["access-control-allow-origin"] == SITE
        assert "Origin" in r.headers["vary"]
        assert "X-Request-Id" in r.headers["access-control-expose-headers"]
    r = client.get("/api/v103/addresses", params={"postcode": "NG1 5FS"}, headers=key.headers())
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == SITE


def test_a_validation_error_is_readable_by_the_page(client, key):
    r = client.post(URL, json=lead_body(email="nope"), headers=key.headers())
    assert r.status_code == 422
    assert r.headers["access-control-allow-origin"] == SITE


def test_another_origin_is_403_without_a_grant(client, key):
    r = client.post(URL, json=lead_body(), headers=key.headers(OTHER))
    assert r.status_code == 403
    assert "access-control-allow-origin" not in r.headers
    assert OTHER in r.json()["message"]
    r = client.post(URL, json=lead_body(), headers=key.headers("null"))  # a sandboxed frame
    assert r.status_code == 403


def test_without_an_origin_or_from_doorstep_itself_there_is_nothing_to_grant(client, key):
    r = client.post(URL, json=lead_body(), headers=key.headers(None))
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    # The hosted valuation page is served by Doorstep: same origin, no CORS needed.
    r = client.post(URL, json=lead_body(), headers=key.headers("http://testserver"))
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v103/leads/1"),
        ("PATCH", "/api/v103/leads/1"),
        ("GET", "/api/v103/offices"),
        ("GET", "/api/v103/statuses"),
        ("GET", "/api/v103/person/leads?email=a@b.com"),
    ],
)
def test_every_other_endpoint_is_403_for_a_publishable_key(client, owner, key, method, path):
    lead = client.post(URL, json=lead_body(), headers=owner.headers).json()
    path = path.replace("/1", f"/{lead['id']}")
    for origin in (SITE, None):
        r = client.request(method, path, json={"first_name": "X"}, headers=key.headers(origin))
        assert r.status_code == 403, r.text
        assert "publishable" in r.json()["message"]
        assert "access-control-allow-origin" not in r.headers
    with db.transaction() as s:
        logged = s.scalars(select(RequestLog.status_code).where(RequestLog.token_id == key.id))
        assert set(logged) == {403}
    assert client.get(f"{URL}/{lead['id']}", headers=owner.headers).json()["first_name"] == (
        "Marla"
    )


def preflight(client, origin, method="POST", path=URL):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "x-api-key, content-type",
        },
    )


def test_preflights_are_answered_for_listed_origins_only(client, owner, key):
    r = preflight(client, SITE)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == SITE
    assert r.headers["access-control-allow-methods"] == "POST"
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert allowed == {"x-api-key", "content-type", "idempotency-key"}
    assert r.headers["x-request-id"]
    assert preflight(client, SITE, "GET", "/api/v103/addresses").status_code == 204
    for origin, method, path in [
        (OTHER, "POST", URL),
        (SITE, "PATCH", URL),
        (SITE, "GET", URL),
        (SITE, "GET", "/api/v103/offices"),
        (SITE, "PATCH", f"{URL}/1"),
    ]:
        r = preflight(client, origin, method, path)
        assert r.status_code in (403, 405), (origin, method, path)
        assert "access-control-allow-origin" not in r.headers
    with db.transaction() as s:
        service.revoke_token(s, owner.account_id, key.id)
    assert preflight(client, SITE).status_code == 403


def test_a_secret_token_never_gets_a_cors_grant(client, owner, key):
    r = client.post(URL, json=lead_body(), headers={**owner.headers, "Origin": SITE})
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers
    r = client.get("/api/v103/offices", headers={**owner.headers, "Origin": SITE})
    assert "access-control-allow-origin" not in r.headers


def test_each_client_address_has_its_own_limit(client, owner):
    tight = publishable(owner.account_id, address_rate_limit=2)
    for _ in range(2):
        assert client.post(URL, json=lead_body(), headers=tight.headers()).status_code == 200
    r = client.post(URL, json=lead_body(), headers=tight.headers())
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 120
    assert r.headers["access-control-allow-origin"] == SITE  # the page can say "wait"
    assert "your address" in r.json()["message"]
    # Another visitor of the same site is not held up by this one.
    now = time.time()
    with statements.autocommit() as conn:
        browser.admit_client(conn, tight.id, "203.0.113.9", 2, now)
        browser.admit_client(conn, tight.id, "203.0.113.9", 2, now)
        with pytest.raises(RateLimited):
            browser.admit_client(conn, tight.id, "203.0.113.9", 2, now)
        browser.admit_client(conn, tight.id, "203.0.113.10", 2, now)
        # A minute and a half later the sliding minute has room again.
        browser.admit_client(conn, tight.id, "203.0.113.9", 2, now + 90)


def test_the_server_default_per_address_limit_applies(client, owner, key, monkeypatch):
    from doorstep.config import get_settings

    monkeypatch.setenv("DOORSTEP_PUBLISHABLE_ADDRESS_LIMIT_PER_MINUTE", "1")
    get_settings.cache_clear()
    try:
        assert client.post(URL, json=lead_body(), headers=key.headers()).status_code == 200
        assert client.post(URL, json=lead_body(), headers=key.headers()).status_code == 429
    finally:
        get_settings.cache_clear()


def test_the_tokens_own_limit_is_also_readable_by_the_page(client, owner):
    one = publishable(owner.account_id, rate_limit=1)
    assert client.post(URL, json=lead_body(), headers=one.headers()).status_code == 200
    r = client.post(URL, json=lead_body(), headers=one.headers())
    assert r.status_code == 429 and r.headers["access-control-allow-origin"] == SITE


def test_ipv6_visitors_are_counted_by_their_network():
    assert browser.client_key("2001:db8:1:2:3:4:5:6") == browser.client_key("2001:db8:1:2::9")
    assert browser.client_key("203.0.113.9") == "203.0.113.9"
    assert browser.client_key(None) == "unknown"


@pytest.mark.parametrize(
    ("raw", "origin"),
    [
        ("https://WWW.Agency.co.uk/", "https://www.agency.co.uk"),
        ("https://www.agency.co.uk:443", "https://www.agency.co.uk"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
        ("https://www.agency.co.uk/contact", None),
        ("www.agency.co.uk", None),
        ("ftp://agency.co.uk", None),
        ("https://*.agency.co.uk", None),
        ("https://user@agency.co.uk", None),
        ("https://agency.co.uk:99999", None),
    ],
)
def test_origins_are_kept_as_a_browser_sends_them(raw, origin):
    assert service.normalise_origin(raw) == origin


def test_a_publishable_token_needs_origins_and_a_secret_one_takes_none(owner):
    with db.transaction() as s:
        with pytest.raises(ValidationFailed) as e:
            service.create_token(s, owner.account_id, "Web", publishable=True)
        assert "origins" in (e.value.errors or {})
        with pytest.raises(ValidationFailed) as e:
            service.create_token(
                s, owner.account_id, "Web", publishable=True, origins=["https://a.example/x"]
            )
        assert "not a web origin" in (e.value.errors or {})["origins"][0]
        with pytest.raises(ValidationFailed):
            service.create_token(s, owner.account_id, "Server", origins=[SITE])
        secret = service.create_token(s, owner.account_id, "Server")
        assert not secret.token.publishable
        with pytest.raises(ValidationFailed):
            service.set_origins(s, owner.account_id, secret.token.id, [SITE])


def test_origins_can_be_changed_and_take_effect_at_once(client, owner, key):
    with db.transaction() as s:
        service.set_origins(s, owner.account_id, key.id, ["https://new.agency.co.uk"])
    assert client.post(URL, json=lead_body(), headers=key.headers()).status_code == 403
    r = client.post(URL, json=lead_body(), headers=key.headers("https://new.agency.co.uk"))
    assert r.status_code == 200


def test_the_cli_makes_and_edits_publishable_tokens(owner):
    runner = CliRunner()
    r = runner.invoke(
        cli,
        [
            "tokens", "create", "--account", str(owner.account_id), "--name", "Site",
            "--publishable", "--origin", "https://www.agency.co.uk/", "--origin",
            "https://agency.co.uk", "--address-rate-limit", "10", "--json",
        ],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["token"].startswith("ds_pub_") and out["publishable"] is True
    assert out["origins"] == ["https://www.agency.co.uk", "https://agency.co.uk"]
    r = runner.invoke(
        cli, ["tokens", "origins", str(out["id"]), "--origin", "https://x.example", "--json"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["origins"] == ["https://x.example"]
    r = runner.invoke(cli, ["tokens", "list", "--account", str(owner.account_id), "--json"])
    listed = {t["name"]: t for t in json.loads(r.stdout)["tokens"]}
    assert listed["Site"]["origins"] == ["https://x.example"]
    assert listed["Website"]["publishable"] is False and listed["Website"]["origins"] is None
    with db.transaction() as s:
        token = s.get(ApiToken, out["id"])
        assert token is not None and token.address_rate_limit_per_minute == 10
    r = runner.invoke(
        cli,
        ["tokens", "create", "--account", str(owner.account_id), "--name", "X",
         "--publishable", "--origin", "not an origin", "--json"],
    )  # fmt: skip
    assert r.exit_code != 0


def test_old_client_counters_are_pruned(engine, owner, key):
    from doorstep import retention

    with statements.autocommit() as conn:
        browser.admit_client(conn, key.id, "203.0.113.9", 5, time.time() - 600)
    retention.prune(engine)
    with db.transaction() as s:
        assert s.scalars(select(ClientRateCounter)).all() == []
