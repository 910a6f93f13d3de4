"""Dashboard sessions and CSRF tokens.

The session lives on the server (``users.signin``, table ``user_sessions``): the cookie carries
its random id, signed, and only the id's hash is stored, so signing out, a password change,
disabling the user or "sign out everywhere" ends it for good, a replayed cookie included. The
cookie is HttpOnly, SameSite=Lax, and Secure whenever the request came over HTTPS (behind a
proxy, ``doorstep serve --production`` trusts X-Forwarded-Proto).

CSRF: a random value lives in its own HttpOnly cookie; every form carries an HMAC of it (the
token) and every unsafe request must present that token as the ``csrf_token`` field or the
``X-CSRF-Token`` header. Another site can make the browser send the cookie but cannot read
it, so it cannot compute the token. The login form is covered too, before any session."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from doorstep.auth import keys

SESSION_COOKIE = "doorstep_session"
CSRF_COOKIE = "doorstep_csrf"
FLASH_COOKIE = "doorstep_flash"
SESSION_MAX_AGE = 12 * 60 * 60  # a working day; then sign in again
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(keys.current(), salt=salt)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _set(request: Request, response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )


def start(request: Request, response: Response, session_id: str) -> None:
    token = _serializer("doorstep.session").dumps({"s": session_id})
    _set(request, response, SESSION_COOKIE, token, SESSION_MAX_AGE)
    # A fresh CSRF secret for the signed-in session (no token from before sign-in stays valid).
    new_csrf(request, response)


def end(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    new_csrf(request, response)


def read(request: Request) -> str | None:
    """The session id the cookie carries, if its signature holds (the server decides whether
    that session is still open)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        data = _serializer("doorstep.session").loads(raw, max_age=SESSION_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("s"), str):
        return None
    return str(data["s"])


def _token_for(secret: str) -> str:
    key = keys.current().encode()
    return hmac.new(key, b"csrf:" + secret.encode(), hashlib.sha256).hexdigest()


def new_csrf(request: Request, response: Response) -> None:
    secret = secrets.token_urlsafe(32)
    request.state.csrf_secret = secret
    _set(request, response, CSRF_COOKIE, secret, None)


def csrf_token(request: Request) -> str:
    """The token to put in this page's forms; creates the cookie's secret when there is none
    (``attach_csrf_cookie`` then sends it with the response)."""
    secret = getattr(request.state, "csrf_secret", None) or request.cookies.get(CSRF_COOKIE)
    if not secret:
        secret = secrets.token_urlsafe(32)
        request.state.csrf_secret = secret
        request.state.csrf_cookie_new = True
    return _token_for(secret)


def attach_csrf_cookie(request: Request, response: Response) -> None:
    if getattr(request.state, "csrf_cookie_new", False):
        _set(request, response, CSRF_COOKIE, request.state.csrf_secret, None)


def csrf_valid(request: Request, presented: str | None) -> bool:
    secret = request.cookies.get(CSRF_COOKIE)
    if not secret or not presented:
        return False
    return hmac.compare_digest(_token_for(secret), presented)


def set_flash(request: Request, response: Response, message: str, kind: str = "ok") -> None:
    value = _serializer("doorstep.flash").dumps({"m": message, "k": kind})
    _set(request, response, FLASH_COOKIE, value, 60)


def pop_flash(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = _serializer("doorstep.flash").loads(raw, max_age=60)
    except BadSignature:
        return None
    request.state.flash_consumed = True
    return {"message": str(data.get("m", "")), "kind": str(data.get("k", "ok"))}
