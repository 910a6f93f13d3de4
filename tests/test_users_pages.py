"""Users in the dashboard (issue 13 points 3, 4): the admin's Users page, every user's own
Account page, and the links that set a password."""

from __future__ import annotations

import re

from sqlalchemy import select

from doorstep import db
from doorstep.models import User
from doorstep.users import signin
from tests.factories import PASSWORD, UserInfo, make_user, page_csrf, post_form, sign_in


def admin_in(client, agency):
    user = make_user(agency.account_id)
    sign_in(client, user)
    return user


def user_id(email: str) -> int:
    with db.transaction() as s:
        found = s.scalar(select(User.id).where(User.email == email))
    assert found is not None
    return found


def link_of(html: str) -> str:
    m = re.search(r'id="link-value" type="text" readonly value="([^"]+)"', html)
    assert m, "no link on the page"
    return "/invite/" + m[1].rsplit("/invite/", 1)[1]


def set_password_by_link(client, path: str, password: str):
    return post_form(client, path, {"new_password": password, "repeat_password": password}, path)


def test_an_admin_invites_a_user_who_sets_a_password_once(client, second_client, owner):
    admin_in(client, owner)
    derby = str(owner.offices["Derby"])
    r = post_form(
        client,
        "/users",
        {"email": "Newbie@Agency.co.uk", "name": "Nia", "role": "agent", "offices": derby},
        "/users",
    )
    assert r.status_code == 200 and "Invitation for newbie@agency.co.uk" in r.text
    path = link_of(r.text)
    assert "/invite/" not in client.get("/users").text  # shown once
    page = second_client.get(path)
    assert page.status_code == 200 and "Set your password" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    bad = post_form(
        second_client, path, {"new_password": "short", "repeat_password": "short"}, path
    )
    assert bad.status_code == 422 and "at least 10 characters" in bad.text
    assert set_password_by_link(second_client, path, "a-long-new-password").status_code == 303
    token = page_csrf(second_client)
    r = second_client.post(
        "/login",
        data={
            "email": "newbie@agency.co.uk",
            "password": "a-long-new-password",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert second_client.get(path).status_code == 404  # used
    with db.transaction() as s:
        nia = s.get(User, user_id("newbie@agency.co.uk"))
        assert nia is not None and nia.role == "agent" and nia.name == "Nia"


def test_an_admin_adds_a_user_with_a_first_password(client, second_client, owner):
    admin_in(client, owner)
    r = post_form(
        client,
        "/users",
        {"email": "lead@agency.co.uk", "role": "leader", "password": "first-password-1"},
        "/users",
    )
    assert r.status_code == 303
    sign_in(
        second_client,
        UserInfo(0, 0, "lead@agency.co.uk", "first-password-1", ""),
    )
    assert second_client.get("/reports").status_code == 200


def test_bad_users_are_refused_naming_each_problem(client, owner, other):
    admin_in(client, owner)
    r = post_form(
        client,
        "/users",
        {"email": "not-an-email", "role": "boss", "password": "short"},
        "/users",
    )
    assert r.status_code == 422
    for words in ("valid email", "admin, leader or agent", "at least 10 characters"):
        assert words in r.text
    r = post_form(client, "/users", {"email": "a@agency.co.uk", "role": "agent"}, "/users")
    assert r.status_code == 422 and "at least one office" in r.text
    oxford = str(other.offices["Oxford"])
    r = post_form(
        client, "/users", {"email": "a@agency.co.uk", "role": "agent", "offices": oxford}, "/users"
    )
    assert r.status_code == 422 and f"no office {oxford}" in r.text


def test_role_offices_and_the_last_admin(client, owner):
    me = admin_in(client, owner)
    agent = make_user(owner.account_id, role="agent", offices=[owner.offices["Derby"]])
    notts = str(owner.offices["Nottingham"])
    r = post_form(
        client, f"/users/{agent.id}/update", {"role": "agent", "offices": notts}, "/users"
    )
    assert "role and offices saved" in client.get(r.headers["location"]).text
    from doorstep.users.service import office_ids_of

    with db.transaction() as s:
        assert office_ids_of(s, agent.id) == [owner.offices["Nottingham"]]
    r = post_form(client, f"/users/{me.id}/update", {"role": "leader"}, "/users")
    assert "last admin" in client.get(r.headers["location"]).text
    r = post_form(client, f"/users/{me.id}/disable", {}, "/users")
    assert "last admin" in client.get(r.headers["location"]).text


def test_disabling_ends_every_session_and_enabling_lets_them_back(client, second_client, owner):
    admin_in(client, owner)
    agent = make_user(owner.account_id, role="agent", offices=[owner.offices["Derby"]])
    sign_in(second_client, agent)
    post_form(client, f"/users/{agent.id}/disable", {}, "/users")
    assert second_client.get("/leads", follow_redirects=False).status_code == 303
    token = page_csrf(second_client)
    r = second_client.post(
        "/login", data={"email": agent.email, "password": PASSWORD, "csrf_token": token}
    )
    assert r.status_code == 401 and "disabled" in r.text
    post_form(client, f"/users/{agent.id}/enable", {}, "/users")
    sign_in(second_client, agent)


def test_reset_password_and_sign_out_everywhere_end_the_users_sessions(
    client, second_client, owner
):
    admin_in(client, owner)
    agent = make_user(owner.account_id, role="agent", offices=[owner.offices["Derby"]])
    sign_in(second_client, agent)
    post_form(client, f"/users/{agent.id}/sign-out", {}, "/users")
    assert second_client.get("/leads", follow_redirects=False).status_code == 303
    sign_in(second_client, agent)
    r = post_form(
        client, f"/users/{agent.id}/reset-password", {"password": "reset-by-admin-1"}, "/users"
    )
    assert r.status_code == 303
    assert second_client.get("/leads", follow_redirects=False).status_code == 303
    sign_in(second_client, UserInfo(0, 0, agent.email, "reset-by-admin-1", ""))
    # Empty: a link for them instead, and their sessions end.
    r = post_form(client, f"/users/{agent.id}/reset-password", {}, "/users")
    assert r.status_code == 200 and "Password reset link for" in r.text
    assert second_client.get("/leads", follow_redirects=False).status_code == 303


def test_an_admin_unlocks_a_slowed_sign_in(client, second_client, owner):
    admin_in(client, owner)
    agent = make_user(owner.account_id, role="agent", offices=[owner.offices["Derby"]])
    token = page_csrf(second_client)
    for _ in range(signin.EMAIL_FREE_FAILURES):
        second_client.post(
            "/login", data={"email": agent.email, "password": "no-no-no", "csrf_token": token}
        )
    assert "Sign-in slowed: 5 failed attempts" in client.get("/users").text
    post_form(client, f"/users/{agent.id}/unlock", {}, "/users")
    assert "Sign-in slowed" not in client.get("/users").text
    sign_in(second_client, agent)


def test_only_admins_manage_users_and_only_their_own_accounts(client, owner, other):
    sign_in(client, make_user(owner.account_id, role="leader"))
    assert client.get("/users").status_code == 403
    stranger = make_user(other.account_id)
    client.cookies.clear()
    admin_in(client, owner)
    r = post_form(client, f"/users/{stranger.id}/disable", {}, "/users")
    assert r.status_code == 404
    with db.transaction() as s:
        assert s.get(User, stranger.id).disabled_at is None


def test_every_user_changes_their_own_password_and_phone(client, second_client, owner):
    agent = make_user(owner.account_id, role="agent", offices=[owner.offices["Derby"]])
    sign_in(client, agent)
    sign_in(second_client, agent)
    assert "Your account" in client.get("/account").text
    r = post_form(
        client,
        "/account/password",
        {"current_password": "wrong-one", "new_password": "x", "repeat_password": "y"},
        "/account",
    )
    assert r.status_code == 422
    for words in ("not your current password", "not the same", "at least 10"):
        assert words in r.text
    r = post_form(
        client,
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": "brand-new-pass",
            "repeat_password": "brand-new-pass",
        },
        "/account",
    )
    assert r.status_code == 303
    assert client.get("/leads", follow_redirects=False).status_code == 200  # this session goes on
    assert second_client.get("/leads", follow_redirects=False).status_code == 303  # others end
    r = post_form(client, "/account/phone", {"phone": "0800 not a phone"}, "/account")
    assert r.status_code == 422 and "not a valid UK phone number" in r.text
    r = post_form(client, "/account/phone", {"phone": "07986 000 000"}, "/account")
    assert "Your phone is +447986000000." in client.get(r.headers["location"]).text
    with db.transaction() as s:
        assert s.get(User, agent.id).phone == "+447986000000"
    r = post_form(client, "/account/sign-out-everywhere", {}, "/account")
    assert r.headers["location"] == "/login"
    assert client.get("/leads", follow_redirects=False).status_code == 303


# The command line: the same operations, each with --json


def _cli(*args: str, stdin: str | None = None) -> dict:
    import json

    from typer.testing import CliRunner

    from doorstep.cli import app as cli

    r = CliRunner().invoke(cli, ["users", *args, "--json"], input=stdin)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_the_command_line_manages_users(engine, client, owner):
    derby = str(owner.offices["Derby"])
    made = _cli("create", "--account", str(owner.account_id), "--email", "cli@agency.co.uk",
                "--role", "agent", "--office", derby, "--invite")  # fmt: skip
    assert made["email"] == "cli@agency.co.uk" and "/invite/" in made["invitation_url"]
    path = "/invite/" + made["invitation_url"].rsplit("/invite/", 1)[1]
    assert set_password_by_link(client, path, "set-by-the-link").status_code == 303
    out = _cli("update", "cli@agency.co.uk", "--role", "leader", "--phone", "07986 000000")
    assert out["role"] == "leader" and out["phone"] == "+447986000000"
    sign_in(client, UserInfo(0, 0, "cli@agency.co.uk", "set-by-the-link", ""))
    assert _cli("sign-out", str(made["id"]))["sessions_ended"] == 1
    assert client.get("/leads", follow_redirects=False).status_code == 303
    assert _cli("disable", "cli@agency.co.uk")["disabled"] is True
    assert _cli("enable", "cli@agency.co.uk")["disabled"] is False
    token = page_csrf(client)
    for _ in range(3):
        client.post("/login", data={"email": "cli@agency.co.uk", "password": "nope-nope-1",
                                    "csrf_token": token})  # fmt: skip
    assert _cli("unlock", "cli@agency.co.uk")["failures_forgotten"] == 3
    out = _cli("reset-password", "cli@agency.co.uk", stdin="typed-at-the-prompt\n")
    assert out["email"] == "cli@agency.co.uk"
    sign_in(client, UserInfo(0, 0, "cli@agency.co.uk", "typed-at-the-prompt", ""))
    assert "/invite/" in _cli("reset-password", "cli@agency.co.uk", "--link")["reset_url"]
    listed = _cli("list", "--account", str(owner.account_id))["users"]
    assert [u["email"] for u in listed] == ["cli@agency.co.uk"]


def test_the_command_line_names_what_is_wrong(engine, owner):
    import json

    from typer.testing import CliRunner

    from doorstep.cli import app as cli

    r = CliRunner().invoke(cli, ["users", "disable", "nobody@agency.co.uk", "--json"])
    assert r.exit_code == 1 and "no user" in json.loads(r.stdout)["error"]
    admin = make_user(owner.account_id)
    r = CliRunner().invoke(cli, ["users", "update", admin.email, "--role", "agent", "--json"])
    assert r.exit_code == 1
    errors = json.loads(r.stdout)["errors"]
    assert "last admin" in " ".join(errors["role"]) and "office" in errors
    r = CliRunner().invoke(cli, ["users", "update", admin.email, "--phone", "12", "--json"])
    assert r.exit_code == 1 and "not a valid UK phone" in r.stdout
