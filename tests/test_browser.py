"""The dashboard in a real browser: Playwright driving Debian's chromium against a live server."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from doorstep import db
from doorstep.config import get_settings
from doorstep.jobs import queue
from doorstep.jobs.worker import Worker
from doorstep.models import Lead
from doorstep.responder import questionnaire
from doorstep.responder.definition import parse
from doorstep.tokens.service import create_token
from doorstep.webhooks import net
from tests.browser import chromium, live_server  # noqa: F401  (fixtures)
from tests.conftest import create_lead_api
from tests.factories import PASSWORD, make_user, set_lead_values
from tests.test_questionnaire import PREQUAL
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.browser
SITE = "https://www.agency.co.uk"


def new_page(chromium, server, width: int = 1280):  # noqa: F811
    context = chromium.new_context(
        base_url=server.url, viewport={"width": width, "height": 900}, locale="en-GB"
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page


def dashboard_paths(owner, lead_id: int) -> list[str]:
    """Every page of the dashboard an admin reaches, with the one lead given."""
    return [
        "/leads",
        f"/leads/{lead_id}",
        "/offices",
        f"/offices/{owner.offices['Derby']}",
        "/statuses",
        "/developer",
        "/reports",
        "/automation",
        "/automation/workflows/new",
        "/automation/jobs",
        "/developer/webhooks",
        "/developer/valuation-page",
        "/users",
        "/account",
        "/about",
    ]


def sign_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/leads")


def test_a_negotiator_works_a_lead_and_an_admin_manages_tokens(
    chromium,  # noqa: F811
    live_server,  # noqa: F811
    client,
    owner,
):
    marla = create_lead_api(client, owner, email="marla@example.com")
    tyler = create_lead_api(
        client,
        owner,
        email="tyler@example.com",
        first_name="Tyler",
        last_name="Durden",
        type="vendor",
        postcode="DE1 1JX",
        phone="01632 960001",
    )
    user = make_user(owner.account_id)
    context, page = new_page(chromium, live_server)
    try:
        sign_in(page, user.email)
        rows = page.locator("tr[data-lead-id]")
        assert rows.count() == 2

        # Filter the inbox: htmx swaps the results and keeps the filters in the address.
        page.get_by_label("Type").select_option("vendor")
        page.wait_for_url(re.compile(r"type=vendor"))
        page.wait_for_function("document.querySelectorAll('tr[data-lead-id]').length === 1")
        assert rows.first.get_attribute("data-lead-id") == str(tyler["id"])
        assert page.url == f"{live_server.url}/leads?type=vendor"  # only the filters in use
        page.get_by_label("Type").select_option("")
        page.get_by_label("Search name, email, phone or postcode").fill("marla@")
        page.wait_for_url(re.compile(r"q=marla"))
        page.wait_for_function("document.querySelectorAll('tr[data-lead-id]').length === 1")
        assert rows.first.get_attribute("data-lead-id") == str(marla["id"])

        # Open the lead, change its status, add a note.
        page.get_by_role("link", name="Marla Singer").click()
        page.wait_for_url(f"**/leads/{marla['id']}")
        assert page.get_by_role("heading", level=1).inner_text().startswith("Marla Singer")
        page.get_by_label("Status").select_option(label="Contacted")  # under "In progress"
        page.get_by_role("button", name="Change status").click()
        page.get_by_text("Status changed.").wait_for()
        assert page.get_by_test_id("lead-status").inner_text() == "Contacted"
        page.get_by_label("Note", exact=True).fill("Called back; viewing on Saturday.")
        page.get_by_role("button", name="Add note").click()
        page.get_by_text("Note added.").wait_for()
        timeline = page.get_by_test_id("timeline")
        assert "Called back; viewing on Saturday." in timeline.inner_text()
        assert "New → Contacted" in timeline.inner_text()
        api = client.get(f"/api/v103/leads/{marla['id']}", headers=owner.headers).json()
        assert (api["status"], api["stage"]) == ("Contacted", "In progress")

        # Create a token, copy it, use it, see the request in its log, then revoke it.
        page.get_by_role("link", name="Developer").click()
        page.wait_for_url("**/developer")
        page.get_by_label("Name", exact=True).fill("Browser test token")
        page.get_by_role("button", name="Create token").click()
        secret = page.locator("#new-token-value").input_value()
        assert secret.startswith("ds_")
        page.get_by_role("button", name="Copy token").click()
        page.get_by_role("button", name="Copied").wait_for()
        assert page.evaluate("navigator.clipboard.readText()") == secret

        r = httpx.post(
            f"{live_server.url}/api/v103/leads",
            json={
                "type": "let",
                "first_name": "Robert",
                "last_name": "Paulson",
                "email": "bob@example.com",
                "phone": "07700 900123",
            },
            headers={"X-API-KEY": secret},
        )
        assert r.status_code == 200, r.text
        new_lead = r.json()["id"]

        page.goto("/developer")
        page.get_by_label("Token", exact=True).select_option(label="Browser test token")
        page.wait_for_url(re.compile(r"token=\d+"))
        page.wait_for_function(
            "document.querySelectorAll('#request-log tr[data-request-id]').length === 1"
        )
        entry = page.locator("#request-log tr[data-request-id]").first
        assert "POST /api/v103/leads" in entry.inner_text()
        assert "200" in entry.inner_text()
        entry.get_by_role("link", name="Show details").click()
        detail = page.get_by_test_id("request-detail")
        detail.wait_for()
        assert "Paulson" in detail.inner_text()
        detail.get_by_role("link", name=f"Open lead #{new_lead}").wait_for()

        page.on("dialog", lambda d: d.accept())
        row = page.locator("tr[data-token-id]", has_text="Browser test token")
        row.get_by_role("button", name="Revoke").click()
        page.get_by_text("revoked: it no longer works").wait_for()
        again = httpx.get(f"{live_server.url}/api/v103/offices", headers={"X-API-KEY": secret})
        assert again.status_code == 401
    finally:
        context.close()


def test_an_agent_cannot_open_another_offices_lead(
    chromium,  # noqa: F811
    live_server,  # noqa: F811
    client,
    owner,
):
    mine = create_lead_api(client, owner, email="n@example.com", advert_postcode="NG1 5FS")
    theirs = create_lead_api(client, owner, email="d@example.com", advert_postcode="DE1 1JX")
    agent = make_user(owner.account_id, "agent", [owner.offices["Nottingham"]])
    context, page = new_page(chromium, live_server, width=390)  # a phone
    try:
        sign_in(page, agent.email)
        ids = page.locator("tr[data-lead-id]").evaluate_all(
            "rows => rows.map(r => r.dataset.leadId)"
        )
        assert ids == [str(mine["id"])]
        response = page.goto(f"/leads/{theirs['id']}")
        assert response is not None and response.status == 404
        assert "There is no lead" in page.content()
        # Nothing on the page is wider than the phone's screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()


def test_every_page_fits_a_phone_screen(
    chromium,  # noqa: F811
    live_server,  # noqa: F811
    client,
    owner,
):
    lead = create_lead_api(client, owner, message="A long message " * 15)
    client.get("/api/v103/offices", headers=owner.headers)  # something in the request log
    admin = make_user(owner.account_id)
    with db.transaction() as s:  # a publishable token: its key, origins and snippets
        web = create_token(
            s, owner.account_id, "Website form", publishable=True, origins=[SITE]
        ).token.id
    context, page = new_page(chromium, live_server, width=390)
    try:
        sign_in(page, admin.email)
        extra = [f"/developer?snippets={owner.token_id}", f"/developer?snippets={web}"]
        for path in [*dashboard_paths(owner, lead["id"]), *extra]:
            page.goto(path)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
            # Every form field on show has a visible label (the workflow editor hides the
            # fields a step's action does not use).
            unlabelled = page.evaluate(
                """() => [...document.querySelectorAll(
                    'input:not([type=hidden]), select, textarea')]
                  .filter(el => el.offsetParent !== null)
                  .filter(el => !(el.labels && [...el.labels].some(l =>
                      l.offsetParent !== null && !l.classList.contains('sr-only'))))
                  .map(el => el.id || el.name)"""
            )
            assert unlabelled == [], (path, unlabelled)
    finally:
        context.close()


def test_the_api_docs_work_without_the_internet(
    chromium,  # noqa: F811
    live_server,  # noqa: F811
):
    """/docs and /redoc loaded Swagger UI and ReDoc from a CDN: blank on an offline server."""
    context, page = new_page(chromium, live_server)
    outside: list[str] = []

    def only_local(route):
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            if route.request.resource_type != "image":  # ReDoc's own logo: cosmetic
                outside.append(route.request.url)
            route.abort()

    try:
        page.route("**/*", only_local)
        page.goto("/docs")
        page.get_by_text("Create Instant Valuation Lead").first.wait_for()
        assert page.get_by_role("button", name=re.compile("Authorize")).count() == 1
        page.goto("/redoc")
        page.get_by_role("heading", name="Create Instant Valuation Lead").wait_for()
        assert outside == []
    finally:
        context.close()


def _luminance(rgb: str) -> float:
    r, g, b = (int(x) / 255 for x in re.findall(r"\d+", rgb)[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def test_the_keyboard_focus_shows_on_the_dark_top_bar(
    chromium,  # noqa: F811
    live_server,  # noqa: F811
    client,
    owner,
):
    """Blue on navy was about 1.9:1; a focus indicator needs 3:1 (WCAG 2.2, 1.4.11)."""
    user = make_user(owner.account_id)
    context, page = new_page(chromium, live_server)
    try:
        sign_in(page, user.email)
        link = page.locator(".topbar .nav a").first
        link.focus()
        outline, background = link.evaluate(
            """a => [getComputedStyle(a).outlineColor,
                     getComputedStyle(document.querySelector('.topbar')).backgroundColor]"""
        )
        hi, lo = sorted((_luminance(outline), _luminance(background)), reverse=True)
        assert (hi + 0.05) / (lo + 0.05) >= 3, (outline, background)
    finally:
        context.close()


def test_a_phone_reads_the_comparables_without_scrolling_sideways(
    chromium,  # noqa: F811
    live_server,  # noqa: F811
    client,
    owner,
):
    """At 390 px the Date and Distance columns were cut off behind a sideways scroll."""
    lead = create_lead_api(client, owner, type="vendor", postcode="NG1 5FS")
    sale = {"evidence": "sale", "address": "14, A LONG STREET NAME, NOTTINGHAM",
            "postcode": "NG1 6AA", "price": 245000, "date": "2025-03-14",
            "property_type": "semi-detached", "distance": 412, "price_today": 251000,
            "same_property": False}  # fmt: skip
    set_lead_values(
        lead["id"],
        valuation_status="Success",
        average_sale_estimation=250000,
        comparable_props=[sale] * 3,
    )
    context, page = new_page(chromium, live_server, width=390)
    try:
        sign_in(page, make_user(owner.account_id).email)
        page.goto(f"/leads/{lead['id']}")
        wrap = page.locator("#valuation .table-wrap")
        assert wrap.evaluate("w => w.scrollWidth <= w.clientWidth + 1")
        when = page.get_by_test_id("comparable-when-where").first
        assert when.is_visible() and "14 Mar 2025" in when.inner_text()
        assert "412 m away" in when.inner_text()
    finally:
        context.close()


def test_on_a_phone_the_lead_page_jumps_to_its_parts_and_the_inbox_says_type_and_source(
    chromium,  # noqa: F811
    live_server,  # noqa: F811
    client,
    owner,
):
    """The actions come first on a phone; the valuation began ~1,900 px down with no way to
    it, and the inbox dropped Type and Source (a valuation looked like a Rightmove buyer)."""
    lead = create_lead_api(client, owner, type="vendor", postcode="NG1 5FS", source="ivt")
    set_lead_values(lead["id"], valuation_status="Success", average_sale_estimation=250000)
    context, page = new_page(chromium, live_server, width=390)
    try:
        sign_in(page, make_user(owner.account_id).email)
        row = page.get_by_test_id("row-small").first
        assert "Vendor from" in row.inner_text()
        page.goto(f"/leads/{lead['id']}")
        jump = page.get_by_test_id("lead-jump")
        assert jump.is_visible()
        jump.get_by_role("link", name="Valuation").click()
        page.wait_for_function("location.hash === '#valuation'")
        top = page.locator("#valuation").evaluate("e => e.getBoundingClientRect().top")
        assert -2 <= top < 200  # scrolled to it (sub-pixel rounding)
    finally:
        context.close()


def test_on_a_phone_chart_labels_stay_legible_and_token_rows_fit(
    chromium,  # noqa: F811
    live_server,  # noqa: F811
    client,
    owner,
):
    """Chart labels shrank to about 4 px at 390 px; the token table hid Revoke off-screen."""
    create_lead_api(client, owner)
    context, page = new_page(chromium, live_server, width=390)
    try:
        sign_in(page, make_user(owner.account_id).email)
        page.goto("/reports")
        label = page.locator(".chart text").first
        assert label.evaluate("t => t.getBoundingClientRect().height") >= 9
        page.goto("/developer")
        wrap = page.locator("[data-token-id]").first.locator("xpath=ancestor::div[1]")
        assert wrap.evaluate("w => w.scrollWidth <= w.clientWidth + 1")
        assert page.get_by_role("button", name="Revoke").first.is_visible()
        assert "failed · last used" in page.get_by_test_id("token-small").first.inner_text()
    finally:
        context.close()


def test_an_admin_writes_a_workflow_previews_it_and_sees_it_on_the_automation_page(
    chromium,  # noqa: F811
    live_server,  # noqa: F811
    client,
    owner,
):
    create_lead_api(client, owner, first_name="Tyler", last_name="Durden")
    admin = make_user(owner.account_id)
    context, page = new_page(chromium, live_server)
    try:
        sign_in(page, admin.email)
        page.get_by_role("link", name="Automation").click()
        page.get_by_role("link", name="New workflow").click()
        page.get_by_label("Name").fill("Instant reply")
        page.get_by_label("Sale").check()
        step = page.locator("fieldset[data-step]").last
        # Only the fields of the chosen action show.
        assert not step.get_by_label(re.compile("^Subject")).is_visible()
        step.get_by_label("Action", exact=True).select_option("email_lead")
        assert step.get_by_label(re.compile("^Subject")).is_visible()
        assert not step.get_by_label(re.compile("^Text message")).is_visible()
        step.get_by_label(re.compile("^Subject")).fill("Thanks {{ lead.first_name }}")
        step.get_by_label(re.compile("^Message")).fill("{{ office.name }} will call you.")
        page.get_by_role("button", name="Preview").click()
        preview = page.locator("#preview")
        preview.get_by_text("Thanks Tyler").wait_for()
        assert "Nottingham will call you." in preview.inner_text()
        page.get_by_role("button", name="Save workflow").click()
        page.wait_for_url("**/automation")
        row = page.locator("tr[data-workflow-id]")
        assert "Instant reply" in row.inner_text() and "E-mail the lead" in row.inner_text()
        row.get_by_role("button", name=re.compile("Turn off")).click()
        page.locator("tr[data-workflow-id] .badge", has_text="Off").wait_for()
        # A mistake is shown at its field, focusable from the summary.
        page.locator("tr[data-workflow-id] a").first.click()
        page.locator("fieldset[data-step]").first.get_by_label("After").fill("soon")
        page.get_by_role("button", name="Save workflow").click()
        page.get_by_role("alert").first.wait_for()
        assert "is not a duration" in page.locator("#step-0-after-errors").inner_text()
    finally:
        context.close()


# Reported to the test through a binding: it outlives the page's navigations.
WATCH_CSP = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.cspViolation(`${e.violatedDirective} ${e.blockedURI} on ${location.pathname}`);
});
"""
# ReDoc's sidebar shows a logo from cdn.redoc.ly, written into its script; the policy blocks
# it on purpose (nothing on these pages comes from outside), and ReDoc then hides it.
REDOC_LOGO = "img-src https://cdn.redoc.ly/redoc/logo-mini.svg on /redoc"


