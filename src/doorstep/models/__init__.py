"""Every table, one module per aggregate. Importing this package registers them all."""

from doorstep.models.account import Account
from doorstep.models.base import Base
from doorstep.models.call import Call, CallCallback, CallLeg, OfficeAutocaller
from doorstep.models.geo import PostcodeUnit
from doorstep.models.instance import InstanceKey
from doorstep.models.job import Job
from doorstep.models.lead import Lead, LeadEvent
from doorstep.models.office import Office, OfficeCoverage
from doorstep.models.status import Status
from doorstep.models.telephony import TelephonySettings
from doorstep.models.token import (
    ApiToken,
    ClientRateCounter,
    IdempotencyKey,
    RateCounter,
    RequestLog,
    TokenOrigin,
    TokenUsage,
)
from doorstep.models.user import SignInFailure, User, UserOffice, UserSession
from doorstep.models.valuation import (
    PriceIndex,
    RentalEvidence,
    Sale,
    ValuationModel,
    ValuationPage,
)
from doorstep.models.webhook import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from doorstep.models.workflow import Questionnaire, Suppression, Workflow

__all__ = [
    "Account",
    "ApiToken",
    "Base",
    "Call",
    "CallCallback",
    "CallLeg",
    "ClientRateCounter",
    "IdempotencyKey",
    "InstanceKey",
    "Job",
    "Lead",
    "LeadEvent",
    "Office",
    "OfficeAutocaller",
    "OfficeCoverage",
    "PostcodeUnit",
    "PriceIndex",
    "Questionnaire",
    "RateCounter",
    "RentalEvidence",
    "RequestLog",
    "Sale",
    "SignInFailure",
    "Status",
    "Suppression",
    "TelephonySettings",
    "TokenOrigin",
    "TokenUsage",
    "User",
    "UserOffice",
    "UserSession",
    "ValuationModel",
    "ValuationPage",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "Workflow",
]
