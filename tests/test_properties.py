"""Property-based: whatever an integrator sends, or an admin types into the dashboard, the
answer is a 2xx, 3xx or 4xx, never a 5xx."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from doorstep import numbers
from doorstep.leads.schemas import LeadCreate, LeadUpdate

FIELDS = sorted(set(LeadCreate.model_fields) | set(LeadUpdate.model_fields) | {"id", "status"})
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
plausible = {
    "type": st.sampled_from(["sale", "LET", "vendor", "landlord", "mortgage_request", "x"]),
    "email": st.sampled_from(["a@example.com", "bad", "", "ü@exämple.com"]),
    "postcode": st.sampled_from(["NG1 5FS", "de11jx", "ZZ9 9ZZ", "", "A", "SW1A 1AA"]),
    "advert_postcode": st.sampled_from(["NG1 5FS", "DE22", "nowhere", "LE1 1AA"]),
    "phone": st.sampled_from(["07986000000", "+447986000000", "call me", ""]),
}
bodies = st.fixed_dictionaries(
    {},
    optional={f: plausible.get(f, json_values) for f in FIELDS},
)

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def big_limit(monkeypatch):
    from doorstep.config import get_settings

    monkeypatch.setenv("DOORSTEP_RATE_LIMIT_PER_MINUTE", "0")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@SETTINGS
@given(body=bodies)
def test_random_create_bodies_never_cause_a_server_error(client, owner, big_limit, body):
    r = client.post("/api/v103/leads", json=body, headers=owner.headers)
    assert r.status_code < 500, r.text
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert r.json()["errors"]


@SETTINGS
@given(body=bodies)
def test_random_valuation_shaped_bodies_never_cause_a_server_error(client, owner, big_limit, body):
    body = {"first_name": "A", "last_name": "B", "email": "a@b.com", "phone": "1", **body}
    r = client.post("/api/v103/leads", json=body, headers=owner.headers)
    assert r.status_code < 500, r.text


@SETTINGS
@given(body=bodies)
def test_random_update_bodies_never_cause_a_server_error(client, owner, big_limit, body):
    from tests.conftest import lead_body

    lead = client.post("/api/v103/leads", json=lead_body(), headers=owner.headers).json()
    r = client.patch(f"/api/v103/leads/{lead['id']}", json=body, headers=owner.headers)
    assert r.status_code in (200, 422), r.text


@SETTINGS
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_random_bytes_never_cause_a_server_error(client, owner, big_limit, raw):
    r = client.post(
        "/api/v103/leads",
        content=raw,
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    assert r.status_code in (200, 400, 422), r.text
    json.loads(r.text)


@SETTINGS
@given(email=st.text(max_size=40), phone=st.text(max_size=40), first=st.text(max_size=10))
def test_random_person_queries_never_cause_a_server_error(
    client, owner, big_limit, email, phone, first
):
    r = client.get(
        "/api/v103/person/leads",
        params={"email": email, "phone": phone, "firstName": first},
        headers=owner.headers,
    )
    assert r.status_code in (200, 422), r.text


# Numbers: only ASCII digits are numbers. str.isdigit() is true for all of these, and int()
# reads most of them as digits ("١" is 1).
OTHER_DIGITS = "²³¹١٢٣٠٤٥٦٧٨٩۱۲۳०१२३০১২০１２３４５６７８９߀߁๓၃᠓𝟙𝟚"
other_digits = st.text(alphabet=st.sampled_from(OTHER_DIGITS), min_size=1, max_size=6)
numberish = st.one_of(
    other_digits,
    st.text(alphabet=st.sampled_from("0123456789" + OTHER_DIGITS + " _+-."), max_size=12),
    st.integers(min_value=0, max_value=2**40).map(str),
    st.text(max_size=20),
)
path_part = numberish.filter(lambda s: s not in ("", ".", ".."))


def in_path(raw: str) -> str:
    return quote(raw, safe="")


@SETTINGS
@given(raw=path_part)
def test_random_lead_ids_in_api_paths_never_cause_a_server_error(client, owner, big_limit, raw):
    r = client.get(f"/api/v103/leads/{in_path(raw)}", headers=owner.headers)
    assert r.status_code in (200, 404), r.text
    if r.status_code == 200:
        assert numbers.is_digits(raw) and r.json()["id"] == int(raw)
    r = client.patch(
        f"/api/v103/leads/{in_path(raw)}", json={"first_name": "Marla"}, headers=owner.headers
    )
    assert r.status_code in (200, 404), r.text
    assert r.status_code == 404 or numbers.is_digits(raw)


NUMBER_FIELDS = ["office_id", "property_bedrooms", "property_bathrooms", "property_receptions"]


@SETTINGS
@given(field=st.sampled_from(NUMBER_FIELDS), text=other_digits)
def test_other_scripts_digits_are_never_a_number_in_a_body(client, owner, big_limit, field, text):
    from tests.conftest import lead_body

    r = client.post("/api/v103/leads", json=lead_body(**{field: text}), headers=owner.headers)
    assert r.status_code == 422, r.text
    assert field in r.json()["errors"]


@SETTINGS
@given(status=other_digits)
def test_other_scripts_digits_are_never_a_status_id(client, owner, big_limit, status):
    from tests.conftest import create_lead_api

    lead = create_lead_api(client, owner)
    r = client.patch(
        f"/api/v103/leads/{lead['id']}", json={"status": status}, headers=owner.headers
    )
    assert r.status_code == 422, r.text
    assert list(r.json()["errors"]) == ["status"]


# The dashboard, signed in as an admin: every filter, address and form with arbitrary text.


@dataclass
class Admin:
    client: Any
    csrf: str
    lead_id: int
    office_id: int

    def post(self, path: str, data: dict[str, str]) -> Any:
        return self.client.post(
            path, data={**data, "csrf_token": self.csrf}, follow_redirects=False
        )


@pytest.fixture
def admin(client, owner) -> Admin:
    from tests.conftest import create_lead_api
    from tests.factories import make_user, page_csrf, sign_in

    lead = create_lead_api(client, owner)
    client.get("/api/v103/leads/424242", headers=owner.headers)  # a failure in the log
    sign_in(client, make_user(owner.account_id))
    return Admin(client, page_csrf(client, "/leads"), lead["id"], owner.offices["Derby"])


FILTERS = {
    "/leads": ["type", "source", "stage", "status", "office", "from", "to", "q", "page"],
    "/developer": ["token", "status", "path", "since", "until", "before"],
    "/reports": ["start", "end"],
    "/offices/route": ["postcode"],
}
FRAGMENT = {"/leads": "inbox-results", "/developer": "request-log"}


@SETTINGS
@given(data=st.data(), page=st.sampled_from(sorted(FILTERS)), fragment=st.booleans())
def test_random_dashboard_filters_never_cause_a_server_error(admin, data, page, fragment):
    params = data.draw(st.dictionaries(st.sampled_from(FILTERS[page]), numberish, max_size=4))
    headers = {"HX-Request": "true", "HX-Target": FRAGMENT.get(page, "")} if fragment else {}
    r = admin.client.get(page, params=params, headers=headers)
    assert r.status_code in (200, 422), r.text  # 422: a NUL character


@SETTINGS
@given(page=st.sampled_from(["/leads/{}", "/offices/{}", "/developer/requests/{}"]), raw=path_part)
def test_random_dashboard_addresses_never_cause_a_server_error(admin, page, raw):
    r = admin.client.get(page.format(in_path(raw)))
    assert r.status_code in (200, 404), r.text
    if r.status_code == 200:
        assert numbers.is_digits(raw) or page.format(raw) == "/offices/route"


FORMS = {
    "/leads/{lead}/status": ["status_id"],
    "/leads/{lead}/office": ["office_id"],
    "/leads/{lead}/next-action": ["next_action", "do"],
    "/leads/{lead}/notes": ["note"],
    "/leads/{lead}/refer": ["office_id", "note"],
    "/offices": ["name", "postcode", "coverage", "is_default"],
    "/offices/{office}": ["name", "postcode", "coverage", "is_default"],
    "/statuses": ["name", "stage"],
    "/statuses/{status}/delete": [],
    "/developer/tokens": ["name", "rate_limit"],
    "/developer/tokens/{token}/revoke": [],
}


@SETTINGS
@given(data=st.data(), form=st.sampled_from(sorted(FORMS)), own_ids=st.booleans())
def test_random_dashboard_forms_never_cause_a_server_error(admin, data, form, own_ids):
    fields = data.draw(st.fixed_dictionaries({}, optional=dict.fromkeys(FORMS[form], numberish)))
    ids = {"lead": admin.lead_id, "office": admin.office_id}
    path = form.format(
        **{
            name: ids.get(name, 1) if own_ids else in_path(data.draw(path_part))
            for name in ("lead", "office", "status", "token")
        }
    )
    r = admin.post(path, fields)
    assert r.status_code in (200, 303, 404, 409, 422), r.text
