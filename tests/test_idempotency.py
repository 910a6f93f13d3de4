from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from doorstep import db
from doorstep.models import IdempotencyKey, Lead
from doorstep.models.base import utcnow
from tests.conftest import lead_body


def post(client, agency, body, key):
    return client.post(
        "/api/v103/leads", json=body, headers={**agency.headers, "Idempotency-Key": key}
    )


def lead_count(session, agency):
    return session.scalar(
        select(func.count()).select_from(Lead).where(Lead.account_id == agency.account_id)
    )


def test_the_same_key_and_body_replays_the_first_response(client, owner, session):
    first = post(client, owner, lead_body(), "k-1")
    again = post(client, owner, lead_body(), "k-1")
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert lead_count(session, owner) == 1


def test_the_same_body_in_another_key_order_is_the_same_body(client, owner):
    body = lead_body()
    first = post(client, owner, body, "k-2")
    again = post(client, owner, dict(reversed(list(body.items()))), "k-2")
    assert again.json()["id"] == first.json()["id"]


def test_the_same_key_with_another_body_is_409(client, owner, session):
    post(client, owner, lead_body(), "k-3")
    r = post(client, owner, lead_body(first_name="Tyler"), "k-3")
    assert r.status_code == 409
    assert "Idempotency-Key" in r.json()["message"]
    assert lead_count(session, owner) == 1


def test_keys_are_per_account(client, owner, other, session):
    post(client, owner, lead_body(), "shared")
    r = post(client, other, lead_body(), "shared")
    assert r.status_code == 200 and r.json()["account_id"] == other.account_id


def test_a_failed_request_does_not_use_up_the_key(client, owner):
    assert post(client, owner, lead_body(email="bad"), "k-4").status_code == 422
    assert post(client, owner, lead_body(), "k-4").status_code == 200


def test_a_key_older_than_24_hours_is_forgotten(client, owner, session):
    first = post(client, owner, lead_body(), "k-5").json()
    with db.transaction() as s:
        s.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=25)))
    again = post(client, owner, lead_body(), "k-5").json()
    assert again["id"] != first["id"]


def test_an_overlong_key_is_422(client, owner):
    r = post(client, owner, lead_body(), "k" * 256)
    assert r.status_code == 422 and "Idempotency-Key" in r.json()["errors"]


def test_a_key_pruned_between_insert_and_lock_is_claimed_afresh(owner, monkeypatch):
    """retention.prune may delete an expired key's row after the claim's insert met it and
    before the claim locks it: the claim inserts again instead of failing."""
    from sqlalchemy import delete

    from doorstep import idempotency

    with db.transaction() as s:
        s.add(
            IdempotencyKey(
                account_id=owner.account_id,
                key="k",
                method="POST",
                path="/api/v103/leads",
                body_hash="x",
                status_code=200,
                response_body="{}",
                created_at=utcnow() - timedelta(hours=30),
            )
        )
    with db.transaction() as s:
        real_execute = s.execute
        inserts = []

        def execute(statement, *args, **kwargs):
            result = real_execute(statement, *args, **kwargs)
            if getattr(statement, "is_insert", False) and not inserts:
                inserts.append(statement)
                real_execute(delete(IdempotencyKey).where(IdempotencyKey.key == "k"))  # pruned
            return result

        monkeypatch.setattr(s, "execute", execute)
        claim = idempotency.claim(s, owner.account_id, "k", "POST", "/api/v103/leads", {"a": 1})
        assert claim.row_id is not None and not claim.is_replay
        monkeypatch.undo()
        row = s.get(IdempotencyKey, claim.row_id)
        assert row is not None and row.body_hash == idempotency.body_hash({"a": 1})
