"""The inbox and the lead page: scoping by role, filters, counts, actions and the timeline."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from doorstep import db
from doorstep.leads.serialize import LEAD_KEYS
from doorstep.models import Lead, LeadEvent
from tests.conftest import create_lead_api, lead_body
from tests.factories import make_user, post_form, set_lead_values, sign_in

ROW = re.compile(r'data-lead-id="(\d+)"')


def listed(html: str) -> list[int]:
    return [int(x) for x in ROW.findall(html)]


def stage_count(html: str, stage: int) -> int:
    m = re.search(rf'data-stage-count="{stage}">([\d,]+)<', html)
    assert m
    return int(m.group(1).replace(",", ""))


def test_the_inbox_lists_the_accounts_leads_newest_first(client, owner, other):
    a = create_lead_api(client, owner, email="a@example.com")
    b = create_lead_api(client, owner, email="b@example.com")
    create_lead_api(client, other, email="c@example.com", advert_postcode="OX3 9NX")
    sign_in(client, make_user(owner.account_id))
    assert listed(client.get("/leads").text) == [b["id"], a["id"]]


def test_an_agent_sees_only_their_offices_leads(client, owner):
    notts = create_lead_api(client, owner, email="n@example.com", advert_postcode="NG1 5FS")
    derby = create_lead_api(client, owner, email="d@example.com", advert_postcode="DE1 1JX")
    assert notts["office_name"] == "Nottingham" and derby["office_name"] == "Derby"
    sign_in(client, make_user(owner.account_id, "agent", [owner.offices["Nottingham"]]))
    assert listed(client.get("/leads").text) == [notts["id"]]
    # Filtering by another office does not widen the scope.
    r = client.get(f"/leads?office={owner.offices['Derby']}")
    assert listed(r.text) == []


def test_a_leader_sees_every_office(client, owner):
    create_lead_api(client, owner, email="n@example.com", advert_postcode="NG1 5FS")
    create_lead_api(client, owner, email="d@example.com", advert_postcode="DE1 1JX")
    sign_in(client, make_user(owner.account_id, "leader"))
    assert len(listed(client.get("/leads").text)) == 2


def test_an_agent_gets_404_for_another_offices_lead(client, owner, other):
    derby = create_lead_api(client, owner, email="d@example.com", advert_postcode="DE1 1JX")
    foreign = create_lead_api(client, other, email="o@example.com", advert_postcode="OX3 9NX")
    sign_in(client, make_user(owner.account_id, "agent", [owner.offices["Nottingham"]]))
    for lead_id in (derby["id"], foreign["id"]):
        r = client.get(f"/leads/{lead_id}")
        assert r.status_code == 404
        assert "<html" in r.text and "There is no lead" in r.text
    # Actions on it are refused the same way, and change nothing.
    r = post_form(client, f"/leads/{derby['id']}/notes", {"note": "sneaky"})
    assert r.status_code == 404
    assert client.get("/leads/abc").status_code == 404


def test_another_accounts_lead_is_404_for_an_admin_too(client, owner, other):
    foreign = create_lead_api(client, other, advert_postcode="OX3 9NX")
    sign_in(client, make_user(owner.account_id))
    assert client.get(f"/leads/{foreign['id']}").status_code == 404


def test_inbox_filters(client, owner):
    sale = create_lead_api(
        client, owner, email="s@example.com", type="sale", source="rightmove", phone="07986 000000"
    )
    vendor = create_lead_api(
        client,
        owner,
        email="v@example.com",
        type="vendor",
        source="zoopla",
        postcode="DE1 1JX",
        first_name="Tyler",
        last_name="Durden",
        phone="01632 960001",
    )
    sign_in(client, make_user(owner.account_id))
    assert listed(client.get("/leads?type=vendor").text) == [vendor["id"]]
    assert listed(client.get("/leads?source=rightmove").text) == [sale["id"]]
    assert listed(client.get(f"/leads?office={owner.offices['Derby']}").text) == [vendor["id"]]
    assert listed(client.get("/leads?q=durden").text) == [vendor["id"]]
    assert listed(client.get("/leads?q=Tyler Durden").text) == [vendor["id"]]
    assert listed(client.get("/leads?q=S@EXAMPLE").text) == [sale["id"]]
    assert listed(client.get("/leads?q=+447986000000").text) == [sale["id"]]
    assert listed(client.get("/leads?q=07986 000000").text) == [sale["id"]]
    assert listed(client.get("/leads?q=de11jx").text) == [vendor["id"]]
    assert listed(client.get("/leads?q=nobody-at-all").text) == []
    # Percent and underscore are searched for literally, not as wildcards.
    assert listed(client.get("/leads?q=%25").text) == []

    post_form(client, f"/leads/{sale['id']}/status", {"status_id": "2"})
    assert listed(client.get("/leads?stage=100").text) == [sale["id"]]
    assert listed(client.get("/leads?status=1").text) == [vendor["id"]]
    assert listed(client.get("/leads?stage=50&type=sale").text) == []


def test_inbox_date_range_uses_uk_days(client, owner):
    old = create_lead_api(client, owner, email="old@example.com")
    new = create_lead_api(client, owner, email="new@example.com")
    with db.transaction() as s:
        # 23:30 UTC on 30 June is already 1 July in London (BST).
        s.execute(
            update(Lead)
            .where(Lead.id == old["id"])
            .values(created_at=datetime(2026, 6, 30, 23, 30, tzinfo=UTC))
        )
    sign_in(client, make_user(owner.account_id))
    assert listed(client.get("/leads?from=2026-07-01&to=2026-07-01").text) == [old["id"]]
    assert listed(client.get("/leads?to=2026-06-30").text) == []
    today = datetime.now(UTC).date().isoformat()
    assert new["id"] in listed(client.get(f"/leads?from={today}").text)
    r = client.get("/leads?from=2026-07-02&to=2026-07-01")
    assert "after the" in r.text


def test_counts_per_stage_and_unread_leads_stand_out(client, owner):
    ids = [create_lead_api(client, owner, email=f"p{i}@example.com")["id"] for i in range(3)]
    sign_in(client, make_user(owner.account_id))
    post_form(client, f"/leads/{ids[0]}/status", {"status_id": "2"})
    post_form(client, f"/leads/{ids[1]}/status", {"status_id": "5"})
    html = client.get("/leads").text
    assert (stage_count(html, 50), stage_count(html, 100), stage_count(html, 150)) == (1, 1, 1)
    row = re.search(rf'<tr class="([^"]*)" data-lead-id="{ids[2]}"', html)
    assert row and "unread" in row.group(1)
    row = re.search(rf'<tr class="([^"]*)" data-lead-id="{ids[0]}"', html)
    assert row and "unread" not in row.group(1)
    # The counts follow the other filters.
    html = client.get("/leads?type=let").text
    assert stage_count(html, 50) == 0


def test_inbox_pages(client, owner):
    from doorstep.auth.principal import Actor
    from doorstep.leads.schemas import LeadCreate
    from doorstep.leads.service import create_lead

    with db.transaction() as s:
        actor = Actor(account_id=owner.account_id)
        for i in range(55):
            create_lead(s, actor, LeadCreate.model_validate(lead_body(email=f"x{i}@example.com")))
    sign_in(client, make_user(owner.account_id))
    first = client.get("/leads").text
    assert len(listed(first)) == 50 and "Showing 1–50 of 55" in first and 'rel="next"' in first
    second = client.get("/leads?page=2").text
    assert len(listed(second)) == 5 and "Showing 51–55 of 55" in second
    assert not set(listed(first)) & set(listed(second))
    assert len(listed(client.get("/leads?page=99").text)) == 5  # clamped to the last page


def test_filtering_with_htmx_returns_only_the_results(client, owner):
    create_lead_api(client, owner)
    sign_in(client, make_user(owner.account_id))
    r = client.get("/leads?q=marla", headers={"HX-Request": "true", "HX-Target": "inbox-results"})
    assert r.status_code == 200
    assert "<html" not in r.text and "data-lead-id" in r.text


def test_the_lead_page_shows_every_field(client, owner):
    body = lead_body(
        title="Ms",
        message="Please call after six",
        advert_url="https://example.com/ad/1",
        advert_image="https://example.com/ad/1.jpg",
        advert_address="1 High Street",
        address="2 Low Road",
        postcode="NG1 5FS",
        appointment_availability={"monday": ["morning", "evening"]},
        questionnaire=[["Chain free?", "Yes, chain free"]],
        meta={"campaign": "spring-mailer"},
        property_type="terraced",
        property_bedrooms=3,
        property_bathrooms=2,
        property_receptions=1,
        property_reference="REF-778",
        utm_source="newsletter",
        utm_medium="email",
        utm_campaign="spring",
        utm_content="hero",
        utm_term="flats",
        utm_gclid="gclid-xyz",
        host="www.agency.example.com",
        gdpr_checkbox=True,
    )
    r = client.post("/api/v103/leads", json=body, headers=owner.headers)
    assert r.status_code == 200, r.text
    lead = r.json()
    sign_in(client, make_user(owner.account_id))
    html = client.get(f"/leads/{lead['id']}").text
    # Each field on its own, not only inside the raw lead object shown at the end.
    fields = re.sub(r"<details.*?</details>", "", html, flags=re.S)
    for value in [
        "Ms", "Marla", "Singer", "cloud9@cloud.com", "01623000000", "Please call after six",
        "https://example.com/ad/1", "1 High Street", "2 Low Road", "NG1 5FS", "morning, evening",
        "Chain free?", "Yes, chain free", "spring-mailer", "Terraced", "REF-778", "newsletter",
        "hero", "flats", "gclid-xyz", "www.agency.example.com", "Nottingham", "Demo Brand",
    ]:  # fmt: skip
        assert value in fields, value
    # The lead object as the API returns it, every key.
    for key in LEAD_KEYS:
        assert f"&#34;{key}&#34;:" in html or f'"{key}":' in html, key


def test_the_lead_page_shows_a_valuation_with_comparables(client, owner):
    lead = create_lead_api(client, owner, type="vendor", postcode="NG1 5FS")
    set_lead_values(
        lead["id"],
        valuation_status="Success",
        minimum_sale_estimation=240000,
        average_sale_estimation=250000,
        maximum_sale_estimation=262500,
        minimum_rent_estimation=1100,
        average_rent_estimation=1200,
        maximum_rent_estimation=1300,
        comparable_props=[
            {
                "evidence": "sale",
                "address": "14 Castle Road",
                "postcode": "NG1 6AA",
                "price": 245000,
                "date": "2025-03-14",
                "property_type": "terraced",
                "distance": 412.5,
                "price_today": 251000,
                "same_property": True,
            },
            {
                "evidence": "rent",
                "address": "3 Mill Lane",
                "postcode": "NG1 7BB",
                "price": 1150,
                "date": "2025-06-01",
                "property_type": "flat-maisonette",
                "distance": 830,
                "bedrooms": 2,
            },
        ],
    )
    sign_in(client, make_user(owner.account_id))
    html = client.get(f"/leads/{lead['id']}").text
    for value in [
        "£250,000", "£262,500", "£1,200", "14 Castle Road", "£245,000", "£251,000", "412 m",
        "This property", "3 Mill Lane", "£1,150 pcm", "Flat or maisonette, 2 bed", "830 m",
    ]:  # fmt: skip
        assert value in html, value


def test_only_web_addresses_become_links_on_the_lead_page(client, owner):
    lead = create_lead_api(
        client, owner, advert_url="https://example.com/ad/1", advert_image="http://example.com/1"
    )
    old = create_lead_api(client, owner)
    # Stored before the API refused other schemes.
    set_lead_values(
        old["id"], advert_url="javascript:alert(document.cookie)", advert_image="data:,hi"
    )
    sign_in(client, make_user(owner.account_id))
    html = client.get(f"/leads/{lead['id']}").text
    assert '<a href="https://example.com/ad/1" rel="noopener noreferrer"' in html
    assert '<a href="http://example.com/1" rel="noopener noreferrer"' in html
    html = client.get(f"/leads/{old['id']}").text
    assert "<dd>javascript:alert(document.cookie)</dd>" in html and "<dd>data:,hi</dd>" in html
    assert 'href="javascript:' not in html and 'href="data:' not in html


def test_lead_actions_and_the_timeline(client, owner):
    lead = create_lead_api(client, owner)
    lid = lead["id"]
    user = make_user(owner.account_id)
    sign_in(client, user)

    r = post_form(client, f"/leads/{lid}/status", {"status_id": "3"})
    assert r.status_code == 303
    api = client.get(f"/api/v103/leads/{lid}", headers=owner.headers).json()
    assert (api["status"], api["stage"]) == ("Appointment booked", "In progress")

    post_form(client, f"/leads/{lid}/next-action", {"next_action": "2026-07-01T09:30"})
    api = client.get(f"/api/v103/leads/{lid}", headers=owner.headers).json()
    assert api["next_action_date"] == "2026-07-01T08:30:00.000Z"  # 09:30 BST

    post_form(client, f"/leads/{lid}/notes", {"note": "Called, booked a viewing."})
    post_form(client, f"/leads/{lid}/office", {"office_id": str(owner.offices["Derby"])})
    api = client.get(f"/api/v103/leads/{lid}", headers=owner.headers).json()
    assert api["office_name"] == "Derby"

    # An API update lands in the same timeline, attributed to the token.
    client.patch(f"/api/v103/leads/{lid}", json={"status": "Contacted"}, headers=owner.headers)

    html = client.get(f"/leads/{lid}").text
    timeline = html[html.index('data-testid="timeline"') :]
    for text in [
        "Lead created",
        "Source: Homepage",
        "API token “Website”",
        "New → Appointment booked",
        "Called, booked a viewing.",
        "Nottingham → Derby",
        "next action date: 1 Jul 2026, 09:30",
        "Appointment booked → Contacted",
        user.email,
    ]:
        assert text in timeline, text
    # Newest first: the API's change is at the top.
    assert timeline.index("Appointment booked → Contacted") < timeline.index("Lead created")


def test_refused_actions_say_why_and_change_nothing(client, owner):
    lid = create_lead_api(client, owner)["id"]
    sign_in(client, make_user(owner.account_id))
    r = post_form(client, f"/leads/{lid}/status", {"status_id": "9999"})
    assert r.status_code == 303
    page = client.get(f"/leads/{lid}").text
    assert "There is no status" in page and "flash-error" in page
    post_form(client, f"/leads/{lid}/notes", {"note": "   "})
    assert "Write the note" in client.get(f"/leads/{lid}").text
    with db.transaction() as s:
        assert s.scalars(select(LeadEvent).where(LeadEvent.lead_id == lid)).all() == []


def test_an_agent_moving_a_lead_away_goes_back_to_the_inbox(client, owner):
    lid = create_lead_api(client, owner)["id"]
    sign_in(client, make_user(owner.account_id, "agent", [owner.offices["Nottingham"]]))
    r = post_form(client, f"/leads/{lid}/office", {"office_id": str(owner.offices["Derby"])})
    assert r.headers["location"] == "/leads"
    assert client.get(f"/leads/{lid}").status_code == 404


def test_refer_creates_a_linked_lead_in_the_other_office(client, owner):
    lead = create_lead_api(client, owner, meta={"k": "v"})
    sign_in(client, make_user(owner.account_id))
    r = post_form(
        client,
        f"/leads/{lead['id']}/refer",
        {"office_id": str(owner.offices["Derby"]), "note": "They also want to sell in Derby"},
    )
    assert r.status_code == 303
    # The negotiator stays on the lead being worked; the copy is linked from it.
    assert r.headers["location"] == f"/leads/{lead['id']}"
    page = client.get(f"/leads/{lead['id']}").text
    new_id = int(re.search(r"Referred: lead #(\d+) created for Derby\.", page).group(1))
    assert new_id != lead["id"]
    new = client.get(f"/api/v103/leads/{new_id}", headers=owner.headers).json()
    assert new["office_name"] == "Derby"
    assert new["referred_by_office_id"] == owner.offices["Nottingham"]
    assert new["referred_by_office_name"] == "Nottingham"
    assert new["referred_by_account_id"] == owner.account_id
    assert new["referred_by_account_name"] == "Demo Brand"
    assert (new["email"], new["meta"], new["status"]) == (lead["email"], {"k": "v"}, "New")
    # The same person: the new lead joins the original's group.
    assert new["parent_id"] == lead["id"] and new["is_parent"] is False
    source_page = client.get(f"/leads/{lead['id']}").text
    assert "Referred to Derby" in source_page and f"/leads/{new_id}" in source_page
    new_page = client.get(f"/leads/{new_id}").text
    assert "Referred here from Nottingham" in new_page
    assert "They also want to sell in Derby" in new_page
    # Referring to the office it is already in is refused.
    r = post_form(client, f"/leads/{new_id}/refer", {"office_id": str(owner.offices["Derby"])})
    assert "already in Derby" in client.get(f"/leads/{new_id}").text


def test_the_lead_page_shows_the_persons_other_leads(client, owner):
    first = create_lead_api(client, owner, type="sale")
    second = create_lead_api(client, owner, type="let", phone="01623000000", email="x@example.com")
    unrelated = create_lead_api(client, owner, email="z@example.com", phone="01632 960999")
    sign_in(client, make_user(owner.account_id))
    html = client.get(f"/leads/{second['id']}").text
    group = html[html.index("This person's other leads") :]
    group = group[: group.index("</section>")]
    assert f'href="/leads/{first["id"]}"' in group
    assert f'href="/leads/{unrelated["id"]}"' not in group


def test_next_action_is_cleared_by_clear_only(client, owner):
    lid = create_lead_api(client, owner)["id"]
    sign_in(client, make_user(owner.account_id))

    def next_action():
        return client.get(f"/api/v103/leads/{lid}", headers=owner.headers).json()[
            "next_action_date"
        ]

    post_form(client, f"/leads/{lid}/next-action", {"next_action": "2026-12-01T10:00"})
    assert next_action() == "2026-12-01T10:00:00.000Z"
    assert 'name="do" value="clear"' in client.get(f"/leads/{lid}").text
    # An empty field sent with Set cleared the date without a word.
    post_form(client, f"/leads/{lid}/next-action", {"next_action": "", "do": "set"})
    assert next_action() == "2026-12-01T10:00:00.000Z"
    assert "Choose a date and time for the next action." in client.get(f"/leads/{lid}").text
    post_form(client, f"/leads/{lid}/next-action", {"next_action": "", "do": "clear"})
    assert next_action() is None


def test_appointment_slots_read_in_uk_time_and_jargon_hides_when_empty(client, owner):
    slots = {"hours": ["2025-01-01T08:00:00.000Z", "2025-07-01T08:00:00Z"], "days": "Weekends"}
    lead = create_lead_api(client, owner, appointment_availability=slots)
    sign_in(client, make_user(owner.account_id))
    html = client.get(f"/leads/{lead['id']}").text
    assert "1 Jan 2025, 08:00, 1 Jul 2025, 09:00" in html  # BST in July
    assert "Weekends" in html
    for label in ("Raw property reference", "ETA", "Facebook pixel"):
        assert f"<dt>{label}</dt>" not in html


def test_a_real_instant_valuation_shows_on_the_lead_page(client, owner, tmp_path, engine):
    from tests.valuation_data import load, market

    load(tmp_path, market(datetime.now(UTC).date()))
    r = client.post(
        "/api/v103/leads/valuation",
        json=lead_body(type="vendor", postcode="NG1 5FS", property_type="terraced"),
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    lead = r.json()
    sign_in(client, make_user(owner.account_id))
    html = client.get(f"/leads/{lead['id']}").text
    valuation = html[html.index('id="valuation"') :]
    valuation = valuation[: valuation.index("</section>")]
    assert f"£{lead['average_sale_estimation']:,}" in valuation
    assert "about 8 in 10 homes sell between the minimum and the maximum" in valuation
    # The test market has no lettings: the page says where the rent came from.
    assert lead["average_rent_estimation"] is not None
    assert "No lettings nearby: from the sale estimate and the region" in valuation
    assert "No lettings nearby: the rent comes from the sale estimate" not in valuation  # a vendor
    assert valuation.count("<tr>") == 1 + len(lead["comparable_props"])  # header + one each
    first = lead["comparable_props"][0]
    assert first["postcode"] in valuation
    timeline = html[html.index('data-testid="timeline"') :]
    assert "Instant valuation: Success" in timeline
    assert "comparable sales within" in timeline


def _valuation_panel(client, lead_id):
    html = client.get(f"/leads/{lead_id}").text
    panel = html[html.index('id="valuation"') :]
    return panel[: panel.index("</section>")]


def test_the_valuation_panel_says_how_old_its_newest_sale_is(client, owner):
    """A June 2018 price brought 'to today' read as a current value: it is said now."""
    lead = create_lead_api(client, owner, type="vendor", postcode="SW19 3AA")
    today = datetime.now(UTC).date()
    sale = {"evidence": "sale", "address": "7, MADISON HEIGHTS", "postcode": "SW19 3AA",
            "price": 600000, "property_type": "flat-maisonette", "distance": 0,
            "price_today": 600000, "same_property": False}  # fmt: skip
    values = {"valuation_status": "Success", "average_sale_estimation": 600000}
    sign_in(client, make_user(owner.account_id))

    set_lead_values(lead["id"], **values, comparable_props=[{**sale, "date": "2018-06-29"}])
    panel = _valuation_panel(client, lead["id"])
    assert "The newest sale behind this estimate is from Jun 2018" in panel

    recent = (today - timedelta(days=40)).isoformat()
    set_lead_values(lead["id"], **values, comparable_props=[{**sale, "date": recent}])
    assert 'data-testid="stale-evidence"' not in _valuation_panel(client, lead["id"])


@pytest.mark.parametrize(
    ("kind", "values", "says"),
    [
        ("vendor", {"valuation_status": "Postcode Not Found"}, "could not locate the postcode"),
        (
            "vendor",
            {"valuation_status": "Not Enough Comparable Properties"},
            "No sales or lettings near",
        ),
        (
            "landlord",
            {
                "valuation_status": "Not Enough Comparable Properties",
                "average_sale_estimation": 250000,
                "average_rent_estimation": 1100,
            },
            "No lettings nearby: the rent comes from the sale estimate",
        ),
        (
            "vendor",
            {"valuation_status": "Success", "average_sale_estimation": 250000},
            "Enough sales of the type within 2 km",
        ),
    ],
)
def test_the_valuation_panel_says_what_its_status_means(client, owner, kind, values, says):
    lead = create_lead_api(client, owner, type=kind, postcode="NG1 5FS")
    set_lead_values(lead["id"], **values)
    sign_in(client, make_user(owner.account_id))
    assert says in _valuation_panel(client, lead["id"])


def test_the_status_choice_is_grouped_by_stage(client, owner):
    """Options read "Contacted (In progress)", cut off in the narrow actions column."""
    lead = create_lead_api(client, owner)
    sign_in(client, make_user(owner.account_id))
    html = client.get(f"/leads/{lead['id']}").text
    select = html[html.index('<select id="status_id"') :]
    select = select[: select.index("</select>")]
    groups = re.findall(r'<optgroup label="([^"]+)">', select)
    assert groups == ["Unread", "In progress", "Closed"]
    in_progress = select[select.index('label="In progress"') : select.index('label="Closed"')]
    assert ">Contacted</option>" in in_progress and ">Appointment booked</option>" in in_progress
