"""Only the ASCII digits 0-9 make a number: in API paths and fields, dashboard addresses,
filters and forms, and on the command line. "²" is a digit to str.isdigit() that int()
refuses (it was a 500); "١" (Arabic-Indic) and "１" (fullwidth) are read as 1 by int() (so
/api/v103/leads/١ was lead 1)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from doorstep import db, numbers
from doorstep.cli import app as cli
from doorstep.models import ApiToken, RequestLog, Status
from tests.conftest import create_lead_api
from tests.factories import make_user, post_form, sign_in

_ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def arabic(n: int) -> str:
    """The number in Arabic-Indic digits: what int() reads as the same number."""
    return str(n).translate(_ARABIC_INDIC)


def not_ascii(n: int) -> list[str]:
    """Ways of writing ``n`` (or something like it) that isdigit() took for a number."""
    return ["²", arabic(n), str(n).translate(_FULLWIDTH)]


NOT_NUMBERS = ["", "²", "١", "１", "߁", "৪", "1_0", "+1", "-1", " 1", "1 ", "1\n", "1.0", "0x1"]


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_only_ascii_digits_are_a_whole_number(text):
    assert numbers.whole(text) is None
    assert numbers.row_id(text) is None


def test_whole_numbers_and_row_ids():
    assert numbers.whole("0") == 0 and numbers.whole("007") == 7
    assert numbers.whole("9" * 100) == int("9" * 100)
    assert numbers.whole("9" * 101) is None  # far past any count; int() refuses 4,301
    assert numbers.row_id("2147483647") == 2**31 - 1
    assert numbers.row_id("2147483648") is None and numbers.row_id("0") is None


# The API


def test_an_api_lead_id_in_other_digits_is_404(client, owner):
    lid = create_lead_api(client, owner)["id"]
    for raw in [*not_ascii(lid), f"{lid}_0", f"%20{lid}"]:
        r = client.get(f"/api/v103/leads/{raw}", headers=owner.headers)
        assert r.status_code == 404, (raw, r.text)
        assert r.json()["message"].startswith("There is no lead")
        r = client.patch(f"/api/v103/leads/{raw}", json={"first_name": "X"}, headers=owner.headers)
        assert r.status_code == 404, (raw, r.text)
    assert client.get(f"/api/v103/leads/{lid}", headers=owner.headers).json()["first_name"] == (
        "Marla"
    )


@pytest.mark.parametrize("kind", ["superscript", "arabic"])
def test_a_status_id_in_other_digits_is_no_status(client, owner, kind):
    lead = create_lead_api(client, owner)
    with db.transaction() as s:
        contacted = s.scalar(select(Status.id).where(Status.name == "Contacted"))
    sent = "²" if kind == "superscript" else arabic(contacted)
    r = client.patch(f"/api/v103/leads/{lead['id']}", json={"status": sent}, headers=owner.headers)
    assert r.status_code == 422, r.text
    assert list(r.json()["errors"]) == ["status"]
    # The same id in ASCII digits is that status.
    r = client.patch(
        f"/api/v103/leads/{lead['id']}", json={"status": str(contacted)}, headers=owner.headers
    )
    assert r.json()["status"] == "Contacted"


@pytest.mark.parametrize("field", ["office_id", "property_bedrooms"])
def test_a_number_field_in_other_digits_is_422(client, owner, field):
    from tests.conftest import lead_body

    r = client.post("/api/v103/leads", json=lead_body(**{field: "١"}), headers=owner.headers)
    assert r.status_code == 422 and list(r.json()["errors"]) == [field]


def test_a_content_length_in_other_digits_is_not_a_crash(client, app, owner):
    """HTTP servers refuse such a header themselves; the app does not rely on it. (The test
    client sends headers as UTF-8, so the request is made at the ASGI level.)"""
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v103/leads",
        "raw_path": b"/api/v103/leads",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"x-api-key", owner.token.encode()),
            (b"content-type", b"application/json"),
            (b"content-length", "²".encode("latin-1")),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    client.portal.call(app, scope, receive, send)  # on the test client's event loop
    assert sent[0]["status"] == 422


# The dashboard


def admin(client, agency):
    sign_in(client, make_user(agency.account_id))


def test_a_page_address_in_other_digits_is_404(client, owner):
    lid = create_lead_api(client, owner)["id"]
    admin(client, owner)
    with db.transaction() as s:
        entry = s.scalar(select(RequestLog.id))
    for path, real in (
        ("/leads/{}", lid),
        ("/offices/{}", owner.offices["Derby"]),
        ("/developer/requests/{}", entry),
    ):
        assert client.get(path.format(real)).status_code == 200
        for raw in not_ascii(real):
            r = client.get(path.format(raw))
            assert r.status_code == 404, (path, raw, r.text)


def test_an_action_on_an_id_in_other_digits_is_404(client, owner):
    lid = create_lead_api(client, owner)["id"]
    admin(client, owner)
    r = post_form(client, "/statuses", {"name": "Viewing", "stage": "100"}, "/statuses")
    with db.transaction() as s:
        own = s.scalar(select(Status.id).where(Status.name == "Viewing"))
    for path, real in (
        ("/leads/{}/status", lid),
        ("/leads/{}/notes", lid),
        ("/statuses/{}/delete", own),
        ("/developer/tokens/{}/revoke", owner.token_id),
    ):
        for raw in not_ascii(real):
            r = post_form(client, path.format(raw), {"status_id": "1", "note": "x"})
            assert r.status_code == 404, (path, raw, r.text)
    with db.transaction() as s:
        assert s.get(ApiToken, owner.token_id).revoked_at is None
        assert s.get(Status, own) is not None


def test_inbox_filters_in_other_digits_are_not_applied(client, owner):
    create_lead_api(client, owner)
    admin(client, owner)
    with db.transaction() as s:
        new = s.scalar(select(Status.id).where(Status.name == "New"))
    everything = client.get("/leads").text.count("data-lead-id=")
    for query in (
        f"status={arabic(new)}",
        f"office={arabic(owner.offices['Nottingham'])}",
        "stage=٥٠",
        "status=²",
        "office=²",
        "stage=²",
        "page=²",
        "page=١",
    ):
        r = client.get(f"/leads?{query}")
        assert r.status_code == 200, query
        assert r.text.count("data-lead-id=") == everything, query
    # What the ASCII form of the same filter does: nothing matches Derby.
    derby = client.get(f"/leads?office={owner.offices['Derby']}").text
    assert derby.count("data-lead-id=") == 0


def test_request_log_filters_in_other_digits_are_not_applied(client, owner):
    client.get("/api/v103/leads/424242", headers=owner.headers)  # a 404 in the log
    admin(client, owner)
    for query in (f"token={arabic(owner.token_id)}", "token=²", "before=²", "before=١"):
        r = client.get(f"/developer?{query}")
        assert r.status_code == 200 and "/api/v103/leads/424242" in r.text, query
    for code in ("٤٠٤", "²²²"):
        r = client.get(f"/developer?status={code}")
        assert r.status_code == 200
        assert "is not a status filter" in r.text


def test_lead_actions_with_an_office_in_other_digits_change_nothing(client, owner):
    lead = create_lead_api(client, owner)
    assert lead["office_name"] == "Nottingham"
    admin(client, owner)
    derby = arabic(owner.offices["Derby"])
    for action, says in (("office", "Choose the office to move"), ("refer", "Choose the office")):
        for sent in (derby, "²"):
            r = post_form(client, f"/leads/{lead['id']}/{action}", {"office_id": sent})
            assert r.status_code == 303, r.text
            assert says in client.get(f"/leads/{lead['id']}").text
    r = post_form(client, f"/leads/{lead['id']}/status", {"status_id": "²"})
    assert r.status_code == 303
    assert "There is no status" in client.get(f"/leads/{lead['id']}").text
    api = client.get(f"/api/v103/leads/{lead['id']}", headers=owner.headers).json()
    assert (api["office_name"], api["status"]) == ("Nottingham", "New")
    assert client.get("/leads").text.count("data-lead-id=") == 1  # no referral copy


def test_a_status_stage_in_other_digits_is_refused(client, owner):
    admin(client, owner)
    for stage in ("٥٠", "²"):
        r = post_form(client, "/statuses", {"name": "Viewing", "stage": stage}, "/statuses")
        assert r.status_code == 422, r.text
        assert "The stage must be one of" in r.text
    with db.transaction() as s:
        assert s.scalar(select(Status).where(Status.name == "Viewing")) is None


def test_a_status_named_in_other_digits_is_a_name_not_an_id(client, owner):
    admin(client, owner)
    r = post_form(client, "/statuses", {"name": "١", "stage": "100"}, "/statuses")
    assert r.status_code == 303
    lead = create_lead_api(client, owner)
    r = client.patch(f"/api/v103/leads/{lead['id']}", json={"status": "١"}, headers=owner.headers)
    assert (r.json()["status"], r.json()["stage"]) == ("١", "In progress")
    r = post_form(client, "/statuses", {"name": "12", "stage": "100"}, "/statuses")
    assert r.status_code == 422 and "cannot be only digits" in r.text


def test_a_token_rate_limit_in_other_digits_is_refused(client, owner):
    admin(client, owner)
    for limit in ("١٠", "²"):
        r = post_form(
            client, "/developer/tokens", {"name": "Portal", "rate_limit": limit}, "/developer"
        )
        assert r.status_code == 422, r.text
        assert "a whole number" in r.text
    with db.transaction() as s:
        assert s.scalar(select(ApiToken).where(ApiToken.name == "Portal")) is None


# The command line


def test_the_cli_reads_a_stage_in_ascii_digits_only(owner):
    runner = CliRunner()
    base = ["statuses", "create", "--account", str(owner.account_id), "--name", "Viewing"]
    r = runner.invoke(cli, [*base, "--stage", "٥٠", "--json"])
    assert r.exit_code == 2 and "50/Unread" in r.output
    r = runner.invoke(cli, [*base, "--stage", "100", "--json"])
    assert r.exit_code == 0, r.output
