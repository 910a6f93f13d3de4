"""Status codes and error bodies everywhere: 400 401 404 405 413 415 422 429 500, X-Request-Id."""

from __future__ import annotations

import json

import pytest

from tests.conftest import lead_body, make_agency

URL = "/api/v103/leads"


def raw_post(client, agency, content: bytes, content_type="application/json", **extra):
    return client.post(
        URL, content=content, headers={**agency.headers, "Content-Type": content_type, **extra}
    )


def test_malformed_json_is_400_and_says_where(client, owner):
    r = raw_post(client, owner, b'{"first_name": "Marla",\n  "last_name" "Singer"}')
    assert r.status_code == 400
    assert "line 2" in r.json()["message"] and "column" in r.json()["message"]


def test_invalid_utf8_is_400(client, owner):
    r = raw_post(client, owner, b'{"first_name": "\xff"}')
    assert r.status_code == 400


def test_a_json_body_that_is_not_an_object_is_422(client, owner):
    r = raw_post(client, owner, b"[1, 2]")
    assert r.status_code == 422
    assert "object" in r.json()["message"]


@pytest.mark.parametrize("ctype", ["text/plain", "application/xml", "text/html", ""])
def test_a_body_that_is_neither_json_nor_a_form_is_415(client, owner, ctype):
    r = raw_post(client, owner, json.dumps(lead_body()).encode(), content_type=ctype)
    assert r.status_code == 415
    assert r.json()["message"]


def test_json_sent_as_a_form_is_400_and_says_so(client, owner):
    r = raw_post(
        client, owner, json.dumps(lead_body()).encode(), "application/x-www-form-urlencoded"
    )
    assert r.status_code == 400
    assert "looks like JSON" in r.json()["message"]


def test_json_with_a_charset_is_accepted(client, owner):
    r = raw_post(client, owner, json.dumps(lead_body()).encode(), "application/json; charset=utf-8")
    assert r.status_code == 200


def test_missing_unknown_and_revoked_keys_are_401(client, owner):
    assert client.post(URL, json=lead_body()).status_code == 401
    assert client.post(URL, json=lead_body(), headers={"X-API-KEY": "ds_nope"}).status_code == 401
    from doorstep import db
    from doorstep.tokens.service import revoke_token

    assert client.get("/api/v103/offices", headers=owner.headers).status_code == 200
    with db.transaction() as s:
        revoke_token(s, owner.account_id, owner.token_id)
    r = client.get("/api/v103/offices", headers=owner.headers)
    assert r.status_code == 401
    assert r.json() == {"message": "Invalid or revoked API key."}


def test_the_key_header_name_is_case_insensitive(client, owner):
    assert client.get("/api/v103/offices", headers={"x-api-key": owner.token}).status_code == 200
    assert client.get("/api/v103/offices", headers={"X-Api-Key": owner.token}).status_code == 200


def test_unknown_paths_are_404_json(client, owner):
    r = client.get("/api/v103/nothing-here", headers=owner.headers)
    assert r.status_code == 404
    assert r.json() == {"message": "Not found."}


def test_a_wrong_method_is_405_with_allow(client, owner):
    r = client.delete("/api/v103/leads/1", headers=owner.headers)
    assert r.status_code == 405
    assert "GET" in r.headers["allow"] and "PATCH" in r.headers["allow"]
    assert r.json() == {"message": "Method not allowed."}


def test_a_body_over_64_kib_is_413(client, owner):
    body = json.dumps(lead_body(message="x" * (70 * 1024))).encode()
    r = raw_post(client, owner, body)
    assert r.status_code == 413
    assert "65536" in r.json()["message"]


def test_a_body_of_exactly_64_kib_is_read(client, owner):
    base = json.dumps(lead_body(padding="")).encode()
    body = json.dumps(lead_body(padding="p" * (64 * 1024 - len(base)))).encode()
    assert len(body) == 64 * 1024
    assert raw_post(client, owner, body).status_code == 200


