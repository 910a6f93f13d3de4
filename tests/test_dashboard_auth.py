"""Sign-in, sessions, CSRF, lock-out and role checks of the dashboard."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from doorstep import db
from doorstep.models import LeadEvent, UserSession
from doorstep.users import signin
from tests.conftest import create_lead_api
from tests.factories import PASSWORD, make_user, page_csrf, post_form, sign_in

PAGES = ["/leads", "/offices", "/statuses", "/developer", "/reports"]


def test_login_page_has_labelled_fields(client):
    r = client.get("/login")
    assert r.status_code == 200
    assert '<label for="email">Email</label>' in r.text
    assert '<label for="password">Password</label>' in r.text
    assert ">Sign in</button>" in r.text


@pytest.mark.parametrize("path", [*PAGES, "/leads/1"])
def test_it_sends_anonymous_visitors_to_sign_in(client, path):
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")


def test_htmx_requests_without_a_session_are_told_to_navigate(client):
    r = client.get("/leads", headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.headers["HX-Redirect"].startswith("/login")


def test_it_signs_in_with_a_hardened_cookie(client, owner):
    user = make_user(owner.account_id)
    token = page_csrf(client)
    r = client.post(
        "/login",
        data={"email": user.email.upper(), "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/leads"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("doorstep_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here; see the HTTPS test
    assert client.get("/leads").status_code == 200


def test_session_cookie_is_secure_behind_https(app, owner):
    from fastapi.testclient import TestClient

    user = make_user(owner.account_id)
    with TestClient(app, base_url="https://testserver") as c:
        token = page_csrf(c)
        r = c.post(
            "/login",
            data={"email": user.email, "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        cookie = next(
            h for h in r.headers.get_list("set-cookie") if h.startswith("doorstep_session=")
        )
        assert "Secure" in cookie


def test_wrong_password_and_unknown_email_get_the_same_answer(client, owner):
    user = make_user(owner.account_id)
    token = page_csrf(client)
    wrong = client.post(
        "/login", data={"email": user.email, "password": "nope-nope-nope", "csrf_token": token}
    )
    unknown = client.post(
        "/login",
        data={"email": "nobody@agency.example.com", "password": "x" * 12, "csrf_token": token},
    )
    assert wrong.status_code == unknown.status_code == 401
    assert "The email or password is not right." in wrong.text
    assert "The email or password is not right." in unknown.text
    assert client.get("/leads", follow_redirects=False).status_code == 303


def _try(client, email: str, password: str, token: str):
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def test_failures_slow_an_email_down_without_ending_its_live_sessions(client, second_client, owner):
    """Five failures for an address, then each attempt waits (30 s, doubling): the same for
    an address nobody has, and the user's open session goes on (a stranger cannot sign them
    out by failing on purpose)."""
    user = make_user(owner.account_id)
    sign_in(second_client, user)
    token = page_csrf(client)
    for email in (user.email, "nobody@agency.example.com"):
        for _ in range(5):
            assert _try(client, email, "wrong-password", token).status_code == 401
        r = _try(client, email, PASSWORD, token)  # even the right password waits now
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 20
        assert "Too many failed sign-ins for this email address: try again in" in r.text
    assert second_client.get("/leads", follow_redirects=False).status_code == 200
    with db.transaction() as s:
        assert signin.recent_failures(s, [user.email])[user.email] == 5


def test_an_admin_unlocks_an_email_at_once(client, owner):
    user = make_user(owner.account_id, role="agent", offices=[owner.offices["Derby"]])
    token = page_csrf(client)
    for _ in range(6):
        _try(client, user.email, "wrong-password", token)
    assert _try(client, user.email, PASSWORD, token).status_code == 429
    with db.transaction() as s:
        assert signin.unlock(s, user.email) >= 5
    sign_in(client, user)


def test_one_network_failing_on_many_emails_is_slowed_down(client, owner):
    token = page_csrf(client)
    for i in range(signin.ADDRESS_FAILURES):
        assert _try(client, f"guess{i}@agency.example.com", "x" * 12, token).status_code == 401
    r = _try(client, "another@agency.example.com", "x" * 12, token)
    assert r.status_code == 429 and "from your network" in r.text


def test_a_success_clears_the_emails_failures(client, owner):
    user = make_user(owner.account_id)
    token = page_csrf(client)
    for _ in range(4):
        assert _try(client, user.email, "bad", token).status_code == 401
    with db.transaction() as s:
        assert signin.recent_failures(s, [user.email]) == {user.email: 4}
    sign_in(client, user)
    with db.transaction() as s:
        assert signin.recent_failures(s, [user.email]) == {}


def test_login_without_csrf_token_is_refused(client, owner):
    user = make_user(owner.account_id)
    client.get("/login")
    r = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert r.status_code == 403
    assert "expired" in r.text
    assert client.get("/leads", follow_redirects=False).status_code == 303


def test_forms_without_a_valid_csrf_token_change_nothing(client, owner):
    lead = create_lead_api(client, owner)
    sign_in(client, make_user(owner.account_id))
    for data in ({"note": "hello"}, {"note": "hello", "csrf_token": "forged"}):
        r = client.post(f"/leads/{lead['id']}/notes", data=data, follow_redirects=False)
        assert r.status_code == 403
    r = client.post(
        f"/leads/{lead['id']}/notes",
        data={"note": "hello"},
        headers={"X-CSRF-Token": "forged"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    with db.transaction() as s:
        assert s.scalars(select(LeadEvent).where(LeadEvent.kind == "note")).all() == []
    ok = post_form(client, f"/leads/{lead['id']}/notes", {"note": "hello"})
    assert ok.status_code == 303


def test_sign_out_ends_the_session(client, owner):
    sign_in(client, make_user(owner.account_id))
    r = post_form(client, "/logout", {})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.get("/leads", follow_redirects=False).status_code == 303


def test_a_cookie_replayed_after_sign_out_opens_nothing(client, second_client, owner):
    sign_in(client, make_user(owner.account_id))
    cookie = client.cookies.get("doorstep_session")
    second_client.cookies.set("doorstep_session", cookie)
    assert second_client.get("/leads", follow_redirects=False).status_code == 200
    post_form(client, "/logout", {})
    assert second_client.get("/leads", follow_redirects=False).status_code == 303
    with db.transaction() as s:
        assert s.scalars(select(UserSession)).all() == []  # ended on the server


def test_it_never_redirects_to_another_site(client, owner):
    user = make_user(owner.account_id)
    token = page_csrf(client)
    r = client.post(
        "/login",
        data={
            "email": user.email,
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example.com/",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/leads"


def test_an_agent_sees_leads_but_not_the_admin_pages(client, owner):
    sign_in(client, make_user(owner.account_id, "agent", [owner.offices["Nottingham"]]))
    assert client.get("/leads").status_code == 200
    for path in ["/offices", "/statuses", "/developer", "/reports"]:
        r = client.get(path)
        assert r.status_code == 403, path
        assert "<html" in r.text
    nav = client.get("/leads").text
    assert 'href="/developer"' not in nav and 'href="/reports"' not in nav


def test_a_leader_sees_reports_but_not_the_admin_pages(client, owner):
    sign_in(client, make_user(owner.account_id, "leader"))
    assert client.get("/reports").status_code == 200
    assert client.get("/offices").status_code == 403


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_for_an_admin(client, owner, path):
    sign_in(client, make_user(owner.account_id))
    r = client.get(path)
    assert r.status_code == 200
    assert "<h1>" in r.text
    assert "Sign out" in r.text


def test_about_page_keeps_its_attribution_inside_the_layout(client):
    r = client.get("/about")
    assert r.status_code == 200
    assert "Contains OS data © Crown copyright and database right 2025" in r.text
    assert "/static/app.css" in r.text


def test_static_files_are_served_locally(client):
    r = client.get("/static/htmx.min.js")
    assert r.status_code == 200 and "htmx" in r.text[:200]
    assert "unpkg.com" not in client.get("/login").text


def test_a_password_longer_than_any_is_wrong_not_cut_to_fit(client, owner):
    """Sign-in used to cut what was typed to 1,024 characters, so a longest password with
    anything after it opened the account."""
    longest = "p" * signin.MAX_PASSWORD
    user = make_user(owner.account_id, password=longest)
    token = page_csrf(client)
    assert _try(client, user.email, longest + "tail", token).status_code == 401
    sign_in(client, user, longest)
