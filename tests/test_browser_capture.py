"""Website capture in a real browser: the instant valuation page at phone and desktop widths,
embedded in a page of another origin (in a frame and inline), and the Developer tab's plain
HTML form snippet posting from that origin."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from doorstep import db
from doorstep.tokens import service as tokens
from doorstep.tokens import snippets
from doorstep.valuepage import service
from tests.browser import chromium, free_port, live_server  # noqa: F401  (fixtures)
from tests.valuation_data import load, market

pytestmark = pytest.mark.browser


class AgencySite:
    """A web agency's site on another origin: pages set per test, served as given."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.pages.get(self.path)
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((body or "not here").encode())

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> AgencySite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[AgencySite]:
    with AgencySite() as s:
        yield s


@pytest.fixture
def sales(engine, tmp_path):
    return load(tmp_path, market(datetime.now(UTC).date()))


def set_up_page(owner, origins: list[str]) -> str:
    with db.transaction() as s:
        new = tokens.create_token(s, owner.account_id, "Website", publishable=True, origins=origins)
        service.save_settings(
            s,
            owner.account_id,
            slug="demo-brand",
            brand_name="Demo Brand Estates",
            brand_colour="#0a7d38",
            privacy_url="https://www.agency.co.uk/privacy",
            token_id=new.token.id,
            enabled=True,
        )
        return new.secret