def test_a_streamed_body_without_length_is_cut_off_at_64_kib(client, owner):
    chunk = b" " * 8192

    def gen():
        yield b'{"first_name": "Marla"'
        for _ in range(10):
            yield chunk
        yield b"}"

    r = client.post(
        URL, content=gen(), headers={**owner.headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 413


def test_rate_limit_is_429_with_retry_after(client, engine):
    agency = make_agency("Tiny", (("Nottingham", "NG1 5FS", "NG1"),), rate_limit=3)
    codes = [client.get("/api/v103/offices", headers=agency.headers).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200]
    assert codes[3:] == [429, 429]
    r = client.get("/api/v103/offices", headers=agency.headers)
    assert 1 <= int(r.headers["retry-after"]) <= 120
    assert "Rate limit" in r.json()["message"]


def test_a_token_limit_of_zero_is_unlimited(client, engine, monkeypatch):
    from doorstep.config import get_settings

    monkeypatch.setenv("DOORSTEP_RATE_LIMIT_PER_MINUTE", "2")
    get_settings.cache_clear()
    try:
        unlimited = make_agency("Big", (("Derby", "DE1 1JX", "DE1"),), rate_limit=0)
        default = make_agency("Small", (("Derby", "DE1 1JX", "DE1"),))
        assert all(
            client.get("/api/v103/offices", headers=unlimited.headers).status_code == 200
            for _ in range(5)
        )
        codes = [
            client.get("/api/v103/offices", headers=default.headers).status_code for _ in range(3)
        ]
        assert codes == [200, 200, 429]
    finally:
        get_settings.cache_clear()


def test_every_response_has_a_request_id(client, owner):
    responses = [
        client.get("/api/v103/offices", headers=owner.headers),
        client.get("/api/v103/offices"),
        client.get("/nowhere"),
        client.post(URL, json={}, headers=owner.headers),
        client.get("/healthz"),
    ]
    ids = [r.headers.get("x-request-id") for r in responses]
    assert all(ids) and len(set(ids)) == len(ids)


def test_a_sane_incoming_request_id_is_kept(client, owner):
    r = client.get("/api/v103/offices", headers={**owner.headers, "X-Request-Id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = client.get("/api/v103/offices", headers={**owner.headers, "X-Request-Id": "<script>"})
    assert r.headers["x-request-id"] != "<script>"


def test_an_internal_error_shows_no_internals(app, owner, monkeypatch):
    from fastapi.testclient import TestClient

    from doorstep.leads import service

    def boom(*a, **k):
        raise RuntimeError("secret database password in a traceback")

    monkeypatch.setattr(service, "find_by_contact", boom)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/v103/person/leads?email=a@b.com", headers=owner.headers)
    assert r.status_code == 500
    assert "secret" not in r.text
    assert r.headers["x-request-id"] in r.json()["message"]


def test_json_nested_too_deeply_is_400_not_a_500(client, owner):
    deep = b"[" * 5000 + b"]" * 5000
    body = json.dumps(lead_body()).encode()[:-1] + b', "x": ' + deep + b"}"
    r = raw_post(client, owner, body)
    assert r.status_code == 400, r.text
    assert "deeply" in r.json()["message"]


@pytest.mark.parametrize("const", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(client, owner, const):
    r = raw_post(client, owner, b'{"first_name": ' + const.encode() + b"}")
    assert r.status_code == 400
    assert const in r.json()["message"]


def nested(levels: int, inner: str = '"x"') -> str:
    """A JSON value of ``levels`` objects one inside the other (built as text: json.dumps
    recurses)."""
    return '{"a": ' * levels + inner + "}" * levels


def with_fields(**raw_values: str) -> bytes:
    """A valid lead body with fields given as raw JSON text."""
    body = json.dumps(lead_body())[:-1]
    return (body + "".join(f', "{k}": {v}' for k, v in raw_values.items()) + "}").encode()


def test_a_field_nested_hundreds_of_levels_deep_is_422_naming_it(client, owner):
    """The NUL check walked meta by recursion: 450 levels were a RecursionError, a 500."""
    deep = nested(600)
    r = raw_post(client, owner, with_fields(meta=deep, questionnaire=f"[{deep}]", x=deep))
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == {
        name: ["Must not nest objects or arrays more than 32 levels deep."]
        for name in ("meta", "questionnaire", "x")
    }
    r = client.post(
        URL + "/valuation",
        content=with_fields(type='"vendor"', postcode='"DE1 1JX"', appointment_availability=deep),
        headers={**owner.headers, "Content-Type": "application/json", "Idempotency-Key": "k"},
    )
    assert r.status_code == 422 and list(r.json()["errors"]) == ["appointment_availability"]
    lid = client.post(URL, json=lead_body(), headers=owner.headers).json()["id"]
    r = client.patch(
        f"{URL}/{lid}",
        content=f'{{"meta": {deep}}}'.encode(),
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and list(r.json()["errors"]) == ["meta"]


def test_nesting_is_read_up_to_32_levels(client, owner):
    assert raw_post(client, owner, with_fields(x=nested(32))).status_code == 200
    r = raw_post(client, owner, with_fields(x=nested(33)))
    assert r.status_code == 422 and list(r.json()["errors"]) == ["x"]
    r = raw_post(client, owner, ("[" * 40 + "]" * 40).encode())
    assert r.status_code == 422 and list(r.json()["errors"]) == ["body"]


def test_an_integer_of_more_than_4300_digits_is_422_naming_its_field(client, owner):
    """json turns digits into an int, and int() refuses more than 4,300: it was a 500."""
    long = "9" * 4301
    r = raw_post(
        client,
        owner,
        with_fields(office_id=long, meta=f'{{"a": -{long}}}', x=f"[{long}]", y=long + ".5"),
    )
    assert r.status_code == 422, r.text
    reason = ["Must not contain a number of more than 4300 digits."]
    assert r.json()["errors"] == {"office_id": reason, "meta": reason, "x": reason}
    # 4,300 digits are read; the field's own rules answer.
    for field in ("office_id", "property_bedrooms"):
        r = raw_post(client, owner, with_fields(**{field: "9" * 4300}))
        assert r.status_code == 422 and list(r.json()["errors"]) == [field]
        assert r.json()["errors"][field] != reason
    lid = client.post(URL, json=lead_body(), headers=owner.headers).json()["id"]
    r = client.patch(
        f"{URL}/{lid}",
        content=f'{{"status": {long}}}'.encode(),
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["errors"] == {"status": reason}
    assert raw_post(client, owner, long.encode()).json()["errors"] == {"body": reason}


def test_the_nul_check_walks_any_depth_without_recursion():
    from doorstep.http import has_nul

    value: object = "a\x00b"
    for _ in range(10_000):
        value = {"k": [value]}
    assert has_nul(value)
    assert not has_nul({"k": [["clean"] * 3]})
    assert has_nul({"a\x00": "key"})
