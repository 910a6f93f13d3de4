"""The reports page: leads per day by source and by type, and first-response times."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from doorstep.auth.dashboard import LeaderUser, UserActor, check_csrf
from doorstep.db import SessionDep
from doorstep.leads.labels import source_name
from doorstep.leads.workflow import CALL_OUTCOMES
from doorstep.reports import charts, service
from doorstep.web.forms import refuse_nul
from doorstep.web.templating import LONDON, fmt_label, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf), Depends(refuse_nul)])


@router.get("/reports")
def reports_page(
    request: Request,
    user: LeaderUser,
    actor: UserActor,
    session: SessionDep,
    start: str = "",
    end: str = "",
) -> Response:
    period, problems = service.parse_period(start, end, datetime.now(LONDON).date())
    by_source, by_type = service.leads_per_day(session, actor, period)
    charts_ctx = []
    for title, data, label in (
        ("Leads per day by source", by_source, source_name),
        ("Leads per day by type", by_type, fmt_label),
    ):
        legend = [
            {"name": label(name), "colour": charts.colour(i), "total": sum(vals)}
            for i, (name, vals) in enumerate(data.series.items())
        ]
        named = {label(k): v for k, v in data.series.items()}
        charts_ctx.append(
            {
                "title": title,
                "svg": charts.stacked_bars(data.days, named, title),
                "legend": legend,
                "total": data.total,
            }
        )
    return render(
        request,
        "reports/index.html",
        {
            "period": period,
            "problems": problems,
            "charts": charts_ctx,
            "response": service.first_response(session, actor, period),
            "calls": service.calls(session, actor, period),
            "call_outcomes": CALL_OUTCOMES,
        },
    )
