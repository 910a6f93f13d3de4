"""The instant valuation page (hosted and embedded), its settings, and the Developer tab's
publishable tokens and snippets, through HTTP. tests/test_browser_capture.py runs them in a
real browser."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from doorstep import db
from doorstep.models import ApiToken, ValuationPage
from doorstep.tokens import service as tokens
from doorstep.valuepage import service
from tests.factories import make_user, post_form, sign_in

SITE = "https://www.agency.co.uk"


def publishable(account_id, origins=(SITE,)):
    with db.transaction() as s:
        new = tokens.create_token(s, account_id, "Website", publishable=True, origins=origins)
        return new.token.id, new.secret


@pytest.fixture
def page(owner):
    token_id, key = publishable(owner.account_id)
    with db.transaction() as s:
        service.save_settings(
            s,
            owner.account_id,
            slug="demo-brand",
            brand_name="Demo Brand Estates",
            brand_colour="#ffd400",
            privacy_url="https://www.agency.co.uk/privacy",
            token_id=token_id,
            enabled=True,
        )
    return key


def page_key_of(html: str) -> str:
    m = re.search(r'data-key="([^"]+)"', html)
    assert m, "the page carries no key"
    return m[1]


def test_the_hosted_page_carries_a_signed_key_brand_and_a_frame_policy(client, owner, page):
    r = client.get("/value/demo-brand")
    assert r.status_code == 200
    # Not the publishable token (stored only as a hash): a key signed for the page.
    key = page_key_of(r.text)
    assert key.startswith("ds_page_") and page not in r.text
    assert "Demo Brand Estates" in r.text
    assert 'href="https://www.agency.co.uk/privacy"' in r.text
    csp = r.headers["content-security-policy"]
    assert f"frame-ancestors {SITE}" in csp and "default-src 'self'" in csp
    assert "set-cookie" not in r.headers
    # Nothing inline: the page keeps to a strict CSP.
    assert not re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=", r.text)


def test_a_page_per_office_sends_its_leads_there(client, owner, page):
    derby = owner.offices["Derby"]
    r = client.get(f"/value/demo-brand/{derby}")
    assert r.status_code == 200 and f'data-office="{derby}"' in r.text
    assert "our Derby office" in r.text
    assert client.get("/value/demo-brand/999999").status_code == 404
    assert client.get("/value/demo-brand/abc").status_code == 404


def test_the_embed_finds_the_page_by_its_key(client, owner, page):
    r = client.get("/value/embed", params={"key": page})
    assert r.status_code == 200 and f'data-key="{page}"' in r.text
    assert f"frame-ancestors {SITE}" in r.headers["content-security-policy"]
    widget = client.get("/value/embed/widget", params={"key": page}, headers={"Origin": SITE})
    assert widget.status_code == 200 and widget.text.lstrip().startswith("{#") is False
    assert widget.headers["access-control-allow-origin"] == SITE
    assert "<html" not in widget.text
    other = client.get(
        "/value/embed/widget", params={"key": page}, headers={"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in other.headers
    assert client.get("/value/embed", params={"key": "ds_nope"}).status_code == 404


def test_a_secret_or_revoked_key_opens_no_page(client, owner, page):
    assert client.get("/value/embed", params={"key": owner.token}).status_code == 404
    with db.transaction() as s:
        token = s.scalar(select(ApiToken).where(ApiToken.publishable))
        tokens.revoke_token(s, owner.account_id, token.id)
    assert client.get("/value/demo-brand").status_code == 404
    assert client.get("/value/embed", params={"key": page}).status_code == 404


def test_an_account_without_settings_still_embeds_with_its_defaults(client, owner):
    _, key = publishable(owner.account_id)
    r = client.get("/value/embed", params={"key": key})
    assert r.status_code == 200 and "Demo Brand" in r.text
    assert client.get("/value/demo-brand").status_code == 404


def test_the_embed_script_and_theme_load_from_any_origin(client):
    r = client.get("/embed.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cross-origin-resource-policy"] == "cross-origin"
    css = client.get("/value/theme.css", params={"c": "ffd400"})
    assert "--ds-brand:#ffd400" in css.text
    assert "--ds-on-brand:#111827" in css.text  # dark text on yellow
    bad = client.get("/value/theme.css", params={"c": "red;}body{x"})
    assert bad.status_code == 200 and "--ds-brand:#1d4ed8" in bad.text


@pytest.mark.parametrize("colour", ["#ffd400", "#ffffff", "#000000", "#1d4ed8", "#7fff00"])
def test_every_brand_colour_gets_readable_text(colour):
    t = service.theme(colour)
    assert service.contrast(t["brand"], t["on_brand"]) >= 4.5
    assert service.contrast(t["ink"], "#ffffff") >= 4.5


def test_an_admin_sets_up_the_page(client, owner):
    token_id, _ = publishable(owner.account_id)
    sign_in(client, make_user(owner.account_id))
    r = client.get("/developer/valuation-page")
    assert r.status_code == 200 and 'value="demo-brand"' in r.text
    form = {
        "enabled": "1",
        "slug": "Bad Slug!",
        "brand_name": "Demo",
        "brand_colour": "red",
        "privacy_url": "javascript:alert(1)",
        "token_id": str(owner.token_id),  # a secret token
    }
    r = post_form(client, "/developer/valuation-page", form, "/developer/valuation-page")
    assert r.status_code == 422
    for field in ("slug", "brand_colour", "privacy_url", "token_id"):
        assert f'id="{field}-errors"' in r.text, field
    form.update(
        slug="demo-brand",
        brand_colour="#0a7d38",
        privacy_url="https://www.agency.co.uk/privacy",
        token_id=str(token_id),
    )
    r = post_form(client, "/developer/valuation-page", form, "/developer/valuation-page")
    assert r.status_code == 303, r.text
    r = client.get("/developer/valuation-page")
    assert "/value/demo-brand" in r.text
    with db.transaction() as s:
        saved = s.get(ValuationPage, owner.account_id)
        assert saved is not None and saved.brand_colour == "#0a7d38"


def test_one_slug_one_account(client, owner, other, page):
    token_id, _ = publishable(other.account_id)
    with db.transaction() as s, pytest.raises(Exception) as e:
        service.save_settings(
            s,
            other.account_id,
            slug="demo-brand",
            brand_name="",
            brand_colour="#000000",
            privacy_url="https://x.example/p",
            token_id=token_id,
            enabled=True,
        )
    assert "taken" in str(getattr(e.value, "errors", e.value))


def test_the_developer_tab_makes_publishable_tokens_edits_origins_and_shows_snippets(client, owner):
    sign_in(client, make_user(owner.account_id))
    r = post_form(
        client,
        "/developer/tokens",
        {"name": "Site", "kind": "publishable", "origins": "not-an-origin"},
        "/developer",
    )
    assert r.status_code == 422 and "not a web origin" in r.text
    r = post_form(
        client,
        "/developer/tokens",
        {"name": "Site", "kind": "publishable", "origins": f"{SITE}/\nhttps://agency.co.uk"},
        "/developer",
    )
    assert r.status_code == 200
    key = re.search(r'id="new-token-value" type="text" readonly value="([^"]+)"', r.text)[1]
    assert key.startswith("ds_pub_")
    assert "Publishable" in r.text and f'value="{key}"' in r.text
    # The snippets of the new token carry its key; the embed line is there.
    assert f'data-key="{key}"' in r.text.replace("&#34;", '"').replace("&quot;", '"')
    with db.transaction() as s:
        token = s.scalar(select(ApiToken).where(ApiToken.name == "Site"))
        tid = token.id
    page = client.get("/developer").text
    assert key not in page  # shown once, as every token: only its hash is kept
    assert key[:10] in page  # its prefix names it
    page = client.get("/developer", params={"snippets": tid}).text
    assert key not in page and "YOUR_PUBLISHABLE_KEY" in page
    with db.transaction() as s:
        row = s.execute(select(ApiToken.__table__).where(ApiToken.id == tid)).one()
    assert not [v for v in row if isinstance(v, str) and key in v]
    r = post_form(
        client, f"/developer/tokens/{tid}/origins", {"origins": "https://new.example"}, "/developer"
    )
    assert r.status_code == 303
    with db.transaction() as s:
        assert tokens.origins_of(s, [tid])[tid] == ["https://new.example"]
    r = post_form(client, f"/developer/tokens/{tid}/origins", {"origins": ""}, "/developer")
    assert r.status_code == 422
    r = post_form(
        client,
        f"/developer/tokens/{owner.token_id}/origins",
        {"origins": SITE},
        "/developer",
    )
    assert r.status_code == 422  # a secret token has no origins
    secret = client.get(f"/developer?snippets={owner.token_id}").text
    assert "YOUR_SECRET_TOKEN" in secret and "Gravity Forms" in secret
    assert 'data-snippet="embed"' not in secret
    assert owner.token not in secret
    public = client.get(f"/developer?snippets={tid}").text
    for name in ("embed", "html-form", "curl-json", "curl-form", "gravity-forms"):
        assert f'data-snippet="{name}"' in public, name


SELF = "http://testserver"  # the hosted page's own origin, where its form runs


def test_the_hosted_pages_key_creates_leads_as_its_token_and_is_logged_against_it(
    client, owner, page
):
    key = page_key_of(client.get("/value/demo-brand").text)
    body = {"type": "vendor", "first_name": "Ann", "last_name": "Lee", "email": "a@x.com",
            "phone": "07986 000000", "postcode": "NG1 5FS"}  # fmt: skip
    r = client.post("/api/v103/leads", json=body, headers={"X-API-KEY": key})
    assert r.status_code == 200, r.text
    with db.transaction() as s:
        from doorstep.models import RequestLog

        log = s.scalars(select(RequestLog).order_by(RequestLog.id.desc())).first()
        token_id = s.scalar(select(ValuationPage.token_id))
    assert log is not None and log.token_id == token_id and log.lead_id == r.json()["id"]
    # Still a publishable token's powers: nothing but creating leads and looking up addresses.
    assert client.get("/api/v103/offices", headers={"X-API-KEY": key}).status_code == 403
    # From another site, as the token itself: 403.
    other = {"X-API-KEY": key, "Origin": "https://evil.example"}
    assert client.post("/api/v103/leads", json=body, headers=other).status_code == 403


def test_a_forged_expired_or_revoked_page_key_opens_nothing(client, owner, page):
    from doorstep.auth import keys
    from doorstep.tokens import browser

    key = page_key_of(client.get("/value/demo-brand").text)
    body = {"type": "vendor", "first_name": "Ann", "last_name": "Lee", "email": "b@x.com",
            "phone": "07986 000000", "postcode": "NG1 5FS"}  # fmt: skip

    def status(k: str) -> int:
        return client.post("/api/v103/leads", json=body, headers={"X-API-KEY": k}).status_code

    assert status(key[:-2] + ("AA" if not key.endswith("AA") else "BB")) == 401  # tampered
    # Signed with another installation's key, naming a token by id.
    from itsdangerous import TimestampSigner, URLSafeTimedSerializer

    with db.transaction() as s:
        token_id = s.scalar(select(ValuationPage.token_id))
        secret_id = owner.token_id
    forged = URLSafeTimedSerializer("x" * 40, salt="doorstep.valuation-page-key")
    assert status("ds_page_" + forged.dumps(token_id)) == 401
    # Our own signature naming a secret token: not a page key's token.
    assert status(browser.page_key(secret_id)) == 401

    # Past its age: signed by this installation 13 hours ago.
    class Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 13 * 3600

    old = URLSafeTimedSerializer(keys.current(), salt="doorstep.valuation-page-key", signer=Then)
    assert status("ds_page_" + old.dumps(token_id)) == 401
    assert status(key) == 200
    with db.transaction() as s:
        tokens.revoke_token(s, owner.account_id, token_id)
    assert status(key) == 401
