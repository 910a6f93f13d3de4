"""`doorstep users create`, the demo admin, and which error body each kind of path gets."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from doorstep.cli import app as cli
from doorstep.demo import ensure_demo
from tests.factories import make_user, sign_in

runner = CliRunner()


def test_users_create_reads_the_password_from_stdin(client, owner):
    notts = owner.offices["Nottingham"]
    r = runner.invoke(
        cli,
        [
            "users", "create", "--account", str(owner.account_id),
            "--email", "Agent@Agency.Example.com", "--role", "agent", "--office", str(notts),
            "--json",
        ],
        input="a long enough password\n",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["email"] == "agent@agency.example.com"
    assert (out["role"], out["office_ids"], out["account_id"]) == (
        "agent",
        [notts],
        owner.account_id,
    )
    # The password works in the dashboard.
    from tests.factories import UserInfo

    sign_in(
        client,
        UserInfo(out["id"], owner.account_id, out["email"], "a long enough password", "agent"),
    )
    assert client.get("/leads").status_code == 200


def test_users_create_refuses_bad_input_clearly(owner, other):
    base = [
        "users",
        "create",
        "--account",
        str(owner.account_id),
        "--email",
        "x@agency.example.com",
    ]
    r = runner.invoke(cli, [*base, "--role", "agent"], input="a long enough password\n")
    assert r.exit_code == 1 and "at least one office" in r.output
    r = runner.invoke(
        cli,
        [*base, "--role", "agent", "--office", str(other.offices["Oxford"])],
        input="a long enough password\n",
    )
    assert r.exit_code == 1 and f"There is no office {other.offices['Oxford']}" in r.output
    r = runner.invoke(cli, [*base, "--role", "boss"], input="short\n")
    assert r.exit_code == 1
    assert "admin, leader or agent" in r.output and "at least 10 characters" in r.output
    r = runner.invoke(cli, [*base, "--role", "admin"], input="")
    assert r.exit_code == 1 and "No password given" in r.output


def test_offices_list_json_still_works(owner):
    r = runner.invoke(cli, ["offices", "list", "--account", str(owner.account_id), "--json"])
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert [o["name"] for o in out["offices"]] == ["Derby", "Nottingham"]


def test_demo_has_an_admin_whose_printed_password_works(client, engine):
    from doorstep import db

    with db.transaction() as s:
        d = ensure_demo(s)
    from tests.factories import UserInfo

    sign_in(client, UserInfo(0, d.account.id, d.admin_email, d.admin_password, "admin"))
    assert "Sign out" in client.get("/developer").text
    # Running it again gives a new password and the old one stops working.
    with db.transaction() as s:
        again = ensure_demo(s)
    assert again.admin_password != d.admin_password
    r = runner.invoke(cli, ["demo", "--json"])
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert out["admin_email"] == "admin@doorstep.example" and out["admin_password"]


def test_api_errors_stay_json(client, owner):
    r = client.get("/api/v103/leads/999999", headers=owner.headers)
    assert r.status_code == 404 and r.json() == {"message": "There is no lead 999999."}
    r = client.get("/api/v103/nothing-here")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")


def test_dashboard_errors_are_html_pages(client, owner):
    r = client.get("/no-such-page")
    assert r.status_code == 404 and "<html" in r.text and "Page not found" in r.text
    sign_in(client, make_user(owner.account_id))
    r = client.get("/leads/424242")
    assert r.status_code == 404 and "There is no lead 424242." in r.text
    assert "Back to the inbox" in r.text


def test_htmx_fragment_errors_become_toasts(client, owner):
    sign_in(client, make_user(owner.account_id))
    r = client.get("/developer/requests/424242", headers={"HX-Request": "true"})
    assert r.status_code == 404
    assert r.headers["HX-Retarget"] == "#toasts" and r.headers["HX-Reswap"] == "beforeend"
    assert 'class="toast toast-error"' in r.text and "<html" not in r.text


def test_an_internal_error_on_a_page_is_an_html_page_without_internals(app, owner, monkeypatch):
    from fastapi.testclient import TestClient

    from doorstep.reports import service

    def boom(*a, **k):
        raise RuntimeError("secret database password in a traceback")

    monkeypatch.setattr(service, "leads_per_day", boom)
    with TestClient(app, raise_server_exceptions=False) as c:
        sign_in(c, make_user(owner.account_id))
        r = c.get("/reports")
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("text/html")
    assert "secret" not in r.text and "Something went wrong" in r.text
    assert r.headers["x-request-id"] in r.text


def test_nul_characters_are_refused_not_stored(client, owner):
    from tests.conftest import create_lead_api
    from tests.factories import post_form

    lead = create_lead_api(client, owner)
    sign_in(client, make_user(owner.account_id))
    r = post_form(client, f"/leads/{lead['id']}/notes", {"note": "a\x00b"})
    assert r.status_code == 422 and "NUL" in r.text
    r = post_form(client, "/offices", {"name": "Bad\x00", "postcode": ""}, "/offices")
    assert r.status_code == 422
    assert client.get("/leads?q=x%00y").status_code == 422
    assert "a\x00b" not in client.get(f"/leads/{lead['id']}").text


def test_a_wrong_method_on_a_page_is_405_naming_the_right_one(client):
    r = client.get("/logout")
    assert r.status_code == 405 and "<html" in r.text
    assert r.headers["allow"] == "POST"
    r = client.delete("/login")
    assert r.headers["allow"] == "GET, POST"
