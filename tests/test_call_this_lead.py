""" "Call this lead": the signed-in negotiator's own phone rings first, then the lead; the same
outcomes and record as the autocaller's. Through Doorstep's HTTP server and the simulator."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from doorstep import db
from doorstep.models import Call, Lead, User
from doorstep.models.status import NEW_STATUS_ID
from tests.browser import chromium  # noqa: F401  (fixture)
from tests.conftest import create_lead_api
from tests.factories import PASSWORD, make_user, post_form, sign_in
from tests.test_autocaller import LEAD_PHONE, OFFICE_NUMBER, _activity, _call_out, phones  # noqa: F401
from tests.twilio_sim import Phone, twilio_sim  # noqa: F401

MY_PHONE = "+447986000009"


def _with_phone(user_id: int, phone: str | None) -> None:
    # The Account page where users set their phone is another piece of work: set it directly.
    with db.transaction() as s:
        s.execute(update(User).where(User.id == user_id).values(phone=phone))


def test_it_rings_my_phone_then_connects_me_to_the_lead(engine, client, owner, phones):  # noqa: F811
    user = make_user(owner.account_id, "agent", [owner.offices["Nottingham"]])
    _with_phone(user.id, MY_PHONE)
    sign_in(client, user)
    lead = create_lead_api(client, owner)
    _call_out(engine, phones, lead["id"])  # the autocaller's own call first
    phones.phones[LEAD_PHONE] = Phone(talk=30)
    r = post_form(client, f"/leads/{lead['id']}/call", {}, f"/leads/{lead['id']}")
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert f"Calling your phone ({MY_PHONE}) now" in page
    out = _call_out(engine, phones, lead["id"], 2)
    assert out[-1]["call"] == "manual" and out[-1]["outcome"] == "connected"
    assert out[-1]["negotiator"] == MY_PHONE and out[-1]["duration"] == 30
    mine = next(c for c in phones.calls.values() if c.to == MY_PHONE)
    assert mine.from_ == OFFICE_NUMBER and mine.child and mine.child.to == LEAD_PHONE
    with db.transaction() as s:
        call = s.scalars(select(Call).where(Call.kind == "manual")).one()
        assert call.user_id == user.id
    page = client.get(f"/leads/{lead['id']}").text
    assert "Call this lead; 30 s on the line" in page and user.email in page


def test_without_my_own_phone_it_says_where_to_set_it(engine, client, owner, phones):  # noqa: F811
    user = make_user(owner.account_id)
    sign_in(client, user)
    lead = create_lead_api(client, owner)
    r = post_form(client, f"/leads/{lead['id']}/call", {}, f"/leads/{lead['id']}")
    page = client.get(r.headers["location"]).text
    assert "Your own phone number is not set" in page and "Account page" in page
    with db.transaction() as s:
        assert s.scalars(select(Call).where(Call.kind == "manual")).all() == []


def test_a_number_that_is_not_callable_cannot_be_called(engine, client, owner, phones):  # noqa: F811
    user = make_user(owner.account_id)
    _with_phone(user.id, MY_PHONE)
    sign_in(client, user)
    lead = create_lead_api(client, owner, phone="+1 202 555 0123")
    html = client.get(f"/leads/{lead['id']}").text
    assert "is not a valid UK number: it cannot be called." in html
    r = post_form(client, f"/leads/{lead['id']}/call", {}, f"/leads/{lead['id']}")
    assert "it is never dialled" in client.get(r.headers["location"]).text


def test_another_accounts_lead_cannot_be_called(engine, client, owner, other, phones):  # noqa: F811
    lead = create_lead_api(client, other)
    user = make_user(owner.account_id)
    _with_phone(user.id, MY_PHONE)
    sign_in(client, user)
    r = post_form(client, f"/leads/{lead['id']}/call", {}, "/leads")
    assert r.status_code == 404


@pytest.mark.browser
def test_a_negotiator_calls_a_lead_from_the_lead_page(
    engine,
    chromium,  # noqa: F811
    client,
    owner,
    phones,  # noqa: F811
):
    user = make_user(owner.account_id)
    _with_phone(user.id, MY_PHONE)
    lead = create_lead_api(client, owner)
    _call_out(engine, phones, lead["id"])
    context = chromium.new_context(base_url=phones.server_url, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto("/login")
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/leads")
        page.goto(f"/leads/{lead['id']}")
        page.get_by_role("button", name="Call this lead").click()
        page.get_by_text(f"Calling your phone ({MY_PHONE}) now").wait_for()
        _call_out(engine, phones, lead["id"], 2)
        page.reload()
        page.get_by_text("Call this lead; 45 s on the line").wait_for()
    finally:
        context.close()
    with db.transaction() as s:
        assert s.get(Lead, lead["id"]).status_id != NEW_STATUS_ID
