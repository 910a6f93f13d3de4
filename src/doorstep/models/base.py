from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, DateTime, MetaData, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Stored in UTC; shown, entered and counted by day in UK time (agencies are in the UK).
LONDON = ZoneInfo("Europe/London")


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_local_input(dt: datetime | None) -> str | None:
    """A stored time as the value of a ``datetime-local`` field, in UK time."""
    return dt.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M") if dt else None


def from_local_input(value: str) -> datetime:
    """A ``datetime-local`` field's value (UK time unless it names its offset); ValueError
    when it is not a date and time."""
    dt = datetime.fromisoformat(value)
    return dt.replace(tzinfo=LONDON) if dt.tzinfo is None else dt


def uk_midnight(d: date) -> datetime:
    """The start of a UK day: days are counted in the agencies' time, not UTC."""
    return datetime.combine(d, time(0), LONDON)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops the zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# JSON everywhere, JSONB on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
