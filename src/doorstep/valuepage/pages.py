"""Dashboard: an admin sets up the account's instant valuation page (address, name, colour,
privacy policy, the publishable token it posts with)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from doorstep.accounts.service import get_account
from doorstep.auth.dashboard import AdminUser, check_csrf
from doorstep.db import SessionDep
from doorstep.errors import ValidationFailed
from doorstep.numbers import row_id
from doorstep.offices.service import list_offices
from doorstep.tokens.pages import base_url
from doorstep.valuepage import service
from doorstep.web.forms import refuse_nul
from doorstep.web.templating import redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf), Depends(refuse_nul)])
PATH = "/developer/valuation-page"


def _page(
    request: Request,
    session: Session,
    account_id: int,
    form: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> Response:
    settings = service.settings_of(session, account_id)
    tokens = service.publishable_tokens(session, account_id)
    if form is None:
        account = get_account(session, account_id)
        form = {
            "enabled": "1" if settings is None or settings.enabled else "",
            "slug": settings.slug if settings else service.suggest_slug(account.name),
            "brand_name": (settings.brand_name or "") if settings else account.name,
            "brand_colour": settings.brand_colour if settings else service.DEFAULT_COLOUR,
            "privacy_url": (settings.privacy_url or "") if settings else "",
            "token_id": str(settings.token_id or "")
            if settings
            else str(tokens[0].id if tokens else ""),
        }
    theme = service.theme(form.get("brand_colour") or service.DEFAULT_COLOUR)
    return render(
        request,
        "valuepage/settings.html",
        {
            "settings": settings,
            "form": form,
            "errors": errors or {},
            "tokens": tokens,
            "offices": list_offices(session, account_id),
            "base": base_url(request),
            "theme": theme,
            "contrast": round(service.contrast(theme["brand"], theme["on_brand"]), 1),
        },
        status_code=status_code,
    )


@router.get(PATH)
def settings_page(request: Request, user: AdminUser, session: SessionDep) -> Response:
    return _page(request, session, user.account_id)


@router.post(PATH)
def save(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    slug: Annotated[str, Form()] = "",
    brand_name: Annotated[str, Form()] = "",
    brand_colour: Annotated[str, Form()] = "",
    privacy_url: Annotated[str, Form()] = "",
    token_id: Annotated[str, Form()] = "",
    enabled: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "slug": slug,
        "brand_name": brand_name,
        "brand_colour": brand_colour,
        "privacy_url": privacy_url,
        "token_id": token_id,
        "enabled": enabled,
    }
    token = row_id(token_id.strip())
    try:
        if token_id.strip() and token is None:
            raise ValidationFailed({"token_id": ["Choose one of your publishable tokens."]})
        service.save_settings(
            session,
            user.account_id,
            slug=slug,
            brand_name=brand_name,
            brand_colour=brand_colour,
            privacy_url=privacy_url,
            token_id=token,
            enabled=bool(enabled),
        )
    except ValidationFailed as e:
        session.rollback()
        return _page(request, session, user.account_id, form, e.errors, status_code=422)
    return redirect(request, PATH, "Valuation page saved.")
