"""POST /api/v103/leads: every validation rule at its exact boundary, and the lead object."""

from __future__ import annotations

import re

import pytest

from doorstep.leads.serialize import LEAD_KEYS
from tests.conftest import lead_body

URL = "/api/v103/leads"


def post(client, agency, body, **headers):
    return client.post(URL, json=body, headers={**agency.headers, **headers})


def errors_of(r):
    assert r.status_code == 422, r.text
    return r.json()["errors"]


def test_it_returns_every_key_of_the_lead_object_in_the_documented_order(client, owner):
    r = post(client, owner, lead_body())
    assert r.status_code == 200
    assert list(r.json()) == LEAD_KEYS
    assert len(LEAD_KEYS) == 59


def test_a_new_lead_is_unread_new_and_its_own_parent(client, owner):
    lead = post(client, owner, lead_body()).json()
    assert (lead["stage"], lead["status"]) == ("Unread", "New")
    assert (lead["is_parent"], lead["parent_id"]) == (True, None)
    assert lead["full_name"] == "Marla Singer"
    assert lead["international"] is False
    assert lead["account_name"] == "Demo Brand"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", lead["created_at"])
    assert isinstance(lead["id"], int)


def test_it_echoes_the_documentation_example(client, owner):
    from doorstep.leads.examples import CREATE_REQUEST

    lead = post(client, owner, CREATE_REQUEST).json()
    for key in ("type", "title", "message", "advert_url", "utm_source", "utm_campaign"):
        assert lead[key] == CREATE_REQUEST[key]
    assert lead["meta"] == CREATE_REQUEST["meta"]
    assert lead["appointment_availability"] == CREATE_REQUEST["appointment_availability"]
    assert lead["source"] == "homepage"
    assert lead["office_name"] == "Derby"  # DE1 1JX is in Derby's coverage


@pytest.mark.parametrize("field", ["first_name", "last_name", "email", "phone", "type"])
def test_required_fields_are_named_when_missing(client, owner, field):
    assert field in errors_of(post(client, owner, lead_body(**{field: ...})))


def test_every_failing_field_is_named_at_once(client, owner):
    body = lead_body(first_name="", email="nope", type="buyer", property_bedrooms=51)
    errs = errors_of(post(client, owner, body))
    assert set(errs) == {"first_name", "email", "type", "property_bedrooms"}
    assert all(isinstance(v, list) and v for v in errs.values())


@pytest.mark.parametrize(
    ("field", "ok", "too_long"),
    [
        ("first_name", 50, 51),
        ("last_name", 50, 51),
        ("title", 50, 51),
        ("advert_address", 100, 101),
        ("address", 100, 101),
        ("advert_url", 255, 256),
        ("advert_image", 255, 256),
        ("message", 255, 256),
        ("host", 255, 256),
        ("phone", 255, 256),
        ("utm_gclid", 255, 256),
        ("property_reference", 255, 256),
    ],
)
def test_string_length_limits_hold_at_the_boundary(client, owner, field, ok, too_long):
    def sized(n: int) -> str:
        web = "https://example.com/" if field in ("advert_url", "advert_image") else ""
        return web + "x" * (n - len(web))

    assert post(client, owner, lead_body(**{field: sized(ok)})).status_code == 200
    assert field in errors_of(post(client, owner, lead_body(**{field: sized(too_long)})))


NOT_WEB_ADDRESSES = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "\x01javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "ftp://files.example.com/plan.pdf",
    "www.agency.co.uk/property/1",
    "//www.agency.co.uk/property/1",
    "https:www.agency.co.uk",
    "https://",
    "http:///path",
    "https://[::1",
    "mailto:a@example.com",
]


@pytest.mark.parametrize("value", NOT_WEB_ADDRESSES)
@pytest.mark.parametrize("path", [URL, URL + "/valuation"])
def test_advert_addresses_must_be_http_or_https(client, owner, value, path):
    body = lead_body(
        type="vendor", postcode="DE1 1JX", email="nope", advert_url=value, advert_image=value
    )
    r = client.post(path, json=body, headers=owner.headers)
    errs = errors_of(r)  # every failing field at once, as the other rules
    assert set(errs) == {"email", "advert_url", "advert_image"}
    assert errs["advert_url"] == [
        "Must be an http:// or https:// address, such as https://example.com/."
    ]
    assert "advert_url" in r.json()["message"]


