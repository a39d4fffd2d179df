"""The data engineer's surface: what is published and the latest runs (no personal data)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from samlet_overblik.access.operations import published_status
from samlet_overblik.core.labels import RUN_STATUS_NAMES
from samlet_overblik.web.context import web

router = APIRouter()


@router.get("/drift", response_class=HTMLResponse)
async def operations(request: Request):
    ctx = web(request)
    user = ctx.require(request, "dataingenioer", "compliance")
    return ctx.page(request, "drift.html", published=published_status(ctx.stores(user)), status_names=RUN_STATUS_NAMES)
