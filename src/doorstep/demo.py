"""The demo account that ``make run`` sets up: real offices with real coverage."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.accounts.service import create_account
from doorstep.auth.passwords import hash_password
from doorstep.autocaller import settings as autocaller
from doorstep.models import Account, User, ValuationPage
from doorstep.offices.contact import OfficeContact, set_contact
from doorstep.offices.service import create_office, list_offices
from doorstep.responder.service import import_many, list_workflows
from doorstep.telephony import service as telephony
from doorstep.telephony.service import TelephonyInput
from doorstep.tokens.service import create_token, list_tokens, revoke_token
from doorstep.users import signin
from doorstep.users.service import create_user
from doorstep.valuepage import service as valuepage

DEMO_ACCOUNT = "Demo Brand"
DEMO_TOKEN_NAME = "Demo token (make run)"
DEMO_PAGE_TOKEN_NAME = "Demo website (make run)"
DEMO_PAGE_ORIGINS = ("http://127.0.0.1:8000", "http://localhost:8000")
DEMO_PAGE_SLUG = "demo-brand"
DEMO_ADMIN_EMAIL = "admin@doorstep.example"

# name, the office's own postcode, coverage
DEMO_OFFICES: tuple[tuple[str, str, str], ...] = (
    ("Nottingham", "NG1 5FS", "NG1,NG2,NG3,NG5,NG7,NG8,NG9"),
    ("Derby", "DE1 1JX", "DE1,DE21,DE22,DE23,DE24,DE3"),
    ("Oxford", "OX1 1AA", "OX1,OX2,OX3,OX4"),
    ("Banbury", "OX16 5AA", "OX15,OX16,OX17"),
    ("Wimbledon", "SW19 1AA", "SW19,SW20"),
    ("Newcastle", "NE1 1EE", "NE1,NE2,NE3,NE4,NE5,NE6,NE7,NE12,NE13,NE15,NE27"),
    ("Manchester", "M1 1AD", "M,BL,OL,SK,WN,WA14,WA15"),
)
# The autocaller's demo: every office's calls go to the Twilio simulator that `make run`
# starts beside the server (`doorstep simulator`), which plays the phones. These credentials
# are the simulator's own and work nowhere else; the numbers are only ever "rung" by it.
DEMO_TWILIO_SID = "AC" + "d0" * 16
DEMO_TWILIO_TOKEN = "d0" * 16
DEMO_SIMULATOR_PORT = 8010
DEMO_OFFICE_NUMBERS = {
    "Nottingham": "+441159000000", "Derby": "+441332900000", "Oxford": "+441865900000",
    "Banbury": "+441295900000", "Wimbledon": "+442089000000", "Newcastle": "+441919000000",
    "Manchester": "+441619000000",
}  # fmt: skip
DEMO_NEGOTIATORS = ["+447986000001", "+447986000002"]
DEMO_ADMIN_PHONE = "+447986000009"
# Any hour, so a newcomer sees a call whenever they try; a real office sets its own.
DEMO_CALLING_HOURS = "Mon-Sun 00:00-24:00"


DEMO_HOURS = "Mon-Fri 09:00-17:30, Sat 09:00-13:00"
DEMO_WORKFLOW = {
    "name": "Instant reply to every lead",
    "enabled": True,
    "trigger": "lead.created",
    "steps": [
        {
            "after": "0s",
            "action": "email_lead",
            "subject": "Thank you, {{ lead.first_name }}: {{ office.name or account.name }} "
            "has your enquiry",
            "body": "Hello {{ lead.first_name }},\n\nThank you for getting in touch with "
            "{{ account.name }}. {{ office.name or 'Our team' }} has your enquiry and will "
            "call you shortly.\n\n{{ office.sender_name or account.name }}\n",
        },
        {"after": "0s", "action": "notify_office"},
    ],
}


@dataclass
class Demo:
    account: Account
    token: str
    created: bool
    admin_email: str
    admin_password: str
    valuation_page: str | None = None  # its path, /value/...


def ensure_demo(session: Session) -> Demo:
    account = session.scalar(select(Account).where(Account.name == DEMO_ACCOUNT).limit(1))
    created = account is None
    if account is None:
        account = create_account(session, DEMO_ACCOUNT)
    existing = {o.name for o in list_offices(session, account.id)}
    for name, postcode, coverage in DEMO_OFFICES:
        if name not in existing:
            office = create_office(session, account.id, name, postcode, [coverage])
            slug = name.lower()
            set_contact(
                session,
                office,
                OfficeContact(
                    email=f"{slug}@demo-brand.example",
                    sender_name=f"Demo Brand {name}",
                    opening_hours=DEMO_HOURS,
                ),
            )
    # The Lead Responder's demo: every lead answered at once and its office alerted (with
    # no SMTP server set, the lead's timeline shows them as not sent).
    if not list_workflows(session, account.id):
        import_many(session, account.id, [DEMO_WORKFLOW])
    _demo_calls(session, account)
    # A token is shown once, so every run makes a new one; the previous run's is revoked
    # rather than left to pile up in the Developer tab.
    for old in list_tokens(session, account.id):
        if old.name == DEMO_TOKEN_NAME and old.revoked_at is None:
            revoke_token(session, account.id, old.id)
    token = create_token(session, account.id, DEMO_TOKEN_NAME)
    # A fresh password on every run: it is printed, never stored in clear or shipped.
    password = secrets.token_urlsafe(12)
    admin = session.scalar(select(User).where(User.email == DEMO_ADMIN_EMAIL))
    if admin is None:
        admin = create_user(
            session, account.id, DEMO_ADMIN_EMAIL, password, "admin", name="Demo admin"
        )
    elif admin.account_id == account.id:
        admin.password_hash = hash_password(password)
        admin.disabled_at = None
        # The old password's sessions end, and its failed sign-ins no longer slow anyone.
        signin.end_sessions(session, admin.id)
        signin.unlock(session, admin.email)
    if admin.account_id == account.id and admin.phone is None:
        admin.phone = DEMO_ADMIN_PHONE  # "Call this lead" rings the simulator's phone
    return Demo(
        account,
        token.secret,
        created,
        DEMO_ADMIN_EMAIL,
        password,
        _valuation_page(session, account),
    )


def _demo_calls(session: Session, account: Account) -> None:
    """Telephony through the simulator, and every office's autocaller on (kept as the demo
    left them: an account or office set up otherwise since is not changed)."""
    current = telephony.get(session, account.id)
    if current is None or current.account_sid == DEMO_TWILIO_SID:
        telephony.set_telephony(
            session,
            account.id,
            TelephonyInput("twilio", DEMO_TWILIO_SID, DEMO_TWILIO_TOKEN, None),
        )
    for office in list_offices(session, account.id):
        number = DEMO_OFFICE_NUMBERS.get(office.name)
        if number is None or autocaller.get(session, office.id) is not None:
            continue
        autocaller.set_autocaller(
            session,
            office,
            autocaller.AutocallerInput(
                enabled=True,
                from_number=number,
                negotiators=DEMO_NEGOTIATORS,
                calling_hours=DEMO_CALLING_HOURS,
            ),
        )


def _valuation_page(session: Session, account: Account) -> str | None:
    """The instant valuation page on its publishable token (one kept across runs; the hosted
    page carries a signed key of its own, so the token's key need not be known)."""
    page = valuepage.settings_of(session, account.id)
    if page is not None:
        return f"/value/{page.slug}" if page.enabled else None
    live = valuepage.publishable_tokens(session, account.id)
    key = next((t for t in live if t.name == DEMO_PAGE_TOKEN_NAME), None)
    if key is None:
        key = create_token(
            session,
            account.id,
            DEMO_PAGE_TOKEN_NAME,
            publishable=True,
            origins=DEMO_PAGE_ORIGINS,
        ).token
    taken = session.scalar(select(ValuationPage).where(ValuationPage.slug == DEMO_PAGE_SLUG))
    if taken is not None:
        return None
    valuepage.save_settings(
        session,
        account.id,
        slug=DEMO_PAGE_SLUG,
        brand_name=DEMO_ACCOUNT,
        brand_colour="#0a7d38",
        privacy_url="https://demo-brand.example/privacy",
        token_id=key.id,
        enabled=True,
    )
    return f"/value/{DEMO_PAGE_SLUG}"
