"""Security headers (web/headers.py): a Content-Security-Policy that runs only the app's own
scripts and styles on every page, nosniff everywhere, nothing personal left in a cache. The
browser test that every page works under the policy is in test_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from tests.conftest import create_lead_api
from tests.factories import make_user, sign_in
from tests.test_browser import dashboard_paths

TEMPLATES = Path(__file__).parent.parent / "src" / "doorstep" / "web" / "templates"
DASHBOARD_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "form-action": "'self'",
    "base-uri": "'self'",
    "object-src": "'none'",
    "frame-ancestors": "'none'",
}


def policy(response) -> dict[str, str]:
    header = response.headers.get("content-security-policy")
    assert header, f"{response.request.url.path} has no Content-Security-Policy"
    directives = [d.strip().split(None, 1) for d in header.split(";") if d.strip()]
    return {d[0]: d[1] if len(d) > 1 else "" for d in directives}


def test_every_dashboard_page_runs_only_the_apps_own_scripts_and_styles(client, owner):
    lead = create_lead_api(client, owner)
    public = ["/login", "/about", "/unsubscribe/not-a-real-link", "/docs", "/no-such-page"]
    for path in public:
        r = client.get(path)
        assert policy(r) == DASHBOARD_POLICY, path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "same-origin", path
    sign_in(client, make_user(owner.account_id))
    for path in dashboard_paths(owner, lead["id"]):
        r = client.get(path)
        assert r.status_code == 200, path
        assert policy(r) == DASHBOARD_POLICY, path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "same-origin", path
        # Leads, request bodies, tokens: never kept in a browser's or a proxy's cache.
        assert r.headers["cache-control"] == "no-store", path


def test_redoc_has_its_own_policy_that_still_runs_only_the_apps_scripts(client):
    got = policy(client.get("/redoc"))
    # ReDoc makes its <style> elements in script and searches in a blob: worker.
    assert got == {
        **DASHBOARD_POLICY,
        "style-src": "'self' 'unsafe-inline'",
        "worker-src": "'self' blob:",
    }
    # Swagger UI starts from a file, so /docs keeps the dashboard's policy.
    html = client.get("/docs").text
    assert '<script src="/static/docs.js">' in html and "<script>" not in html


def test_api_responses_are_light_nosniff_and_not_cached(client, owner):
    lead = create_lead_api(client, owner)
    for path in (f"/api/v103/leads/{lead['id']}", "/api/v103/offices", "/api/v103/leads/0"):
        r = client.get(path, headers=owner.headers)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["cache-control"] == "no-store", path
        assert "content-security-policy" not in r.headers, path  # not rendered: no use
        assert "referrer-policy" not in r.headers, path
    r = client.post("/api/v103/leads", json={"type": "sale"}, headers=owner.headers)
    assert r.status_code == 422 and r.headers["cache-control"] == "no-store"


def test_static_files_are_nosniff_and_may_be_cached(client):
    for path in ("/static/app.js", "/static/app.css", "/static-offline-docs/swagger-ui.css"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert "no-store" not in r.headers.get("cache-control", ""), path


def test_a_page_can_let_listed_sites_frame_it_and_no_other(engine):
    from doorstep.web.headers import SecurityHeadersMiddleware, framing_allowed_by

    app = FastAPI()

    @app.get("/embed/valuation")
    def embeddable(request: Request):
        from fastapi.responses import HTMLResponse

        origins = ["https://www.agency.co.uk", "http://localhost:8080"]
        return HTMLResponse("<p>Valuation</p>", headers=framing_allowed_by(origins))

    @app.get("/page")
    def page():
        from fastapi.responses import HTMLResponse

        return HTMLResponse("<p>Not framed</p>")

    app.add_middleware(SecurityHeadersMiddleware, static_prefixes=("/static/",))
    with TestClient(app) as c:
        got = policy(c.get("/embed/valuation"))
        assert got == {
            **DASHBOARD_POLICY,
            "frame-ancestors": "https://www.agency.co.uk http://localhost:8080",
        }
        assert policy(c.get("/page"))["frame-ancestors"] == "'none'"
    for bad in ("*", "https://a.example; script-src *", "agency.co.uk", "https://a.example/"):
        with pytest.raises(ValueError):
            framing_allowed_by([bad])


# What the policy refuses: a <script> with a body, an on...= handler, a style attribute or
# element.
_INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|\sstyle\s*=|<style", re.I)


def test_templates_have_no_inline_script_handler_or_style():
    found = [
        f"{path.relative_to(TEMPLATES)}:{n}: {line.strip()}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if _INLINE.search(line)
    ]
    assert found == []