def context_for(chromium, width: int, base_url: str | None = None):  # noqa: F811
    context = chromium.new_context(
        base_url=base_url, viewport={"width": width, "height": 900}, locale="en-GB"
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page


def fill_valuation(scope, *, postcode="ng1 5fs", address="12 Example Street, Nottingham"):
    """The visitor's part, by the labels a screen reader announces."""
    scope.get_by_label("Postcode").fill(postcode)
    scope.get_by_role("button", name="Find address").click()
    choice = scope.get_by_label("Choose your address")
    choice.wait_for()
    if address:
        choice.select_option(label=address)
    else:
        choice.select_option("manual")
        scope.get_by_label("Your address (house number or name, and street)").fill("1 Nowhere Lane")
    scope.get_by_role("button", name="Continue").click()
    # The address chose the property type (12 Example Street sold as a terraced house).
    if address:
        assert scope.get_by_label("Terraced").is_checked()
    else:
        scope.get_by_label("Detached", exact=True).check()
    scope.get_by_label("Bedrooms").select_option("3")
    scope.locator("[data-step=property]").get_by_role("button", name="Continue").click()
    scope.get_by_label("First name").fill("Marla")
    scope.get_by_label("Last name").fill("Singer")
    scope.get_by_label("Email").fill("marla@example.com")
    scope.get_by_label("Phone").fill("07986 000000")
    scope.get_by_label("Demo Brand Estates may contact me").check()
    scope.get_by_role("button", name="Get my estimate").click()
    scope.get_by_role("heading", name="Thank you, Marla").wait_for()


def contrast(a: str, b: str) -> float:
    def luminance(rgb: str) -> float:
        r, g, b = (int(x) / 255 for x in re.findall(r"\d+", rgb)[:3])
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def unlabelled(page) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
          .filter(el => el.offsetParent !== null)
          .filter(el => !(el.labels && el.labels.length))
          .map(el => el.id || el.name)"""
    )


@pytest.mark.parametrize("width", [390, 1280])
def test_a_visitor_values_their_home_on_the_hosted_page(
    chromium,  # noqa: F811
    live_server,  # noqa: F811
    client,
    owner,
    sales,
    width,
):
    set_up_page(owner, ["https://www.agency.co.uk"])
    # A demo server that has served before (its first request also opens its database pool
    # and compiles the templates): what a visitor of a running site meets.
    for path in ("/value/demo-brand", "/static/value/value.css", "/static/value/value.js"):
        httpx.get(live_server.url + path)
    context, page = context_for(chromium, width, live_server.url)
    outside: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith(live_server.url) else outside.append(r.url),
    )
    try:
        page.goto("/value/demo-brand")
        paint = page.evaluate(
            """() => new Promise(done => {
                const find = () => performance.getEntriesByName('first-contentful-paint')[0];
                if (find()) return done(find().startTime);
                new PerformanceObserver(() => find() && done(find().startTime))
                  .observe({type: 'paint', buffered: true});
            })"""
        )
        first_byte = page.evaluate("performance.getEntriesByType('navigation')[0].responseStart")
        weight = page.evaluate(
            """() => [performance.getEntriesByType('navigation')[0],
                      ...performance.getEntriesByType('resource')]
                .reduce((sum, e) => sum + (e.encodedBodySize || e.transferSize || 0), 0)"""
        )
        print(
            f"\nvaluation page at {width}px: first paint {paint:.0f} ms "
            f"(first byte {first_byte:.0f} ms), {weight:,} bytes"
        )
        assert paint < 1000
        assert weight < 150 * 1024
        assert unlabelled(page) == []
        button = page.get_by_role("button", name="Find address")
        fg, bg = button.evaluate(
            "b => [getComputedStyle(b).color, getComputedStyle(b).backgroundColor]"
        )
        assert contrast(fg, bg) >= 4.5, (fg, bg)  # the admin's green, white on it
        # The keyboard: Enter in the postcode finds the addresses; focus moves to the list.
        page.get_by_label("Postcode").fill("nowhere")
        page.keyboard.press("Enter")
        page.get_by_text("That is not a full UK postcode").wait_for()
        assert page.get_by_label("Postcode").get_attribute("aria-invalid") == "true"

        fill_valuation(page)
        result = page.locator("[data-step=result]")
        assert page.evaluate("document.activeElement.id") == "ds-h-result"
        estimate = result.locator("[data-slot=estimate]").inner_text()
        assert estimate.startswith("£")
        assert "Likely between £" in result.inner_text()
        assert "8 in 10 homes like yours" in result.inner_text()
        items = result.locator("[data-slot=comparables] li")
        assert items.count() >= 3
        assert items.first.inner_text().startswith("Your home")  # the earlier sale of no. 12
        assert result.locator("svg circle").count() >= items.count()
        assert "Our Nottingham office will call you" in result.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert outside == []  # no third-party requests: no tiles, fonts or trackers

        lead = client.get(
            "/api/v103/person/leads", params={"email": "marla@example.com"}, headers=owner.headers
        ).json()[0]
        assert (lead["type"], lead["source"], lead["gdpr_checkbox"]) == ("vendor", "ivt", True)
        assert lead["address"] == "12 Example Street, Nottingham"
        assert lead["property_bedrooms"] == 3 and lead["meta"] == {"Form": "Instant valuation page"}
        assert lead["comparable_props"][0]["same_property"] is True
    finally:
        context.close()


def test_an_estimate_that_cannot_be_made_says_so_and_still_thanks(
    chromium,  # noqa: F811
    live_server,  # noqa: F811
    client,
    owner,
    sales,
):
    set_up_page(owner, ["https://www.agency.co.uk"])
    context, page = context_for(chromium, 390, live_server.url)
    try:
        page.goto(f"/value/demo-brand/{owner.offices['Derby']}")
        fill_valuation(page, postcode="ZZ99 9ZZ", address=None)
        result = page.locator("[data-step=result]")
        text = result.inner_text()
        assert "could not value ZZ99 9ZZ automatically" in text
        assert "A valuer will work it out for you instead" in text
        assert not result.locator("[data-slot=estimate-block]").is_visible()
        assert "Our Derby office will call you" in text  # the office of this page
    finally:
        context.close()


def test_the_page_embeds_in_another_origins_site_in_a_frame_and_inline(
    chromium,  # noqa: F811
    live_server,  # noqa: F811
    client,
    owner,
    sales,
    site,
):
    key = set_up_page(owner, [site.url])
    embed = snippets.embed(live_server.url, key, "demo-brand").code
    site.pages["/frame"] = f"<!doctype html><title>Sell with us</title><h1>Sell</h1>{embed}"
    site.pages["/inline"] = (
        "<!doctype html><title>Sell with us</title><h1>Sell</h1>"
        + embed.replace("<script ", '<script data-mode="inline" ')
    )
    context, page = context_for(chromium, 390)
    try:
        page.goto(f"{site.url}/frame")
        frame = page.frame_locator("iframe[title='Instant valuation']")
        frame.get_by_role("heading", name="What is your home worth?").wait_for()
        fill_valuation(frame)
        assert frame.locator("[data-slot=estimate]").inner_text().startswith("£")
        # The frame grew to its content: no scrolling inside it.
        page.wait_for_function(
            "document.querySelector('iframe').getBoundingClientRect().height > 900"
        )

        page.goto(f"{site.url}/inline")
        page.get_by_role("heading", name="What is your home worth?").wait_for()
        assert page.locator(".doorstep-valuation iframe").count() == 0
        fill_valuation(page)  # the API answers this origin's CORS requests
        assert page.locator("[data-slot=estimate]").inner_text().startswith("£")
        found = client.get(
            "/api/v103/person/leads", params={"email": "marla@example.com"}, headers=owner.headers
        ).json()
        # The page a lead came from: in a frame the browser tells only the site's origin.
        assert {lead["host"] for lead in found} == {f"{site.url}/", f"{site.url}/inline"}
    finally:
        context.close()


def test_an_origin_that_is_not_listed_can_neither_frame_the_page_nor_post(
    chromium,  # noqa: F811
    live_server,  # noqa: F811
    client,
    owner,
    site,
):
    key = set_up_page(owner, ["https://www.agency.co.uk"])
    page_top = "<!doctype html><title>Another agency</title><h1>Value your home</h1>"
    site.pages["/frame"] = page_top + snippets.embed(live_server.url, key, None).code
    site.pages["/form"] = page_top + snippets.html_form(live_server.url, key).code
    context, page = context_for(chromium, 1280)
    try:
        page.goto(f"{site.url}/frame")
        page.wait_for_selector("iframe")
        page.wait_for_timeout(500)
        framed = page.frames[1]
        assert framed.query_selector(".ds-value") is None  # frame-ancestors refused it
        page.goto(f"{site.url}/form")
        page.get_by_label("First name").fill("Tyler")
        page.get_by_label("Last name").fill("Durden")
        page.get_by_label("Email").fill("tyler@example.com")
        page.get_by_label("Phone").fill("07986 000001")
        page.get_by_label("Postcode").fill("NG1 5FS")
        page.get_by_label("You may contact me").check()
        page.get_by_role("button", name="Send").click()
        page.get_by_text("Please try again.").wait_for()  # no CORS grant for this origin
        found = client.get(
            "/api/v103/person/leads", params={"email": "tyler@example.com"}, headers=owner.headers
        ).json()
        assert found == []
    finally:
        context.close()


def test_the_plain_html_form_snippet_posts_from_the_agencys_site(
    chromium,  # noqa: F811
    live_server,  # noqa: F811
    client,
    owner,
    site,
):
    key = set_up_page(owner, [site.url])
    site.pages["/contact"] = (
        "<!doctype html><title>Contact</title>" + snippets.html_form(live_server.url, key).code
    )
    context, page = context_for(chromium, 390)
    try:
        page.goto(f"{site.url}/contact")
        page.get_by_label("First name").fill("Tyler")
        page.get_by_label("Last name").fill("Durden")
        page.get_by_label("Email").fill("tyler@example.com")
        page.get_by_label("Phone").fill("07986 000001")
        page.get_by_label("Postcode").fill("de1 1jx")
        page.get_by_label("Message").fill("Please call after 5")
        page.get_by_label("You may contact me").check()
        page.get_by_role("button", name="Send").click()
        page.get_by_text("Thank you: we will be in touch shortly.").wait_for()
        lead = client.get(
            "/api/v103/person/leads", params={"email": "tyler@example.com"}, headers=owner.headers
        ).json()[0]
        assert (lead["type"], lead["postcode"], lead["office_name"]) == (
            "vendor",
            "DE1 1JX",
            "Derby",
        )
        assert lead["gdpr_checkbox"] is True and lead["meta"] == {"Page": "Contact us"}
    finally:
        context.close()
