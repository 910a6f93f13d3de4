"""Webhooks in a real browser: an admin adds an endpoint by keyboard, copies its secret, sees
the delivery its receiver verified, sends it again, rotates the secret and deletes it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from standardwebhooks import Webhook

from doorstep.config import get_settings
from doorstep.jobs import queue
from doorstep.jobs.worker import Worker
from doorstep.webhooks import net
from tests.browser import chromium, live_server  # noqa: F401  (fixtures)
from tests.conftest import create_lead_api
from tests.factories import make_user
from tests.test_browser import new_page, sign_in
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.browser


def _run_due(engine) -> None:
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
            _run_due(engine)
            (req,) = rx.wait_for(1)
            assert Webhook(secret).verify(req.body, req.headers)["data"]["id"] == lead["id"]

            row.get_by_role("link", name=f"Manage {rx.url}").click()
            page.wait_for_url("**/developer/webhooks/*")
            delivery = page.locator("tr[data-delivery-id]").first
            assert "Delivered" in delivery.inner_text() and "200" in delivery.inner_text()
            delivery.get_by_role("button", name="Redeliver").focus()
            page.keyboard.press("Enter")
            page.get_by_text("will be sent again now").wait_for()
            _run_due(engine)
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
