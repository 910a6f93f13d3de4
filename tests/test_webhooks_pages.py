"""The Developer tab's webhooks: admins add endpoints (secret shown once), edit, switch off,
rotate and delete them, and see deliveries with every attempt and a Redeliver button;
another account's endpoints and deliveries do not exist for them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from doorstep import db
from doorstep.config import get_settings
from doorstep.jobs import queue
from doorstep.jobs.worker import Worker
from doorstep.models import Job, WebhookDelivery, WebhookEndpoint
from doorstep.webhooks import net, service
from tests.conftest import create_lead_api
from tests.factories import make_user, post_form, sign_in
from tests.webhook_receiver import Receiver

BASE = "/developer/webhooks"
SECRET = re.compile(r'id="new-secret-value" type="text" readonly value="(whsec_[^"]+)"')


@pytest.fixture
def allow_private(monkeypatch):
    monkeypatch.setenv("DOORSTEP_WEBHOOKS_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    net.reset_client()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    net.reset_client()


def admin(client, agency):
    sign_in(client, make_user(agency.account_id))


def _run_due(engine) -> None:
    w = Worker(engine, 1, name="w")
    while jobs := queue.claim(engine, "w", 10, timedelta(seconds=30)):
        for j in jobs:
            w.run_one(j)


def _endpoints() -> list[WebhookEndpoint]:
    with db.transaction() as s:
        return list(s.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(client, owner):
    admin(client, owner)
    page = client.get(BASE)
    assert page.status_code == 200 and "No endpoints yet" in page.text
    assert 'aria-current="page">Webhooks</a>' in page.text
    r = post_form(
        client,
        BASE,
        {
            "url": "https://crm.agency.co.uk/hooks",
            "description": "Our CRM",
            "events": ["lead.created", "lead.status_changed"],
        },
        BASE,
    )
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    m = SECRET.search(r.text)
    assert m, "the secret is shown"
    (e,) = _endpoints()
    assert m.group(1) == e.secret
    assert (e.url, e.description, e.events, e.enabled) == (
        "https://crm.agency.co.uk/hooks",
        "Our CRM",
        ["lead.created", "lead.status_changed"],
        True,
    )
    again = client.get(BASE).text
    assert e.secret not in again and "https://crm.agency.co.uk/hooks" in again
    assert e.secret not in client.get(f"{BASE}/{e.id}").text
    # The tokens page links here too.
    assert f'href="{BASE}"' in client.get("/developer").text


def test_mistakes_are_shown_beside_their_fields(client, owner):
    admin(client, owner)
    r = post_form(client, BASE, {"url": "http://10.0.0.8/hooks", "description": "x"}, BASE)
    assert r.status_code == 422
    assert "10.0.0.8 is a private address" in r.text
    assert "Choose at least one event" in r.text
    assert 'value="http://10.0.0.8/hooks"' in r.text  # what was typed is kept
    assert _endpoints() == []


def test_an_admin_edits_switches_off_rotates_and_deletes_an_endpoint(client, owner):
    admin(client, owner)
    with db.transaction() as s:
        new = service.create_endpoint(
            s, owner.account_id, "https://a.example.com/h", "lead.created"
        )
    eid = new.endpoint.id
    r = post_form(
        client,
        f"{BASE}/{eid}",
        {"url": "https://b.example.com/h", "events": ["lead.updated"], "enabled": "on"},
        f"{BASE}/{eid}",
    )
    assert r.status_code == 303
    (e,) = _endpoints()
    assert (e.url, e.events, e.enabled) == ("https://b.example.com/h", ["lead.updated"], True)
    assert "Webhook endpoint saved." in client.get(f"{BASE}/{eid}").text

    r = post_form(client, f"{BASE}/{eid}/enabled", {"enabled": "off"}, BASE)
    assert r.status_code == 303 and _endpoints()[0].enabled is False
    assert "nothing more is sent" in client.get(BASE).text
    post_form(client, f"{BASE}/{eid}/enabled", {"enabled": "on"}, BASE)
    assert _endpoints()[0].enabled is True

    r = post_form(client, f"{BASE}/{eid}/rotate", {}, f"{BASE}/{eid}")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    rotated = SECRET.search(r.text)
    assert rotated and rotated.group(1) != new.secret
    (e,) = _endpoints()
    assert (e.secret, e.previous_secret) == (rotated.group(1), new.secret)
    assert "deliveries are signed with the old secret too" in r.text
    assert "The previous signing secret also signs until" in client.get(f"{BASE}/{eid}").text

    r = post_form(client, f"{BASE}/{eid}/delete", {}, f"{BASE}/{eid}")
    assert r.status_code == 303 and _endpoints() == []


def test_deliveries_show_their_attempts_and_are_sent_again_by_hand(
    engine, client, owner, allow_private
):
    admin(client, owner)
    with Receiver() as rx:
        rx.answer(500, 200)
        with db.transaction() as s:
            new = service.create_endpoint(s, owner.account_id, rx.url, "lead.created")
        lead = create_lead_api(client, owner)
        _run_due(engine)
        with db.transaction() as s:
            (d,) = s.scalars(select(WebhookDelivery)).all()
        listing = client.get(BASE).text
        assert d.msg_id in listing and "Pending" in listing and "next attempt" in listing
        page = client.get(f"{BASE}/{new.endpoint.id}").text
        assert d.msg_id in page and "status-bad" in page and ">500<" in page

        detail = client.get(f"{BASE}/deliveries/{d.id}")
        assert detail.status_code == 200
        assert 'data-attempt="1"' in detail.text and "told to fail" in detail.text
        assert "&#34;type&#34;: &#34;lead.created&#34;" in detail.text  # the body, pretty

        r = post_form(
            client,
            f"{BASE}/deliveries/{d.id}/redeliver",
            {"back": f"{BASE}/{new.endpoint.id}"},
            f"{BASE}/{new.endpoint.id}",
        )
        assert r.status_code == 303 and r.headers["location"] == f"{BASE}/{new.endpoint.id}"
        assert "will be sent again now" in client.get(r.headers["location"]).text
        _run_due(engine)
        first, again = rx.wait_for(2)
        assert first.headers["webhook-id"] == again.headers["webhook-id"] == d.msg_id
        Webhook(new.secret).verify(again.body, again.headers)
        detail = client.get(f"{BASE}/deliveries/{d.id}").text
        assert 'data-attempt="2"' in detail and "Delivered" in detail

        # The lead's activity: one entry for the delivery's outcome, linking here.
        lead_page = client.get(f"/leads/{lead['id']}").text
        assert "Webhook lead.created delivered" in lead_page
        assert f'href="{BASE}/deliveries/{d.id}"' in lead_page


def test_a_redirect_back_goes_only_to_a_webhooks_page(engine, client, owner, allow_private):
    admin(client, owner)
    with db.transaction() as s:
        service.create_endpoint(s, owner.account_id, "http://127.0.0.1:9/h", "lead.created")
    create_lead_api(client, owner)
    w = Worker(engine, 1, name="w")
    (event,) = queue.claim(engine, "w", 1, timedelta(seconds=30))
    w.run_one(event)
    with db.transaction() as s:
        d = s.scalars(select(WebhookDelivery)).one()
    r = post_form(client, f"{BASE}/deliveries/{d.id}/redeliver", {"back": "https://evil.example"})
    assert r.headers["location"] == f"{BASE}/deliveries/{d.id}"


def test_every_form_needs_the_csrf_token(client, owner):
    admin(client, owner)
    with db.transaction() as s:
        eid = service.create_endpoint(
            s, owner.account_id, "https://a.example.com/h", "lead.created"
        ).endpoint.id
    for path, data in [
        (BASE, {"url": "https://b.example.com/", "events": "lead.created"}),
        (f"{BASE}/{eid}", {"url": "https://b.example.com/", "events": "lead.created"}),
        (f"{BASE}/{eid}/enabled", {"enabled": "off"}),
        (f"{BASE}/{eid}/rotate", {}),
        (f"{BASE}/{eid}/delete", {}),
    ]:
        r = client.post(path, data=data, follow_redirects=False)
        assert r.status_code == 403, path
    (e,) = _endpoints()
    assert (e.url, e.enabled, e.previous_secret) == ("https://a.example.com/h", True, None)


def test_another_accounts_endpoints_and_deliveries_are_not_found(
    engine, client, owner, other, allow_private
):
    with db.transaction() as s:
        theirs = service.create_endpoint(
            s, other.account_id, "http://127.0.0.1:9/h", "lead.created"
        )
    create_lead_api(client, other)
    w = Worker(engine, 1, name="w")
    (event,) = queue.claim(engine, "w", 1, timedelta(seconds=30))
    w.run_one(event)
    with db.transaction() as s:
        d = s.scalars(select(WebhookDelivery)).one()
    admin(client, owner)
    eid = theirs.endpoint.id
    for path in (
        f"{BASE}/{eid}",
        f"{BASE}/deliveries/{d.id}",
        f"{BASE}/abc",
        f"{BASE}/deliveries/0",
    ):
        assert client.get(path).status_code == 404, path
    for path, data in [
        (f"{BASE}/{eid}", {"url": "https://x.example.com/", "events": "lead.created"}),
        (f"{BASE}/{eid}/enabled", {"enabled": "off"}),
        (f"{BASE}/{eid}/rotate", {}),
        (f"{BASE}/{eid}/delete", {}),
        (f"{BASE}/deliveries/{d.id}/redeliver", {}),
    ]:
        assert post_form(client, path, data, BASE).status_code == 404, path
    listing = client.get(BASE).text
    assert "127.0.0.1:9" not in listing and d.msg_id not in listing
    (e,) = _endpoints()
    assert (e.url, e.enabled, e.previous_secret) == ("http://127.0.0.1:9/h", True, None)
    with db.transaction() as s:
        job = s.get(Job, d.job_id)
        assert job is not None and job.state == "pending"


def test_only_admins_manage_webhooks(client, owner):
    sign_in(client, make_user(owner.account_id, role="leader"))
    assert client.get(BASE).status_code == 403
