from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.models.base import Base, UTCDateTime, utcnow


class ApiToken(Base):
    """A named API key. Only the SHA-256 of the secret is stored; it is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, so a user can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    # Requests per minute; None = the server default, 0 = unlimited.
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A publishable token may sit in a web page: it only creates leads and looks up addresses,
    # only from its origins (TokenOrigin). Like every token, it is shown once and stored only
    # as its hash; the hosted valuation page carries a signed key of its own (tokens.browser).
    publishable: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Requests per minute from one client address (publishable tokens); None = the server
    # default, 0 = unlimited.
    address_rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)


class TokenOrigin(Base):
    """A web origin (``https://www.agency.co.uk``) a publishable token may be used from. Indexed
    by origin: a CORS preflight carries no key, only its origin."""

    __tablename__ = "token_origins"
    __table_args__ = (UniqueConstraint("token_id", "origin"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    origin: Mapped[str] = mapped_column(String(255), index=True)


class RequestLog(Base):
    __tablename__ = "request_logs"
    __table_args__ = (
        Index("ix_request_logs_token", "token_id", "id"),
        Index("ix_request_logs_account", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign keys (migration 0021): every request writes a row, and a key would check and
    # share-lock the account's, the token's and the lead's rows for it, rows every request of
    # the account shares. None of them is ever deleted (a token is revoked, not deleted).
    account_id: Mapped[int] = mapped_column(Integer)
    token_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(2048))
    query: Mapped[str | None] = mapped_column(String(2048))
    status_code: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[float] = mapped_column()
    client_addr: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    body: Mapped[str | None] = mapped_column(Text)
    body_truncated: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(Text)
    lead_id: Mapped[int | None] = mapped_column(Integer)


class TokenUsage(Base):
    """Per-token totals of the request log up to ``last_log_id``, so usage figures need not
    count a token's whole log every time they are shown (see tokens.service.stats)."""

    __tablename__ = "token_usage"

    token_id: Mapped[int] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True
    )
    last_log_id: Mapped[int] = mapped_column(Integer, default=0)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    successes: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RateCounter(Base):
    """Requests per token per minute window, shared by every process using the database."""

    __tablename__ = "rate_counters"

    token_id: Mapped[int] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True
    )
    window: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class ClientRateCounter(Base):
    """Requests per publishable token per client address per minute window: a web page's key
    is public, so one visitor's script must not use up the whole token's limit."""

    __tablename__ = "client_rate_counters"

    token_id: Mapped[int] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True
    )
    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    window: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("account_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(2048))
    body_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
