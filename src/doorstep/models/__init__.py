"""Every table, one module per aggregate. Importing this package registers them all."""

from doorstep.models.account import Account
from doorstep.models.base import Base
from doorstep.models.geo import PostcodeUnit
from doorstep.models.lead import Lead, LeadEvent
from doorstep.models.office import Office, OfficeCoverage
from doorstep.models.status import Status
from doorstep.models.token import ApiToken, IdempotencyKey, RateCounter, RequestLog
from doorstep.models.user import User, UserOffice

__all__ = [
    "Account",
    "ApiToken",
    "Base",
    "IdempotencyKey",
    "Lead",
    "LeadEvent",
    "Office",
    "OfficeCoverage",
    "PostcodeUnit",
    "RateCounter",
    "RequestLog",
    "Status",
    "User",
    "UserOffice",
]
