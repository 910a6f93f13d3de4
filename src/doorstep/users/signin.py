"""Signing in, and the server-side sessions it opens.

The password hash (argon2, tens of milliseconds of CPU) is checked outside any transaction: on
SQLite a write transaction holds the database's one write lock, and sign-ins that hashed
inside one stalled every API create behind them. What is read first is read in a read-only
transaction; a failure is recorded afterwards in its own short one.

Limits, counted over the last 15 minutes in ``sign_in_failures`` (so they hold across
processes and hosts): after 5 failures for one e-mail address, each further attempt waits 30 s
after the last failure, doubling with every failure up to 15 minutes; 30 failures from one
client address (an IPv6 /64 as one) and that address waits until they age out. The e-mail
limit counts the address as typed, whether or not it belongs to anyone, so the answer never
tells which addresses exist; and it only slows attempts down: the user's live sessions go on.
An admin ends the wait at once ("unlock")."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from doorstep import db
from doorstep.auth.passwords import hash_password, needs_rehash, verify_password
from doorstep.models import SignInFailure, User, UserSession
from doorstep.models.base import utcnow

WINDOW = timedelta(minutes=15)
EMAIL_FREE_FAILURES = 5
FIRST_WAIT = 30  # seconds, doubled for every failure past the free ones
MAX_WAIT = 15 * 60
ADDRESS_FAILURES = 30
SESSION_LIFETIME = timedelta(hours=12)  # a working day; then sign in again
LAST_SEEN_EVERY = timedelta(minutes=5)
WRONG = "The email or password is not right."
# No password is longer (users.service refuses one on setting it); a longer attempt is wrong
# without being hashed, so a huge body cannot buy argon2 time.
MAX_PASSWORD = 1024


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()[:320]


def email_key(email: str) -> str:
    return "e:" + normalise_email(email)


def address_key(client: str) -> str:
    from doorstep.tokens.browser import client_key

    return "a:" + client_key(client)


def hash_session(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Attempt:
    user_id: int | None = None
    token: str | None = None  # the new session's id, for the cookie
    message: str | None = None
    retry_after: int | None = None  # seconds, when the limits refuse the attempt


def _wait(session: Session, keys: tuple[str, str], now: datetime) -> tuple[int, str] | None:
    """Seconds to wait and why, if the limits refuse an attempt now."""
    by_email, by_address = keys
    since = now - WINDOW
    rows = session.execute(
        select(
            SignInFailure.key, func.count(), func.min(SignInFailure.at), func.max(SignInFailure.at)
        )
        .where(SignInFailure.key.in_(keys), SignInFailure.at > since)
        .group_by(SignInFailure.key)
    ).all()
    found = {k: (n, first, last) for k, n, first, last in rows}
    if by_address in found and found[by_address][0] >= ADDRESS_FAILURES:
        wait = (found[by_address][1] + WINDOW - now).total_seconds()
        if wait > 0:
            minutes = max(1, round(wait / 60))
            return int(wait) + 1, (
                "Too many failed sign-ins from your network: try again in "
                f"{minutes} minute{'s' if minutes != 1 else ''}."
            )
    if by_email in found and found[by_email][0] >= EMAIL_FREE_FAILURES:
        n, _first, last = found[by_email]
        delay = min(MAX_WAIT, FIRST_WAIT * 2 ** (n - EMAIL_FREE_FAILURES))
        wait = (last + timedelta(seconds=delay) - now).total_seconds()
        if wait > 0:
            return int(wait) + 1, (
                "Too many failed sign-ins for this email address: try again in "
                f"{_duration(int(wait) + 1)}, or ask an admin to unlock it."
            )
    return None


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{round(seconds / 60)} minutes"


@dataclass(frozen=True)
class _Found:
    keys: tuple[str, str]
    user_id: int | None
    password_hash: str | None
    disabled: bool


# Password hashes are checked here, one at a time per server process, never on the database
# threads: sixty sign-ins at once hashing on those threads took every one of them, and API
# creates queued behind the hashes for seconds. One at a time also keeps a burst of sign-ins
# from taking every core from the requests beside them.
_HASHING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="doorstep-hash")


def _look_up(email: str, client: str, now: datetime) -> Attempt | _Found:
    """The limits, then the user: in a read-only transaction (no write lock on SQLite)."""
    keys = (email_key(email), address_key(client))
    with Session(db.reader(db.get_engine())) as s:
        refused = _wait(s, keys, now)
        if refused is not None:
            return Attempt(message=refused[1], retry_after=refused[0])
        row = s.execute(
            select(User.id, User.password_hash, User.disabled_at).where(
                User.email == normalise_email(email)
            )
        ).first()
    if row is None:
        return _Found(keys, None, None, False)
    return _Found(keys, row.id, row.password_hash, row.disabled_at is not None)


def _record(
    found: _Found,
    right: bool,
    password: str,
    client: str,
    user_agent: str | None,
    now: datetime,
) -> Attempt:
    """The outcome, in one short write transaction."""
    if found.user_id is None or not right:
        with db.transaction() as s:
            s.add_all(SignInFailure(key=k, at=now) for k in found.keys)
        return Attempt(message=WRONG)
    if found.disabled:
        return Attempt(message="This user is disabled. Ask an admin of your account.")
    token = secrets.token_urlsafe(32)
    with db.transaction() as s:
        s.execute(delete(SignInFailure).where(SignInFailure.key == found.keys[0]))
        open_session(s, found.user_id, token, client, user_agent, now)
        if found.password_hash and needs_rehash(found.password_hash):
            s.execute(
                update(User)
                .where(User.id == found.user_id)
                .values(password_hash=hash_password(password))
            )
    return Attempt(user_id=found.user_id, token=token)


async def attempt(
    email: str, password: str, client: str, user_agent: str | None, now: datetime | None = None
) -> Attempt:
    """Check a sign-in; on success open a session. A read, the hash with nothing held, a
    short write: each on its own thread, the hash on the hashing thread."""
    now = now or utcnow()
    found = await db.in_thread(_look_up, email, client, now)
    if isinstance(found, Attempt):
        return found
    loop = asyncio.get_running_loop()
    right = len(password) <= MAX_PASSWORD and await loop.run_in_executor(
        _HASHING, verify_password, found.password_hash, password
    )
    return await db.in_thread(_record, found, right, password, client, user_agent, now)


def open_session(
    session: Session,
    user_id: int,
    token: str,
    client: str | None,
    user_agent: str | None,
    now: datetime | None = None,
) -> None:
    now = now or utcnow()
    session.add(
        UserSession(
            token_hash=hash_session(token),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + SESSION_LIFETIME,
            client_addr=(client or "")[:64] or None,
            user_agent=(user_agent or "")[:255] or None,
        )
    )
    session.flush()


def user_of_session(session: Session, token: str, now: datetime | None = None) -> User | None:
    """The live, enabled user of a session id, or None (ended, expired, or disabled)."""
    now = now or utcnow()
    row = session.execute(
        select(User, UserSession)
        .join(UserSession, UserSession.user_id == User.id)
        .where(
            UserSession.token_hash == hash_session(token),
            UserSession.expires_at > now,
            User.disabled_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    user, live = row
    if now - live.last_seen_at > LAST_SEEN_EVERY:
        live.last_seen_at = now
    return user


def end_session(session: Session, token: str) -> None:
    session.execute(delete(UserSession).where(UserSession.token_hash == hash_session(token)))


def end_sessions(session: Session, user_id: int, keep: str | None = None) -> int:
    """End every session of the user (but ``keep``, the one making the change). Returns how
    many ended."""
    q = delete(UserSession).where(UserSession.user_id == user_id)
    if keep is not None:
        q = q.where(UserSession.token_hash != hash_session(keep))
    return int(session.execute(q).rowcount or 0)  # type: ignore[attr-defined]


def unlock(session: Session, email: str) -> int:
    """End the e-mail address's wait (its failures are forgotten). Returns how many."""
    result = session.execute(delete(SignInFailure).where(SignInFailure.key == email_key(email)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def recent_failures(
    session: Session, emails: list[str], now: datetime | None = None
) -> dict[str, int]:
    """Failed sign-ins in the window, per e-mail address (for the Users page)."""
    if not emails:
        return {}
    since = (now or utcnow()) - WINDOW
    rows = session.execute(
        select(SignInFailure.key, func.count())
        .where(SignInFailure.key.in_([email_key(e) for e in emails]), SignInFailure.at > since)
        .group_by(SignInFailure.key)
    ).all()
    return {k.removeprefix("e:"): int(n) for k, n in rows}


def prune(session: Session, now: datetime | None = None) -> int:
    """Expired sessions and failures past the window."""
    now = now or utcnow()
    a = session.execute(delete(UserSession).where(UserSession.expires_at <= now))
    b = session.execute(delete(SignInFailure).where(SignInFailure.at <= now - WINDOW))
    return int(a.rowcount or 0) + int(b.rowcount or 0)  # type: ignore[attr-defined]