def test_every_page_works_under_the_content_security_policy(
    chromium,  # noqa: F811
    live_server,  # noqa: F811
    client,
    owner,
):
    """Every page and the htmx and script behaviours on them, in a browser that enforces the
    policy: no violation reported, no error in the console."""
    lead = create_lead_api(client, owner, message="Line one\nLine two")
    sale = {"evidence": "sale", "address": "1 HIGH STREET", "postcode": "NG1 6AA",
            "price": 245000, "date": "2025-03-14", "property_type": "terraced",
            "distance": 412, "price_today": 251000, "same_property": False}  # fmt: skip
    set_lead_values(
        lead["id"],
        valuation_status="Success",
        average_sale_estimation=250000,
        comparable_props=[sale],
    )
    client.get("/api/v103/offices", headers=owner.headers)  # something in the request log
    admin = make_user(owner.account_id)
    context, page = new_page(chromium, live_server)
    violations: list[str] = []
    errors: list[str] = []
    context.expose_binding("cspViolation", lambda source, v: violations.append(v))
    context.add_init_script(WATCH_CSP)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def visit(path: str) -> None:
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        assert "content-security-policy" in response.headers, path
        page.wait_for_load_state("load")

    try:
        visit("/login")
        sign_in(page, admin.email)
        for path in dashboard_paths(owner, lead["id"]):
            visit(path)

        # The inbox filter (htmx, the address kept in step).
        visit("/leads")
        page.get_by_label("Type").select_option("let")
        page.wait_for_url(re.compile(r"type=let"))
        page.get_by_text("No leads match these filters.").wait_for()

        # The workflow editor's step fields, shown and hidden by app.js.
        visit("/automation/workflows/new")
        step = page.locator("fieldset[data-step]").last
        assert not step.get_by_label(re.compile("^Subject")).is_visible()
        step.get_by_label("Action", exact=True).select_option("email_lead")
        assert step.get_by_label(re.compile("^Subject")).is_visible()

        # A new token and its copy button; an error toast and its dismiss button; the
        # confirm dialog of a revoke, declined then accepted.
        visit("/developer")
        page.get_by_label("Name", exact=True).fill("CSP test token")
        page.get_by_role("button", name="Create token").click()
        secret = page.locator("#new-token-value").input_value()
        page.get_by_role("button", name="Copy token").click()
        page.get_by_role("button", name="Copied").wait_for()
        assert page.evaluate("navigator.clipboard.readText()") == secret
        # Details of a request-log entry open in place; one deleted since the page loaded
        # (retention) is an error toast, which its button dismisses.
        entry = page.locator("#request-log tr[data-request-id]").first
        entry.get_by_role("link", name="Show details").click()
        page.get_by_test_id("request-detail").wait_for()
        delete_request_log()
        page.locator("#request-log tr[data-request-id]").first.get_by_role(
            "link", name="Show details"
        ).click()
        toast = page.locator("#toasts .toast")
        toast.wait_for()
        toast.get_by_role("button", name="Dismiss this message").click()
        toast.wait_for(state="detached")
        dialogs: list[str] = []

        def answer(dialog, accept: bool) -> None:
            dialogs.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        row = page.locator("tr[data-token-id]", has_text="CSP test token")
        page.once("dialog", lambda d: answer(d, False))
        row.get_by_role("button", name="Revoke").click()
        page.wait_for_timeout(300)
        assert not page.get_by_text("revoked: it no longer works").is_visible()
        page.once("dialog", lambda d: answer(d, True))
        row.get_by_role("button", name="Revoke").click()
        page.get_by_text("revoked: it no longer works").wait_for()
        assert len(dialogs) == 2 and "Revoke the token" in dialogs[0]

        # Swagger UI: its start script is a file; Authorize and Try it out work.
        token = create_token_secret(owner)
        visit("/docs")
        page.get_by_role("button", name=re.compile("Authorize")).first.click()
        dialog = page.locator(".modal-ux")
        dialog.locator(".auth-container input").fill(token)
        dialog.locator("button.authorize").click()
        dialog.locator("button.btn-done").click()
        page.get_by_text("Get Offices").first.click()
        page.get_by_role("button", name="Try it out").click()
        page.get_by_role("button", name="Execute").click()
        page.locator(".live-responses-table .response-col_status", has_text="200").wait_for()

        # ReDoc, styled by its script and searching in its worker.
        visit("/redoc")
        page.get_by_placeholder("Search...").fill("valuation")
        page.locator("[role=search] li", has_text="Create Instant Valuation Lead").first.wait_for()

        assert [v for v in violations if v != REDOC_LOGO] == []
        # The browser and htmx log the deleted entry's 404, rightly, and the browser the
        # ReDoc logo it blocked.
        expected = ("Failed to load resource: the server responded with a status of 404",
                    "Response Status Error Code 404 from /developer/requests/",
                    "Loading the image 'https://cdn.redoc.ly/")  # fmt: skip
        assert [e for e in errors if not e.startswith(expected)] == []
    finally:
        context.close()