def test_web_addresses_are_kept_as_sent(client, owner):
    url, image = (
        "HTTPS://www.Agency.co.uk/property/7?ref=rightmove#photos",
        "http://img.example/1.jpg",
    )
    lead = post(client, owner, lead_body(advert_url=f"  {url} ", advert_image=image)).json()
    assert (lead["advert_url"], lead["advert_image"]) == (url, image)


def test_advert_addresses_cannot_be_patched(client, owner):
    lead = post(client, owner, lead_body()).json()
    r = client.patch(
        f"{URL}/{lead['id']}",
        json={"advert_url": "javascript:alert(1)", "advert_image": "https://example.com/a.jpg"},
        headers=owner.headers,
    )
    assert set(errors_of(r)) == {"advert_url", "advert_image"}


@pytest.mark.parametrize("field", ["postcode", "advert_postcode"])
def test_postcodes_are_2_to_10_characters(client, owner, field):
    assert post(client, owner, lead_body(**{field: "AB"})).status_code == 200
    assert post(client, owner, lead_body(**{field: "A" * 10})).status_code == 200
    assert field in errors_of(post(client, owner, lead_body(**{field: "A"})))
    assert field in errors_of(post(client, owner, lead_body(**{field: "A" * 11})))


def test_length_is_measured_after_trimming(client, owner):
    lead = post(client, owner, lead_body(first_name="  " + "x" * 50 + "  ")).json()
    assert lead["first_name"] == "x" * 50


def test_postcodes_come_back_canonical_and_other_values_as_sent(client, owner):
    lead = post(client, owner, lead_body(postcode=" de11jx ", advert_postcode="ng1  5fs")).json()
    assert (lead["postcode"], lead["advert_postcode"]) == ("DE1 1JX", "NG1 5FS")
    lead = post(client, owner, lead_body(postcode=" 75001 Pa ")).json()
    assert lead["postcode"] == "75001 Pa"


def test_an_empty_optional_string_means_null(client, owner):
    lead = post(client, owner, lead_body(title="", message="   ", postcode="")).json()
    assert (lead["title"], lead["message"], lead["postcode"]) == (None, None, None)


def test_a_blank_required_string_is_an_error(client, owner):
    assert "last_name" in errors_of(post(client, owner, lead_body(last_name="   ")))


def test_unknown_fields_are_ignored(client, owner):
    r = post(client, owner, lead_body(favourite_colour="blue", id=5, account_id=999))
    assert r.status_code == 200
    assert "favourite_colour" not in r.json()
    assert r.json()["account_id"] == owner.account_id


@pytest.mark.parametrize("email", ["plainaddress", "a@", "@b.com", "a b@c.com", "a@b@c.com"])
def test_invalid_emails_are_refused(client, owner, email):
    assert "email" in errors_of(post(client, owner, lead_body(email=email)))


def test_email_is_checked_without_dns(client, owner):
    assert (
        post(client, owner, lead_body(email="x@no-such-domain.invalid-tld-zz")).status_code == 200
    )


@pytest.mark.parametrize("value", ["SALE", "Let", "vendor", "LandLord", "mortgage_REQUEST"])
def test_type_is_accepted_in_any_case_and_returned_lower(client, owner, value):
    lead = post(client, owner, lead_body(type=value, postcode="NG1 5FS")).json()
    assert lead["type"] == value.lower()


def test_an_unknown_type_is_refused(client, owner):
    assert "type" in errors_of(post(client, owner, lead_body(type="buyer")))


@pytest.mark.parametrize("lead_type", ["vendor", "landlord"])
def test_vendors_and_landlords_need_a_postcode(client, owner, lead_type):
    errs = errors_of(post(client, owner, lead_body(type=lead_type)))
    assert "postcode" in errs
    assert post(client, owner, lead_body(type=lead_type, postcode="NG1 5FS")).status_code == 200


def test_the_postcode_rule_is_reported_with_every_other_error(client, owner):
    """A model-level rule used to wait until every field was valid: a second submission."""
    errs = errors_of(post(client, owner, lead_body(type="Vendor", postcode="  ", email="bad")))
    assert set(errs) == {"email", "postcode"}


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        (..., "homepage"),
        ("zoopla", "zoopla"),
        ("RightMove_Valuation", "rightmove_valuation"),
        ("propertynews", "propertynews"),
        ("myspace", "homepage"),
        (42, "homepage"),
    ],
)
def test_source_defaults_to_homepage(client, owner, sent, stored):
    assert post(client, owner, lead_body(source=sent)).json()["source"] == stored


