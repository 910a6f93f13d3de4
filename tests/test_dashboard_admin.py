"""Offices, statuses, the Developer tab and reports, as an admin uses them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from doorstep import db
from doorstep.models import Lead
from tests.conftest import create_lead_api
from tests.factories import make_user, post_form, sign_in


def admin(client, agency):
    sign_in(client, make_user(agency.account_id))


# Offices


def test_offices_page_lists_offices_with_coverage(client, owner, other):
    admin(client, owner)
    html = client.get("/offices").text
    assert "Nottingham" in html and "<code>NG2 4</code>" in html and "<code>DE</code>" in html
    assert "Oxford" not in html  # another account's office
    assert '<label for="route-postcode">Postcode</label>' in html


def test_it_creates_an_office_with_coverage(client, owner):
    admin(client, owner)
    r = post_form(
        client,
        "/offices",
        {"name": "Leicester", "postcode": "le1 6zg", "coverage": "LE1, le2 3, LE"},
        "/offices",
    )
    assert r.status_code == 303
    html = client.get("/offices").text
    assert "Office “Leicester” created." in html
    assert "LE1 6ZG" in html and "<code>LE2 3</code>" in html
    # And routing uses it at once.
    lead = create_lead_api(client, owner, advert_postcode="LE1 6ZG")
    assert lead["office_name"] == "Leicester"


def test_it_refuses_bad_coverage_naming_each_bad_entry(client, owner):
    admin(client, owner)
    r = post_form(
        client,
        "/offices",
        {"name": "Bad", "postcode": "nowhere", "coverage": "NG1, 12345, N@"},
        "/offices",
    )
    assert r.status_code == 422
    assert "&#39;12345&#39; is not a postcode area" in r.text
    assert "&#39;N@&#39; is not a postcode area" in r.text
    assert "must be a full UK postcode" in r.text
    assert 'value="Bad"' in r.text  # what was typed is kept
    assert "Bad</strong>" not in client.get("/offices").text


def test_coverage_must_name_real_places_and_overlaps_are_pointed_out(client, owner):
    """XX, ZZ9 and an office at QQ1 1QQ were accepted: leads could never be routed there."""
    admin(client, owner)
    form = {"name": "Nowhere", "postcode": "QQ1 1QQ", "coverage": "XX, ZZ9, SW1, NG7 2"}
    r = post_form(client, "/offices", form, "/offices")
    assert r.status_code == 422
    for said in (
        "&#39;XX&#39; is not a UK postcode area.",
        "&#39;ZZ9&#39; is not a UK postcode district.",
        "Its districts are SW1A, SW1E",
        "QQ1 1QQ is in no UK postcode district.",
    ):
        assert said in r.text, said
    # A real office over another's ground is saved, with a word about the overlap.
    form = {"name": "West Bridgford", "postcode": "NG2 5FD", "coverage": "NG2 4, NG2 5"}
    r = post_form(client, "/offices", form, "/offices")
    assert r.status_code == 303
    html = client.get("/offices").text
    assert "Also covered by another office: NG2 4 (Nottingham)." in html


def test_coverage_is_listed_in_postcode_order_and_the_route_check_is_canonical(client, owner):
    admin(client, owner)
    form = {"name": "Tyneside", "postcode": "NE1 1EE", "coverage": "NE12, NE2, NE1, NE15 6"}
    assert post_form(client, "/offices", form, "/offices").status_code == 303
    html = client.get("/offices").text
    codes = re.findall(r"<code>(NE[^<]*)</code>", html)
    assert codes == ["NE1", "NE2", "NE12", "NE15 6"]
    assert "NE8 1AA" in client.get("/offices/route?postcode=ne8+1aa").text


def test_it_edits_an_office(client, owner):
    admin(client, owner)
    oid = owner.offices["Derby"]
    html = client.get(f"/offices/{oid}").text
    assert 'value="Derby"' in html and "DE" in html
    r = post_form(
        client,
        f"/offices/{oid}",
        {"name": "Derby Central", "postcode": "DE1 1JX", "coverage": "DE1, DE2", "is_default": "1"},
        f"/offices/{oid}",
    )
    assert r.status_code == 303
    html = client.get("/offices").text
    assert "Derby Central" in html and "<code>DE2</code>" in html
    row = html[html.index("<strong>Derby Central</strong>") :][:120]
    assert "Default" in row
    assert client.get("/offices/999999").status_code == 404
    assert client.get("/offices/abc").status_code == 404


def test_another_accounts_office_cannot_be_edited(client, owner, other):
    admin(client, owner)
    oid = other.offices["Oxford"]
    assert client.get(f"/offices/{oid}").status_code == 404
    r = post_form(client, f"/offices/{oid}", {"name": "Mine now", "postcode": ""}, "/offices")
    assert r.status_code == 404


def test_the_routing_box_explains_its_decision(client, owner):
    admin(client, owner)
    hx = {"HX-Request": "true"}
    exact = client.get("/offices/route?postcode=ng2 4aa", headers=hx).text
    assert "<strong>Nottingham</strong>" in exact and "Covered by the entry NG2 4." in exact
    assert "<html" not in exact
    near = client.get("/offices/route?postcode=LE1 6ZG", headers=hx).text
    assert "No office covers it; the nearest coverage is" in near and " m away." in near
    bad = client.get("/offices/route?postcode=hello", headers=hx).text
    assert "default office" in bad and "is not a UK postcode" in bad
    full = client.get("/offices/route?postcode=DE1 1JX")
    assert "<html" in full.text and "<strong>Derby</strong>" in full.text


# Statuses


def test_statuses_page_and_adding_a_status(client, owner, other):
    admin(client, owner)
    html = client.get("/statuses").text
    for name in ["New", "Contacted", "Appointment booked", "Instructed", "Not interested"]:
        assert f"<strong>{name}</strong>" in html
    r = post_form(client, "/statuses", {"name": "Viewing booked", "stage": "100"}, "/statuses")
    assert r.status_code == 303
    html = client.get("/statuses").text
    assert "Status “Viewing booked” added under In progress." in html
    section = html[html.index('id="stage-100"') : html.index('id="stage-150"')]
    assert "<strong>Viewing booked</strong>" in section
    statuses = client.get("/api/v103/statuses", headers=owner.headers).json()
    assert {"name": "Viewing booked", "stageId": 100, "isPredefined": False}.items() <= next(
        s for s in statuses if s["name"] == "Viewing booked"
    ).items()
    # Another account does not get it.
    theirs = client.get("/api/v103/statuses", headers=other.headers).json()
    assert "Viewing booked" not in {s["name"] for s in theirs}


def test_a_status_form_with_mistakes_says_what_is_wrong(client, owner):
    admin(client, owner)
    r = post_form(client, "/statuses", {"name": "contacted", "stage": "75"}, "/statuses")
    assert r.status_code == 422
    assert "already exists" in r.text and "The stage must be one of" in r.text


def test_a_status_in_use_cannot_be_deleted(client, owner):
    admin(client, owner)
    post_form(client, "/statuses", {"name": "Valued", "stage": "100"}, "/statuses")
    post_form(client, "/statuses", {"name": "Unused one", "stage": "150"}, "/statuses")
    ids = {
        s["name"]: s["id"] for s in client.get("/api/v103/statuses", headers=owner.headers).json()
    }
    lead = create_lead_api(client, owner)
    client.patch(f"/api/v103/leads/{lead['id']}", json={"status": "Valued"}, headers=owner.headers)
    html = client.get("/statuses").text
    row = re.search(rf'data-status-id="{ids["Valued"]}">(.*?)</tr>', html, re.S)
    assert row and "In use: cannot be deleted" in row.group(1)
    r = post_form(client, f"/statuses/{ids['Valued']}/delete", {}, "/statuses")
    assert r.status_code == 303
    assert "is used by 1 lead(s) and cannot be deleted" in client.get("/statuses").text
    r = post_form(client, f"/statuses/{ids['Unused one']}/delete", {}, "/statuses")
    assert "Status deleted." in client.get("/statuses").text
    names = {s["name"] for s in client.get("/api/v103/statuses", headers=owner.headers).json()}
    assert "Unused one" not in names and "Valued" in names
    # Predefined ones cannot be deleted at all.
    assert post_form(client, "/statuses/1/delete", {}, "/statuses").status_code == 404


# Developer


def test_a_new_token_is_shown_once_and_works(client, owner):
    admin(client, owner)
    r = post_form(client, "/developer/tokens", {"name": "Portal feed"}, "/developer")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    m = re.search(r'id="new-token-value" type="text" readonly value="(ds_[^"]+)"', r.text)
    assert m, "the token is shown"
    secret = m.group(1)
    assert 'data-copy-target="new-token-value"' in r.text
    again = client.get("/developer").text
    assert secret not in again and "Portal feed" in again
    ok = client.get("/api/v103/offices", headers={"X-API-KEY": secret})
    assert ok.status_code == 200


def test_token_name_is_required(client, owner):
    admin(client, owner)
    r = post_form(client, "/developer/tokens", {"name": "  "}, "/developer")
    assert r.status_code == 422 and "must be 1 to 100 characters" in r.text
    r = post_form(client, "/developer/tokens", {"name": "x", "rate_limit": "-3"}, "/developer")
    assert r.status_code == 422 and "whole number" in r.text


def test_revoking_a_token_stops_it_at_once(client, owner):
    admin(client, owner)
    assert client.get("/api/v103/offices", headers=owner.headers).status_code == 200
    r = post_form(client, f"/developer/tokens/{owner.token_id}/revoke", {}, "/developer")
    assert r.status_code == 303
    assert "revoked: it no longer works" in client.get("/developer").text
    assert client.get("/api/v103/offices", headers=owner.headers).status_code == 401


def test_another_accounts_token_cannot_be_revoked(client, owner, other):
    admin(client, owner)
    r = post_form(client, f"/developer/tokens/{other.token_id}/revoke", {}, "/developer")
    assert r.status_code == 404
    assert client.get("/api/v103/offices", headers=other.headers).status_code == 200


def _row(html: str, token_id: int) -> str:
    m = re.search(rf'data-token-id="{token_id}">(.*?)</tr>', html, re.S)
    assert m
    return m.group(1)


def test_token_usage_and_the_request_log(client, owner, other):
    good = create_lead_api(client, owner)
    client.post("/api/v103/leads", json={"type": "sale"}, headers=owner.headers)  # 422
    client.get("/api/v103/offices", headers=owner.headers)
    client.get("/api/v103/offices", headers=other.headers)  # another account's request
    admin(client, owner)
    html = client.get("/developer").text
    cells = re.findall(r'<td class="num(?: hide-sm)?">(\d+)</td>', _row(html, owner.token_id))
    assert cells == ["3", "2", "1"]  # requests, successes, failures
    assert "Never" not in _row(html, owner.token_id)
    log = html[html.index('id="request-log"') :]
    assert log.count("data-request-id=") == 3
    assert f'href="/leads/{good["id"]}"' in log

    def ids(query: str) -> int:
        return client.get("/developer" + query).text.count("data-request-id=")

    assert ids(f"?token={owner.token_id}") == 3
    assert ids("?status=422") == 1
    assert ids("?status=4xx") == 1
    assert ids("?status=failed") == 1
    assert ids("?status=ok") == 2
    assert ids("?path=offices") == 1
    future = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    assert ids(f"?since={future}") == 0
    assert ids(f"?until={future}") == 3
    assert "is not a status filter" in client.get("/developer?status=abc").text
    assert "Entries are kept for 90 days, then deleted" in html


def test_a_log_entry_opens_to_body_status_error_and_lead(client, owner):
    create_lead_api(client, owner, first_name="Bodyshow")
    client.post("/api/v103/leads", json={"type": "sale"}, headers=owner.headers)
    admin(client, owner)
    html = client.get("/developer").text
    entry_ids = [int(x) for x in re.findall(r'data-request-id="(\d+)"', html)]
    failed, created = entry_ids[0], entry_ids[1]
    detail = client.get(f"/developer/requests/{failed}", headers={"HX-Request": "true"}).text
    assert "<html" not in detail and 'id="entry-' in detail
    assert "422" in detail and "The given data was invalid" in detail
    assert "&#34;type&#34;: &#34;sale&#34;" in detail or '"type": "sale"' in detail
    full = client.get(f"/developer/requests/{created}").text
    assert "Bodyshow" in full and "Open lead #" in full


def test_a_logged_body_of_any_shape_opens_in_the_request_log(client, owner):
    """The entry's page read the body back with json.loads and printed it indented: 1,000
    levels (Python's recursion limit), a 5,000-digit number or an escaped lone surrogate in a
    logged body made the page a 500."""
    bodies = [
        b"[" * 1000 + b"]" * 1000,
        b'{"a": ' * 400 + b"1" + b"}" * 400,
        b'{"n": ' + b"9" * 5000 + b"}",
        b'{"first_name": "\\ud800"}',
        b'{"meta": {"a": "b"}, "type": "sale"}',
    ]
    for body in bodies:
        r = client.post(
            "/api/v103/leads",
            content=body,
            headers={**owner.headers, "Content-Type": "application/json"},
        )
        assert 400 <= r.status_code < 500, r.text
    admin(client, owner)
    entry_ids = re.findall(r'data-request-id="(\d+)"', client.get("/developer").text)
    assert len(entry_ids) == len(bodies)
    for entry_id, body in zip(reversed(entry_ids), bodies, strict=True):
        for headers in ({}, {"HX-Request": "true"}):
            r = client.get(f"/developer/requests/{entry_id}", headers=headers)
            assert r.status_code == 200, (body[:20], r.text[:200])
            assert "Request body as received" in r.text
    last = client.get(f"/developer/requests/{entry_ids[0]}").text
    assert "{\n  &#34;meta&#34;: {\n    &#34;a&#34;: &#34;b&#34;" in last  # still indented


def test_another_accounts_log_entries_are_not_found(client, owner, other):
    client.get("/api/v103/offices", headers=other.headers)
    admin(client, owner)
    from sqlalchemy import select

    from doorstep.models import RequestLog

    with db.transaction() as s:
        entry_id = s.scalar(select(RequestLog.id).where(RequestLog.account_id == other.account_id))
    assert entry_id is not None
    assert client.get(f"/developer/requests/{entry_id}").status_code == 404
    assert "data-request-id" not in client.get("/developer").text


# Reports


def test_reports_count_leads_per_day_by_source_and_type(client, owner, other):
    a = create_lead_api(client, owner, email="a@example.com", source="rightmove")
    b = create_lead_api(client, owner, email="b@example.com", source="rightmove", type="let")
    c = create_lead_api(client, owner, email="c@example.com", source="zoopla")
    create_lead_api(client, other, email="o@example.com", advert_postcode="OX3 9NX")
    with db.transaction() as s:
        day1 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
        s.execute(update(Lead).where(Lead.id.in_([a["id"], b["id"]])).values(created_at=day1))
        s.execute(
            update(Lead)
            .where(Lead.id == c["id"])
            .values(created_at=day1 + timedelta(days=1, hours=2))
        )
    admin(client, owner)
    html = client.get("/reports?start=2026-03-01&end=2026-03-05").text
    assert "Leads received from 1 Mar 2026 to 5 Mar 2026" in html
    assert "<title>2 Mar: Rightmove 2</title>" in html
    assert "<title>3 Mar: Zoopla 1</title>" in html
    assert "<title>2 Mar: Sale 1</title>" in html and "<title>2 Mar: Let 1</title>" in html
    assert "3 leads" in html  # the other account's lead is not counted
    empty = client.get("/reports?start=2020-01-01&end=2020-01-31").text
    assert "No leads in this period." in empty


def test_reports_time_to_first_status_change_per_office(client, owner):
    ids = [create_lead_api(client, owner, email=f"r{i}@example.com")["id"] for i in range(3)]
    derby = create_lead_api(client, owner, email="d@example.com", advert_postcode="DE1 1JX")
    base = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with db.transaction() as s:
        for lid, minutes in zip(ids, (30, 90), strict=False):
            s.execute(
                update(Lead)
                .where(Lead.id == lid)
                .values(created_at=base, first_status_change_at=base + timedelta(minutes=minutes))
            )
        s.execute(update(Lead).where(Lead.id.in_([ids[2], derby["id"]])).values(created_at=base))
    admin(client, owner)
    html = client.get("/reports?start=2026-03-01&end=2026-03-03").text
    table = html[html.index("Time from creation to first status change") :]
    notts = re.search(r"<td>Nottingham</td>(.*?)</tr>", table, re.S)
    assert notts
    cells = re.findall(r'<td class="num">([^<]*)</td>', notts.group(1))
    assert cells == ["3", "2", "1", "1 h", "1 h", "1 h 30 min"]
    derby_row = re.search(r"<td>Derby</td>(.*?)</tr>", table, re.S)
    assert derby_row
    assert re.findall(r'<td class="num">([^<]*)</td>', derby_row.group(1))[:3] == ["1", "0", "1"]


def test_reports_fix_an_impossible_period(client, owner):
    admin(client, owner)
    html = client.get("/reports?start=2026-03-10&end=2026-03-01").text
    assert "swapped" in html and "1 Mar 2026 to 10 Mar 2026" in html
    html = client.get("/reports?start=2020-01-01&end=2026-03-01").text
    assert "at most 366 days" in html
