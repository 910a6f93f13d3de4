"""Property-based: whatever an integrator sends, the API answers with a 2xx or 4xx, never 5xx."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