@pytest.mark.parametrize("value", ["detached", "semi-detached", "terraced", "flat-maisonette"])
def test_property_types(client, owner, value):
    assert post(client, owner, lead_body(property_type=value)).json()["property_type"] == value


def test_an_unknown_property_type_is_refused(client, owner):
    assert "property_type" in errors_of(post(client, owner, lead_body(property_type="castle")))


@pytest.mark.parametrize(
    "field", ["property_bedrooms", "property_bathrooms", "property_receptions"]
)
def test_room_counts_are_0_to_50(client, owner, field):
    assert post(client, owner, lead_body(**{field: 0})).json()[field] == 0
    assert post(client, owner, lead_body(**{field: 50})).json()[field] == 50
    assert field in errors_of(post(client, owner, lead_body(**{field: 51})))
    assert field in errors_of(post(client, owner, lead_body(**{field: -1})))
    assert field in errors_of(post(client, owner, lead_body(**{field: "many"})))


def _meta_of_size(n: int) -> dict[str, str]:
    # {"k":"..."} is 8 bytes of JSON around the value
    return {"k": "v" * (n - 8)}


def test_meta_may_be_exactly_1024_bytes_of_compact_json(client, owner):
    assert post(client, owner, lead_body(meta=_meta_of_size(1024))).status_code == 200
    assert "meta" in errors_of(post(client, owner, lead_body(meta=_meta_of_size(1025))))


def test_meta_bytes_count_utf8_not_characters(client, owner):
    # "é" is 2 bytes in UTF-8: 508 of them plus the 8 framing bytes = 1024
    assert post(client, owner, lead_body(meta={"k": "é" * 508})).status_code == 200
    assert "meta" in errors_of(post(client, owner, lead_body(meta={"k": "é" * 509})))


@pytest.mark.parametrize("meta", [["a"], "text", {"a": 1}, {"a": {"b": "c"}}, {"a": None}])
def test_meta_must_be_an_object_of_strings(client, owner, meta):
    assert "meta" in errors_of(post(client, owner, lead_body(meta=meta)))


def test_appointment_availability_takes_strings_or_lists_of_strings(client, owner):
    ok = {"hours": ["2025-01-01T08:00:00.000Z"], "note": "mornings"}
    assert post(client, owner, lead_body(appointment_availability=ok)).status_code == 200
    for bad in ({"hours": [1]}, {"hours": 3}, ["x"], {"a": {"b": "c"}}):
        r = post(client, owner, lead_body(appointment_availability=bad))
        assert "appointment_availability" in errors_of(r)


def test_appointment_availability_is_at_most_1024_bytes(client, owner):
    assert post(client, owner, lead_body(appointment_availability=_meta_of_size(1024))).is_success
    r = post(client, owner, lead_body(appointment_availability=_meta_of_size(1025)))
    assert "appointment_availability" in errors_of(r)


def test_questionnaire_is_a_list_of_pairs(client, owner):
    lead = post(client, owner, lead_body(questionnaire=[["Pets?", "Yes"], ["Parking?", "No"]]))
    assert lead.json()["questionnaire"] == [["Pets?", "Yes"], ["Parking?", "No"]]


def test_questionnaire_as_an_object_of_pairs_is_accepted(client, owner):
    lead = post(client, owner, lead_body(questionnaire={"q1": ["Pets?", "Yes"]})).json()
    assert lead["questionnaire"] == [["Pets?", "Yes"]]


@pytest.mark.parametrize(
    "bad", [[["only one"]], [["a", "b", "c"]], [["a", 1]], "text", [{"q": "a"}], {"q": "a"}]
)
def test_malformed_questionnaires_are_refused(client, owner, bad):
    assert "questionnaire" in errors_of(post(client, owner, lead_body(questionnaire=bad)))


def test_questionnaire_is_at_most_2048_bytes(client, owner):
    # [["q","..."]] is 10 bytes of JSON around the answer
    assert post(client, owner, lead_body(questionnaire=[["q", "a" * 2038]])).status_code == 200
    r = post(client, owner, lead_body(questionnaire=[["q", "a" * 2039]]))
    assert "questionnaire" in errors_of(r)


