"""Sign-in, sessions, CSRF, lock-out and role checks of the dashboard."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from doorstep import db
from doorstep.models import LeadEvent, User
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


def test_it_locks_a_user_out_after_five_failures(client, second_client, owner):
    user = make_user(owner.account_id)
    sign_in(second_client, user)  # an existing session, signed out by the lock-out
    token = page_csrf(client)
    for _ in range(5):
        r = client.post(
            "/login", data={"email": user.email, "password": "wrong-password", "csrf_token": token}
        )
    assert "locked" in r.text
    r = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 401 and "locked" in r.text
    with db.transaction() as s:
        u = s.scalar(select(User).where(User.id == user.id))
        assert u is not None and u.locked_until is not None
    assert second_client.get("/leads", follow_redirects=False).status_code == 303


def test_a_success_resets_the_failure_count(client, owner):
    user = make_user(owner.account_id)
    token = page_csrf(client)
    for _ in range(4):
        r = client.post(
            "/login", data={"email": user.email, "password": "bad", "csrf_token": token}
        )
        assert r.status_code == 401
    with db.transaction() as s:
        assert s.get(User, user.id).failed_logins == 4
    sign_in(client, user)
    with db.transaction() as s:
        assert s.get(User, user.id).failed_logins == 0


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
