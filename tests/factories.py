"""Users and signed-in clients for the dashboard tests."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from doorstep import db
from doorstep.users.service import create_user

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class UserInfo:
    id: int
    account_id: int
    email: str
    password: str
    role: str


def make_user(
    account_id: int,
    role: str = "admin",
    offices: Iterable[int] = (),
    email: str | None = None,
    password: str = PASSWORD,
) -> UserInfo:
    email = email or f"{role}-{account_id}-{len(list(offices))}@agency.example.com"
    with db.transaction() as s:
        u = create_user(s, account_id, email, password, role, list(offices))
        return UserInfo(u.id, account_id, u.email, password, role)


def csrf_from(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "the page has no CSRF token"
    return m.group(1)


def page_csrf(client: TestClient, path: str = "/login") -> str:
    r = client.get(path)
    return csrf_from(r.text)


def sign_in(client: TestClient, user: UserInfo, password: str | None = None) -> None:
    token = page_csrf(client, "/login")
    r = client.post(
        "/login",
        data={"email": user.email, "password": password or user.password, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def post_form(client: TestClient, path: str, data: dict[str, str], page: str | None = None):
    """Submit a dashboard form the way a browser does: with the CSRF token of a page."""
    token = page_csrf(client, page or "/leads")
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


def set_lead_values(lead_id: int, **values: Any) -> None:
    """Write columns of a stored lead directly (a valuation the API would have made, say)."""
    from sqlalchemy import update

    from doorstep.models import Lead

    with db.transaction() as s:
        s.execute(update(Lead).where(Lead.id == lead_id).values(**values))
