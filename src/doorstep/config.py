"""One settings object, read from the environment (prefix ``DOORSTEP_``)."""

import ipaddress
from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENVIRONMENTS = ("development", "production")
MIN_SECRET_KEY_BYTES = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOORSTEP_", env_file=".env", extra="ignore")

    environment: str = Field("development", description="development | production")
    database_url: str = "sqlite:///./doorstep.db"
    # Connections per process (PostgreSQL), all kept open: overflow connections are opened
    # and closed with every burst, and under load that churn cost PostgreSQL more CPU than
    # the requests themselves (make bench). The database threads (db.in_thread) are as many,
    # so a request never waits for a connection once it has a thread. A server with N
    # workers holds N * (pool_size + max_overflow); keep that under max_connections.
    db_pool_size: int = 20
    db_max_overflow: int = 0
    # PostgreSQL: POST /leads with a secret token runs on the event loop through asyncpg
    # (leads/create_pg.py), one statement for the whole create; its pool holds up to
    # db_async_pool_size connections per process, beside the pool above. False: every
    # request takes the thread path (SQLAlchemy and psycopg), as on SQLite. 12, not 8: with
    # 16 creates in flight a process (make bench), 8 connections gave p99 113-140 ms, 12 gave
    # 67-79 ms for the same CPU a create. 16 gave 67 ms too, with no CPU saved: 12 leaves
    # more of PostgreSQL's max_connections to other hosts and processes.
    db_async: bool = True
    db_async_pool_size: int = Field(12, ge=1)
    rate_limit_per_minute: int = 600
    # A publishable token (a key in a web page) also limits each client address to this many
    # requests a minute, unless the token sets its own (0 = unlimited): one visitor's script
    # cannot use up the token's whole limit.
    publishable_address_limit_per_minute: int = Field(30, ge=0)
    max_body_bytes: int = 64 * 1024
    request_log_body_bytes: int = 16 * 1024
    idempotency_ttl_hours: int = 24
    # Request-log entries (they hold request bodies: personal data) are deleted after this
    # many days; 0 keeps them for ever. See retention.py.
    request_log_days: int = Field(90, ge=0)
    # How often each server worker prunes old request records; 0 = never (doorstep db prune).
    prune_interval_minutes: int = Field(60, ge=0)
    # Signs dashboard session cookies, CSRF tokens and links. Empty: a random key generated
    # on first start and kept in the database (auth/keys.py); never a key in the source.
    secret_key: str = ""
    # Durable work (jobs/): threads per worker, how long a claimed job stays a worker's
    # without its heartbeat, how often an idle worker looks for due work, and how long
    # finished jobs are kept (0 = for ever).
    worker_concurrency: int = Field(8, ge=1, le=256)
    job_lease_seconds: float = Field(60, gt=0)
    worker_poll_seconds: float = Field(1.0, gt=0)
    job_retention_days: int = Field(30, ge=0)
    # Webhooks (webhooks/) may go to loopback, private, link-local and other non-public
    # addresses only when this is on: off, nobody who can add an endpoint can make Doorstep
    # reach into its own network (SSRF).
    webhooks_allow_private: bool = False
    # Set by `doorstep serve` (unless --no-worker): each server process runs a worker.
    worker_in_process: bool = False
    log_level: str = "INFO"
    log_json: bool = True
    # Gross rental yields (percent) by region name, postcode area or district, over the
    # defaults in valuation/yields.py: DOORSTEP_RENTAL_YIELDS='{"London": 4.2, "NE": 7.5}'.
    rental_yields: dict[str, float] = Field(default_factory=dict)
    # Lead Responder delivery (docs: AUTOMATION.md). No SMTP URL: e-mails are recorded as not
    # sent. The URL's grammar is in responder/mail.py; check() refuses one that cannot work.
    smtp_url: str = ""
    # The sender when an office has no address of its own.
    mail_from: str = ""
    # Where Twilio's REST API is reached: an edge, or a simulator speaking the same API.
    twilio_api_url: str = "https://api.twilio.com"
    # Where people and providers reach Doorstep: links in messages (the lead's page in an
    # office alert, unsubscribe), provider callbacks.
    public_url: str = "http://127.0.0.1:8000"
    # /metrics on the public app answers only `Authorization: Bearer <this>`; unset, it is a
    # 404 there (`doorstep serve --metrics-port` serves it on a port of its own instead).
    metrics_token: str = ""
    # Under `doorstep serve --production`, the proxies whose X-Forwarded-For and
    # X-Forwarded-Proto are believed: comma-separated addresses or networks, "*" for any.
    forwarded_allow_ips: str = "127.0.0.1"

    @field_validator("environment", mode="before")
    @classmethod
    def _environment_name(cls, value: object) -> object:
        # "Production" and " production " are production, not an unknown name that slips
        # past the production checks.
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    def check(self) -> None:
        """Refuse settings a server must not start with (RuntimeError, saying which)."""
        # Imported when checking: everything imports config, so config imports no feature
        # package as it loads.
        from doorstep.responder.mail import SmtpUrlError, check_mail_from, check_smtp_url
        from doorstep.responder.sms import check_twilio_api_url

        if self.environment not in ENVIRONMENTS:
            raise RuntimeError(
                f"DOORSTEP_ENVIRONMENT must be one of {', '.join(ENVIRONMENTS)} "
                f"(it is {self.environment!r})."
            )
        if self.secret_key and len(self.secret_key.encode()) < MIN_SECRET_KEY_BYTES:
            raise RuntimeError(
                f"DOORSTEP_SECRET_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes "
                f"(it is {len(self.secret_key.encode())}); leave it unset and Doorstep "
                "generates a random key and keeps it in the database."
            )
        try:
            check_smtp_url(self.smtp_url)
        except SmtpUrlError as e:
            raise RuntimeError(f"DOORSTEP_SMTP_URL: {e}") from None
        try:
            check_mail_from(self.mail_from)
        except ValueError as e:
            raise RuntimeError(f"DOORSTEP_MAIL_FROM: {e}") from None
        try:
            check_twilio_api_url(self.twilio_api_url)
        except ValueError as e:
            raise RuntimeError(f"DOORSTEP_TWILIO_API_URL: {e}") from None
        check_forwarded_allow_ips(self.forwarded_allow_ips)


def check_forwarded_allow_ips(value: str) -> None:
    """Refuse what uvicorn would quietly take as a name no client ever has: a typo there
    would trust no proxy, and every request would look plain-HTTP from the proxy's address."""
    items = [item.strip() for item in value.split(",")]
    if items == ["*"]:
        return
    for item in items:
        try:
            if "/" in item:
                ipaddress.ip_network(item)
            else:
                ipaddress.ip_address(item)
        except ValueError:
            raise RuntimeError(
                f"DOORSTEP_FORWARDED_ALLOW_IPS: {item!r} is not an IP address or network "
                "(such as 10.0.0.5 or 10.0.0.0/24); separate several with commas, or give "
                '"*" alone to trust any address.'
            ) from None


@lru_cache
def get_settings() -> Settings:
    return Settings()
