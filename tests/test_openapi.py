"""/openapi.json: what an integrator (or a client generator) reads of the API."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from doorstep.leads.serialize import LEAD_KEYS
from doorstep.valuation import model

SAMPLES = Path(__file__).parent.parent / "src" / "doorstep" / "valuation" / "samples"
LEAD_ROUTES = [
    ("/api/v103/leads", "post"),
    ("/api/v103/leads/valuation", "post"),
    ("/api/v103/leads/{lead_id}", "get"),
    ("/api/v103/leads/{lead_id}", "patch"),
]


@pytest.fixture(scope="module")
def spec():
    from fastapi.testclient import TestClient

    from doorstep.app import create_app

    with TestClient(create_app()) as c:
        return c.get("/openapi.json").json()


@pytest.mark.parametrize(("path", "method"), LEAD_ROUTES)
def test_a_lead_response_is_described_as_the_lead_object(spec, path, method):
    ok = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"] == {"$ref": "#/components/schemas/LeadObject"}  # was {"type": "string"}
    lead = spec["components"]["schemas"]["LeadObject"]
    assert list(lead["properties"]) == LEAD_KEYS
    # Every key, nulls included: FastAPI dropped them, so the example showed 33 of 59.
    assert list(ok["example"]) == LEAD_KEYS  # in the documented order, too


def test_person_leads_is_a_list_of_lead_objects(spec):
    ok = spec["paths"]["/api/v103/person/leads"]["get"]["responses"]["200"]["content"]
    schema = ok["application/json"]["schema"]
    assert schema["items"] == {"$ref": "#/components/schemas/LeadObject"}
    assert set(ok["application/json"]["example"][0]) == set(LEAD_KEYS)


def test_the_api_key_and_idempotency_key_can_be_sent_from_the_docs(spec):
    (scheme,) = spec["components"]["securitySchemes"].values()
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-KEY")
    for path, method in [*LEAD_ROUTES, ("/api/v103/offices", "get"), ("/api/v103/statuses", "get")]:
        assert spec["paths"][path][method]["security"], (path, method)
    for path in ("/api/v103/leads", "/api/v103/leads/valuation"):
        params = spec["paths"][path]["post"]["parameters"]
        assert [p["name"] for p in params if p["in"] == "header"] == ["Idempotency-Key"]


def test_the_valuation_docs_agree_with_the_model_and_the_data(spec):
    op = spec["paths"]["/api/v103/leads/valuation"]["post"]
    years = model.WIDER.lookback_months // 12
    assert f"up to {model.WIDER.radius_m // 1000:.0f} km and {years} years" in op["description"]
    example = op["responses"]["200"]["content"]["application/json"]["example"]
    with gzip.open(SAMPLES / "pp_london_sw19_2010-2018.csv.gz", "rt") as f:
        sales = {(r[1], r[2][:10], r[3], r[7], r[9]) for r in csv.reader(f)}
    for c in example["comparable_props"]:
        paon, street = c["address"].split(", ")[:2]
        assert (str(c["price"]), c["date"], c["postcode"], paon, street) in sales, c
