"""`make run`'s demo gets real evidence: the shipped Price Paid samples."""

from __future__ import annotations

from doorstep.db import get_engine
from doorstep.valuation import demo
from tests.conftest import lead_body


def test_the_demo_imports_the_samples_once_and_values_from_them(client, owner, monkeypatch):
    monkeypatch.setattr(demo, "SAMPLES", ("pp_newcastle_ne_2022.csv.gz",))
    first = demo.ensure_demo_sales(get_engine(), show_progress=False)
    assert first is not None and first["sales"] == 4748
    assert demo.ensure_demo_sales(get_engine(), show_progress=False) is None
    body = lead_body(type="vendor", postcode="NE3 3LJ", property_type="terraced")
    lead = client.post("/api/v103/leads/valuation", json=body, headers=owner.headers).json()
    assert lead["valuation_status"] == "Success"
    assert 50_000 < lead["average_sale_estimation"] < 400_000
    assert all(c["date"].startswith("2022-") for c in lead["comparable_props"])