def test_office_id_must_be_an_office_of_the_account(client, owner, other):
    r = post(client, owner, lead_body(office_id=owner.offices["Derby"]))
    assert r.json()["office_name"] == "Derby"
    assert "office_id" in errors_of(
        post(client, owner, lead_body(office_id=other.offices["Oxford"]))
    )
    assert "office_id" in errors_of(post(client, owner, lead_body(office_id=999999)))
    assert "office_id" in errors_of(post(client, owner, lead_body(office_id="abc")))
    # Past the INTEGER id column: a 500 from PostgreSQL (2**31) or SQLite (2**63) before.
    for big in (2**31, 2**63):
        assert "office_id" in errors_of(post(client, owner, lead_body(office_id=big)))


def test_phone_is_kept_as_sent(client, owner):
    assert post(client, owner, lead_body(phone="+44 (0)1623 000000")).json()["phone"] == (
        "+44 (0)1623 000000"
    )


def test_booleans_and_utm_fields_are_stored(client, owner):
    body = lead_body(
        gdpr_checkbox=True,
        international=True,
        utm_medium="cpc",
        utm_term="flat",
        utm_content="ad1",
        utm_gclid="G1",
    )
    lead = post(client, owner, body).json()
    assert (lead["gdpr_checkbox"], lead["international"]) == (True, True)
    assert (lead["utm_medium"], lead["utm_term"], lead["utm_content"], lead["utm_gclid"]) == (
        "cpc",
        "flat",
        "ad1",
        "G1",
    )


def test_a_wrongly_typed_string_field_is_refused(client, owner):
    assert "first_name" in errors_of(post(client, owner, lead_body(first_name=["Marla"])))


@pytest.mark.parametrize(
    ("phone", "normalised", "callable_"),
    [
        ("07986 000000", "+447986000000", True),
        ("+44 (0)1623 000000", "+441623000000", True),
        ("+33 1 42 68 53 00", "+33142685300", False),  # valid, but not a UK number
        ("07624 123456", "+447624123456", False),  # +44, but the Isle of Man's
        ("01481 712345", "+441481712345", False),  # Guernsey's
        ("01000 000000", "+441000000000", False),  # possible, but no UK number is like it
        ("12", None, False),
        ("call me maybe", None, False),
    ],
)
def test_phones_are_kept_as_sent_with_a_uk_normalised_form(
    client, owner, session, phone, normalised, callable_
):
    from doorstep.models import Lead

    lead = post(client, owner, lead_body(phone=phone)).json()
    assert lead["phone"] == phone
    row = session.get(Lead, lead["id"])
    assert (row.phone_normalized, row.phone_callable) == (normalised, callable_)


@pytest.mark.parametrize(
    "body",
    [
        lead_body(first_name="Mar\x00la"),
        lead_body(meta={"k\x00": "v"}),
        lead_body(questionnaire=[["q", "a\x00"]]),
    ],
)
def test_nul_characters_are_refused_not_stored(client, owner, body):
    errs = errors_of(post(client, owner, body))
    assert any("NUL" in r for reasons in errs.values() for r in reasons)


def test_nul_characters_in_a_person_query_are_refused(client, owner):
    r = client.get("/api/v103/person/leads", params={"phone": "\x00"}, headers=owner.headers)
    assert r.status_code == 422 and "phone" in r.json()["errors"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("office_id", True),  # was routed to office 1
        ("office_id", False),
        ("property_bedrooms", True),  # was stored as 1 bedroom
        ("gdpr_checkbox", "yes"),  # was consent
        ("gdpr_checkbox", "off"),
        ("gdpr_checkbox", 2),
        ("international", "no"),
    ],
)
def test_booleans_and_numbers_are_not_mistaken_for_each_other(client, owner, field, value):
    errs = errors_of(post(client, owner, lead_body(**{field: value})))
    assert set(errs) == {field}


@pytest.mark.parametrize(
    ("sent", "stored"),
    [(True, True), (1, True), ("0", False), ("FALSE", False), ("on", True), (" On ", True)],
)
def test_consent_is_true_or_false_in_its_usual_forms(client, owner, sent, stored):
    r = post(client, owner, lead_body(gdpr_checkbox=sent))
    assert r.status_code == 200, r.text
    assert r.json()["gdpr_checkbox"] is stored