def delete_request_log() -> None:
    from sqlalchemy import delete

    from doorstep import db
    from doorstep.models import RequestLog

    with db.transaction() as s:
        s.execute(delete(RequestLog))


def create_token_secret(owner) -> str:
    from doorstep import db
    from doorstep.tokens.service import create_token

    with db.transaction() as s:
        return create_token(s, owner.account_id, "Swagger UI").secret


# -- webhooks ----------------------------------------------------------------------------


def _run_due_jobs(engine) -> None:
    w = Worker(engine, 1, name="w")
    while jobs := queue.claim(engine, "w", 10, timedelta(seconds=30)):
        for j in jobs:
            w.run_one(j)


def test_an_admin_adds_an_endpoint_sees_it_verified_redelivers_rotates_and_deletes(
    chromium,  # noqa: F811
    live_server,  # noqa: F811
    client,
    owner,
    engine,
    monkeypatch,
):
    monkeypatch.setenv("DOORSTEP_WEBHOOKS_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    net.reset_client()
    context, page = new_page(chromium, live_server)
    try:
        with Receiver() as rx:
            sign_in(page, make_user(owner.account_id).email)
            page.get_by_role("link", name="Developer").click()
            page.wait_for_url("**/developer")
            tab = page.get_by_role("navigation", name="Developer").get_by_role(
                "link", name="Webhooks"
            )
            tab.focus()
            page.keyboard.press("Enter")
            page.wait_for_url("**/developer/webhooks")

            # Everything by keyboard: labelled fields, the checkboxes, the button.
            page.get_by_label("URL").fill(rx.url)
            page.get_by_label("Description (optional)").fill("Receiver under test")
            updated = page.get_by_role("checkbox", name="lead.updated")
            updated.focus()
            page.keyboard.press("Space")
            assert not updated.is_checked()
            page.get_by_role("button", name="Add endpoint").focus()
            page.keyboard.press("Enter")
            secret_box = page.locator("#new-secret-value")
            secret_box.wait_for()
            secret = secret_box.input_value()
            assert secret.startswith("whsec_")
            page.get_by_role("button", name="Copy secret").click()
            page.get_by_role("button", name="Copied").wait_for()
            assert page.evaluate("navigator.clipboard.readText()") == secret
            row = page.locator("tr[data-endpoint-id]", has_text=rx.url)
            assert "lead.updated" not in row.inner_text()

            lead = create_lead_api(client, owner)
            _run_due_jobs(engine)
            (req,) = rx.wait_for(1)
            assert Webhook(secret).verify(req.body, req.headers)["data"]["id"] == lead["id"]

            row.get_by_role("link", name=f"Manage {rx.url}").click()
            page.wait_for_url("**/developer/webhooks/*")
            delivery = page.locator("tr[data-delivery-id]").first
            assert "Delivered" in delivery.inner_text() and "200" in delivery.inner_text()
            delivery.get_by_role("button", name="Redeliver").focus()
            page.keyboard.press("Enter")
            page.get_by_text("will be sent again now").wait_for()
            _run_due_jobs(engine)
            first, again = rx.wait_for(2)
            assert again.headers["webhook-id"] == first.headers["webhook-id"]
            page.reload()
            attempts = page.locator("tr[data-delivery-id] .attempts li")
            assert attempts.count() == 2

            page.on("dialog", lambda d: d.accept())
            page.get_by_role("button", name="Rotate secret").click()
            page.locator("#new-secret-value").wait_for()
            rotated = page.locator("#new-secret-value").input_value()
            assert rotated.startswith("whsec_") and rotated != secret

            page.get_by_role("button", name="Delete endpoint").click()
            page.wait_for_url("**/developer/webhooks")
            page.get_by_text("No endpoints yet").wait_for()
    finally:
        context.close()
        monkeypatch.undo()
        get_settings.cache_clear()
        net.reset_client()


# -- the pre-qualification questionnaire -----------------------------------------------------


def _questionnaire_link(lead_id: int, account_id: int) -> str:
    """A questionnaire as the step stores it, and its link's path (test_questionnaire.py
    follows the e-mail)."""
    form = parse(PREQUAL).steps[0]
    with db.transaction() as s:
        row = questionnaire.new_row(account_id, lead_id, None, PREQUAL["name"], 0, form)
        s.add(row)
        s.flush()
        url = questionnaire.link(account_id, row.key, row.expires_at)
    return url.removeprefix(get_settings().public_url.rstrip("/"))


def _focus_shows(page) -> bool:
    """The focused control has a visible outline (WCAG 2.4.7)."""
    return page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
                   return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; }"""
    )


@pytest.mark.parametrize(("width", "height"), [(375, 667), (1280, 900)], ids=["phone", "desktop"])
def test_a_person_answers_with_the_keyboard_and_the_negotiator_sees_it(
    chromium,  # noqa: F811
    live_server,  # noqa: F811
    client,
    owner,
    width,
    height,
):
    lead = create_lead_api(client, owner, advert_postcode="NG1 5FS")
    path = _questionnaire_link(lead["id"], owner.account_id)
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": width, "height": height}, locale="en-GB"
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(path)
        assert page.get_by_role("heading", level=1).inner_text() == (
            "A few questions from Demo Brand"
        )
        # With the script, a question asked only after "Yes" waits for it.
        on_market = page.get_by_role("group", name="Is it on the market?")
        assert not on_market.is_visible()
        assert not page.get_by_role("group", name="The property’s address").is_visible()

        page.keyboard.press("Tab")  # the skip link
        page.keyboard.press("Tab")  # into "Do you have a property to sell?"
        assert _focus_shows(page)
        page.keyboard.press("Space")  # Yes
        assert page.get_by_role("radio", name="Yes").first.is_checked()
        on_market.wait_for()  # appears once "Yes" is chosen
        page.keyboard.press("Tab")  # "Is it on the market?"
        page.keyboard.press("ArrowDown")  # No
        assert on_market.get_by_role("radio", name="No").is_checked()
        page.keyboard.press("Tab")  # "Do you have a mortgage in principle?"
        page.keyboard.press("ArrowDown")  # No
        page.keyboard.press("ArrowDown")  # Not needed
        page.keyboard.press("Tab")
        page.keyboard.type("In the spring")
        page.keyboard.press("Tab")
        assert _focus_shows(page)
        page.keyboard.type("12 Friar Gate")
        page.keyboard.press("Tab")
        page.keyboard.type("DE1 1JX")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.keyboard.press("Tab")  # the button
        assert _focus_shows(page)
        page.keyboard.press("Enter")
        page.get_by_role("heading", name="Thank you").wait_for()
        assert "Not needed" in page.get_by_role("main").inner_text()

        sign_in_page = context.new_page()
        sign_in(sign_in_page, make_user(owner.account_id).email)
        sign_in_page.goto(f"/leads/{lead['id']}")
        table = sign_in_page.get_by_role("table").filter(has_text="Question")
        text = table.inner_text()
        assert "Do you have a property to sell?\tYes" in text
        assert "Do you have a mortgage in principle?\tNot needed" in text
        assert "When would you like to move?\tIn the spring" in text
        assert "Questionnaire answered" in sign_in_page.get_by_test_id("timeline").inner_text()
        with db.transaction() as s:
            (vendor,) = s.scalars(select(Lead).where(Lead.linked_from_lead_id == lead["id"]))
        linked = sign_in_page.get_by_test_id("linked-leads")
        linked.get_by_role("link", name=f"Linked lead #{vendor.id} (vendor)").click()
        sign_in_page.wait_for_url(f"**/leads/{vendor.id}")
        head = sign_in_page.get_by_role("heading", level=1).locator("..").inner_text()
        assert "Vendor from Homepage" in head and "Derby" in head
    finally:
        context.close()


def test_without_javascript_every_question_shows_with_its_hint(
    chromium,  # noqa: F811
    live_server,  # noqa: F811
    client,
    owner,
):
    lead = create_lead_api(client, owner, advert_postcode="NG1 5FS")
    path = _questionnaire_link(lead["id"], owner.account_id)
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 375, "height": 667}, java_script_enabled=False
    )
    page = context.new_page()
    try:
        page.goto(path)
        group = page.get_by_role("group", name="Is it on the market?")
        assert group.is_visible()
        assert "Only if you answered “Yes”" in group.inner_text()
        page.get_by_role("group", name="Do you have a property to sell?").get_by_label("No").check()
        page.get_by_role("group", name="Is it on the market?").get_by_label("Yes").check()
        page.get_by_role("button", name="Send my answers").click()
        # the mortgage question is required: the error summary names it and links to it
        summary = page.get_by_role("alert")
        assert "Choose an answer to “Do you have a mortgage in principle?”" in summary.inner_text()
        summary.get_by_role("link").first.click()
        page.get_by_role("group", name=re.compile("mortgage")).get_by_label("Yes").check()
        page.get_by_role("button", name="Send my answers").click()
        page.get_by_role("heading", name="Thank you").wait_for()
        assert "Is it on the market?" not in page.get_by_role("main").inner_text()  # dropped
    finally:
        context.close()


def test_with_strict_progression_a_status_change_asks_for_its_reason(
    chromium,  # noqa: F811
    live_server,  # noqa: F811
    client,
    owner,
):
    from doorstep.accounts.service import update_account

    with db.transaction() as s:
        update_account(s, owner.account_id, strict_progression=True)
    lead = create_lead_api(client, owner)
    user = make_user(owner.account_id)
    context, page = new_page(chromium, live_server)
    try:
        sign_in(page, user.email)
        page.goto(f"/leads/{lead['id']}")
        page.get_by_label("Status").select_option(label="Not interested")
        page.get_by_role("button", name="Change status").click()
        # The browser holds the form back: the reason is required.
        assert page.get_by_label("Reason for the change").evaluate("e => !e.validity.valid")
        assert page.get_by_test_id("lead-status").inner_text() == "New"
        page.get_by_label("Reason for the change").fill("Sold privately last week")
        page.get_by_role("button", name="Change status").click()
        page.get_by_text("Status changed.").wait_for()
        assert page.get_by_test_id("lead-status").inner_text() == "Not interested"
        assert page.get_by_text("Sold privately last week").is_visible()
    finally:
        context.close()


def test_an_admin_invites_a_user_who_sets_a_password_and_a_phone_in_the_browser(
    chromium,  # noqa: F811
    live_server,  # noqa: F811
    owner,
):
    admin = make_user(owner.account_id)
    context, page = new_page(chromium, live_server)
    other, invitee = new_page(chromium, live_server, width=390)
    try:
        sign_in(page, admin.email)
        page.get_by_role("link", name="Users").click()
        page.wait_for_url("**/users")
        page.get_by_label("Email").fill("nia@agency.co.uk")
        page.get_by_label("Role").last.select_option("agent")
        page.get_by_label("Derby").last.check()
        page.get_by_role("button", name="Add user").click()
        link = page.get_by_label("Link", exact=True).input_value()
        assert "/invite/" in link

        invitee.goto(link)
        invitee.get_by_label("New password", exact=False).first.fill("a-long-password-1")
        invitee.get_by_label("New password again").fill("a-long-password-1")
        invitee.get_by_role("button", name="Set password").click()
        invitee.wait_for_url("**/login")
        invitee.get_by_label("Email").fill("nia@agency.co.uk")
        invitee.get_by_label("Password").fill("a-long-password-1")
        invitee.get_by_role("button", name="Sign in").click()
        invitee.wait_for_url("**/leads")
        invitee.get_by_role("link", name="nia@agency.co.uk").click()
        invitee.wait_for_url("**/account")
        invitee.get_by_label("Phone number").fill("07986 000000")
        invitee.get_by_role("button", name="Save phone").click()
        invitee.get_by_text("Your phone is +447986000000.").wait_for()

        # The admin disables her: her next page is the sign-in page.
        page.goto("/users")
        row = page.locator("li.user-row", has_text="nia@agency.co.uk")
        row.get_by_text("Manage").click()
        page.once("dialog", lambda d: d.accept())
        row.get_by_role("button", name="Disable").click()
        page.get_by_text("is disabled and signed out everywhere").wait_for()
        invitee.goto("/leads")
        invitee.wait_for_url("**/login**")
    finally:
        context.close()
        other.close()
