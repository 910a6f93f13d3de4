"""An account's valuation page: its settings (slug, name, colour, privacy policy, the
publishable token it posts with) and what a visitor's page is built from."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.errors import NotFound, ValidationFailed
from doorstep.leads.schemas import is_web_url
from doorstep.models import Account, ApiToken, Office, ValuationPage
from doorstep.tokens.browser import page_key
from doorstep.tokens.service import hash_token, origins_of

DEFAULT_COLOUR = "#1d4ed8"
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?")
_COLOUR = re.compile(r"#[0-9a-f]{6}")
# Paths under /value/ that are not pages.
RESERVED_SLUGS = frozenset({"embed", "theme"})
WHITE = "#ffffff"
DARK = "#111827"


@dataclass(frozen=True)
class Page:
    """What a visitor's page shows and posts with."""

    account_id: int
    brand: str
    colour: str
    privacy_url: str | None
    key: str  # the publishable token's key: public, it is in the page
    origins: list[str]  # where the page may be framed and its key used from
    office_id: int | None = None
    office_name: str | None = None


def settings_of(session: Session, account_id: int) -> ValuationPage | None:
    return session.get(ValuationPage, account_id)


def publishable_tokens(session: Session, account_id: int) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken)
            .where(
                ApiToken.account_id == account_id,
                ApiToken.publishable,
                ApiToken.revoked_at.is_(None),
            )
            .order_by(ApiToken.id)
        )
    )


def suggest_slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60].strip("-")
    return slug or "valuation"


def save_settings(
    session: Session,
    account_id: int,
    *,
    slug: str,
    brand_name: str,
    brand_colour: str,
    privacy_url: str,
    token_id: int | None,
    enabled: bool,
) -> ValuationPage:
    """Create or change the account's page; a 422 naming every field that is wrong."""
    errors: dict[str, list[str]] = {}
    slug = slug.strip().lower()
    colour = brand_colour.strip().lower()
    brand_name, privacy_url = brand_name.strip(), privacy_url.strip()
    if not _SLUG.fullmatch(slug) or slug in RESERVED_SLUGS:
        errors["slug"] = [
            "1 to 60 lower-case letters, digits and hyphens (not at either end), such as "
            "demo-brand."
        ]
    else:
        taken = session.scalar(
            select(ValuationPage.account_id).where(
                ValuationPage.slug == slug, ValuationPage.account_id != account_id
            )
        )
        if taken is not None:
            errors["slug"] = [f"The address /value/{slug} is taken: choose another."]
    if len(brand_name) > 100:
        errors["brand_name"] = ["At most 100 characters."]
    if not _COLOUR.fullmatch(colour):
        errors["brand_colour"] = ["A colour as #rrggbb, such as #1d4ed8."]
    if privacy_url and (len(privacy_url) > 255 or not is_web_url(privacy_url)):
        errors["privacy_url"] = ["An http:// or https:// address of at most 255 characters."]
    if enabled and not privacy_url:
        errors["privacy_url"] = [
            "The page asks for consent to contact people: link your privacy policy."
        ]
    if token_id is not None and token_id not in {
        t.id for t in publishable_tokens(session, account_id)
    }:
        errors["token_id"] = ["Choose one of your publishable tokens."]
    if enabled and token_id is None:
        errors["token_id"] = ["The page needs a publishable token to send its leads with."]
    if errors:
        raise ValidationFailed(errors)
    page = session.get(ValuationPage, account_id) or ValuationPage(account_id=account_id)
    page.slug, page.brand_name = slug, brand_name or None
    page.brand_colour, page.privacy_url = colour, privacy_url or None
    page.token_id, page.enabled = token_id, enabled
    session.add(page)
    session.flush()
    return page


def _office(session: Session, account_id: int, office_id: int | None) -> Office | None:
    if office_id is None:
        return None
    office = session.scalar(
        select(Office).where(Office.id == office_id, Office.account_id == account_id)
    )
    if office is None:
        raise NotFound(f"There is no office {office_id} here.")
    return office


def _page(
    session: Session,
    account: Account,
    settings: ValuationPage | None,
    token: ApiToken,
    office_id: int | None,
    key: str | None = None,
) -> Page:
    """The page for a publishable token: ``key`` is the key the embed line presented, else
    the page gets a signed page key of its own."""
    office = _office(session, account.id, office_id)
    return Page(
        account_id=account.id,
        brand=(settings.brand_name if settings else None) or account.name,
        colour=settings.brand_colour if settings else DEFAULT_COLOUR,
        privacy_url=settings.privacy_url if settings else None,
        key=key or page_key(token.id),
        origins=origins_of(session, [token.id])[token.id],
        office_id=office.id if office else None,
        office_name=office.name if office else None,
    )


def page_by_slug(session: Session, slug: str, office_id: int | None = None) -> Page:
    """The hosted page ``/value/{slug}``: 404 unless it is switched on with a live key."""
    slug = slug.lower()
    if not _SLUG.fullmatch(slug):  # not a slug (a NUL, say): no query needed to know
        raise NotFound("There is no valuation page at this address.")
    settings = session.scalar(select(ValuationPage).where(ValuationPage.slug == slug))
    token = session.get(ApiToken, settings.token_id) if settings and settings.token_id else None
    if settings is None or not settings.enabled or not _live(token):
        raise NotFound("There is no valuation page at this address.")
    assert token is not None
    account = session.get(Account, settings.account_id)
    assert account is not None
    return _page(session, account, settings, token, office_id)


def page_by_key(session: Session, key: str, office_id: int | None = None) -> Page:
    """The embedded page, found by the publishable key the embed line carries: it works
    with the account's settings when it has them, its defaults when not."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(key)))
    if token is None or not _live(token):
        raise NotFound("This key does not open a valuation page (revoked, or not publishable).")
    account = session.get(Account, token.account_id)
    assert account is not None
    settings = session.get(ValuationPage, account.id)
    if settings is not None and not settings.enabled:
        raise NotFound("This agency's valuation page is switched off.")
    return _page(session, account, settings, token, office_id, key=key)


def _live(token: ApiToken | None) -> bool:
    return token is not None and token.publishable and token.revoked_at is None


def _luminance(colour: str) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two #rrggbb colours (1 to 21)."""
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def theme(colour: str) -> dict[str, str]:
    """The brand colour, the text to write on it, and the colour of links and headings on
    white: whatever an admin picks, each pair reaches WCAG AA (4.5:1)."""
    if not _COLOUR.fullmatch(colour or ""):
        colour = DEFAULT_COLOUR
    on = WHITE if contrast(colour, WHITE) >= contrast(colour, DARK) else DARK
    ink = colour
    while contrast(ink, WHITE) < 4.5:  # darken until it reads on white
        ink = "#" + "".join(f"{int(int(ink[i : i + 2], 16) * 0.85):02x}" for i in (1, 3, 5))
    return {"brand": colour, "on_brand": on, "ink": ink}
