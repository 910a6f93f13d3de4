from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from doorstep.auth.dashboard import OptionalUser
from doorstep.web.templating import render

router = APIRouter(include_in_schema=False)

ATTRIBUTIONS = [
    {
        "title": "Postcode geography (ONS National Statistics Postcode Lookup, May 2025)",
        "lines": [
            "Source: Office for National Statistics licensed under the Open Government "
            "Licence v.3.0",
            "Contains OS data © Crown copyright and database right 2025",
            "Contains Royal Mail data © Royal Mail copyright and database right 2025",
            "Contains GeoPlace data © Local Government Information House Limited copyright "
            "and database right 2025",
        ],
    },
    {
        "title": "Sales evidence for instant valuations (HM Land Registry Price Paid Data)",
        "lines": [
            "Contains HM Land Registry data © Crown copyright and database right 2025. This "
            "data is licensed under the Open Government Licence v3.0.",
        ],
    },
]


@router.get("/about", response_class=HTMLResponse)
def about(request: Request, user: OptionalUser) -> HTMLResponse:
    return render(request, "about.html", {"attributions": ATTRIBUTIONS})
