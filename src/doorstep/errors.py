"""Domain errors carry their HTTP status; one handler renders them as the API error body."""

from typing import Any


class DoorstepError(Exception):
    status_code = 400

    def __init__(
        self,
        message: str,
        *,
        errors: dict[str, list[str]] | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors
        self.headers = headers
        if status_code is not None:
            self.status_code = status_code

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            out["errors"] = self.errors
        return out


class MalformedJSON(DoorstepError):
    status_code = 400


class Unauthorized(DoorstepError):
    status_code = 401


class NotFound(DoorstepError):
    status_code = 404

    def __init__(self, message: str = "Not found.") -> None:
        super().__init__(message)


class Conflict(DoorstepError):
    status_code = 409


class PayloadTooLarge(DoorstepError):
    status_code = 413


class UnsupportedMediaType(DoorstepError):
    status_code = 415


class ValidationFailed(DoorstepError):
    status_code = 422

    def __init__(self, errors: dict[str, list[str]], message: str | None = None) -> None:
        fields = ", ".join(errors)
        super().__init__(message or f"The given data was invalid: {fields}.", errors=errors)

    @classmethod
    def field(cls, field: str, reason: str) -> "ValidationFailed":
        return cls({field: [reason]})

    @property
    def reasons(self) -> str:
        """Every field's reasons as one text, for a page that shows them in one message."""
        return " ".join(r for rs in (self.errors or {}).values() for r in rs) or self.message


class RateLimited(DoorstepError):
    status_code = 429


# Row ids are INTEGER columns: PostgreSQL refuses a larger number in a query ("integer out of
# range"), so a larger id is known not to exist before any query is made.
MAX_ID = 2**31 - 1


def is_row_id(value: int) -> bool:
    return 1 <= value <= MAX_ID
