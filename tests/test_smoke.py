from tests.conftest import lead_body


def test_it_creates_and_reads_a_lead(client, owner):
    r = client.post("/api/v103/leads", json=lead_body(), headers=owner.headers)
    assert r.status_code == 200, r.text
    lead = r.json()
    assert lead["office_name"] == "Nottingham"
    r2 = client.get(f"/api/v103/leads/{lead['id']}", headers=owner.headers)
    assert r2.json() == lead
