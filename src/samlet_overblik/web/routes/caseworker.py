"""The caseworker's surface: find a citizen by CPR number or name, the citizen's overview, the family, and the same
overview as JSON (``/api/borger``). What is shown is decided in ``access.borger``; this module only renders it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from samlet_overblik.access import audit, borger
from samlet_overblik.access.users import User
from samlet_overblik.access.views import CitizenView, FamilyView, NotVisible
from samlet_overblik.core import cpr as cpr_rule
from samlet_overblik.core.cpr import REDACTED, redact_cpr
from samlet_overblik.core.viewmodel import to_json
from samlet_overblik.web.context import sentence, Purpose, WebContext, web
from samlet_overblik.web.timeline import timeline_svg

ROLE = "sagsbehandler"
router = APIRouter()


def _search_page(ctx: WebContext, request: Request, user: User, status: int, purpose: Purpose | None = None,
                 **extra) -> HTMLResponse:
    return ctx.page(request, "soeg.html", status, afdeling=user.department, formaal=purpose.chosen if purpose else None,
                    note=purpose.note if purpose else "", **extra)


def _view_page(ctx: WebContext, request: Request, user: User, view: CitizenView | FamilyView | NotVisible | None,
               purpose: Purpose, template: str = "borger.html") -> HTMLResponse:
    if view is None:
        return _search_page(ctx, request, user, 404, purpose, fejl="Borgeren findes ikke i overblikket.")
    if isinstance(view, NotVisible):
        return _search_page(ctx, request, user, 200, purpose,
                            fejl=f"{view.department_name} har ingen registreringer om denne borger, som du må se.")
    extra: dict[str, Any] = {}
    if isinstance(view, CitizenView):
        extra["svg"] = timeline_svg(view.part.by_department, view.signals, view.reference_date)
    return ctx.page(request, template, v=view, formaal=purpose.chosen, note=purpose.note, afdeling=user.department,
                    **extra)


def _refused(ctx: WebContext, request: Request, user: User, purpose: Purpose, exc: Exception) -> HTMLResponse:
    """A lookup that could not be made (the search page with the reason) or was denied (logged by borger)."""
    if isinstance(exc, borger.AccessDenied):
        return ctx.page(request, "fejl.html", 403, titel="Ingen adgang",
                        besked=sentence(str(exc)) + ". Forsøget er logget.")
    return _search_page(ctx, request, user, 400, purpose, fejl=sentence(str(exc)))


def _no_purpose(ctx: WebContext, request: Request, user: User) -> HTMLResponse:
    return _search_page(ctx, request, user, 400, fejl="Vælg formålet med opslaget fra listen.")


@router.get("/soeg", response_class=HTMLResponse)
async def search_form(request: Request):
    ctx = web(request)
    user = ctx.require(request, ROLE)
    return ctx.page(request, "soeg.html", afdeling=user.department)


@router.post("/soeg", response_class=HTMLResponse)
async def search(request: Request):
    ctx = web(request)
    user, form, purpose = await ctx.lookup_form(request, ROLE, lambda user: _no_purpose(ctx, request, user))
    text, requested = form.get("soegning", "").strip(), form.get("afdeling") or None
    # A CPR number however it was typed (20.02.62-3461, 200262 3461, ...) is looked up as one, never as a name:
    # the lookup applies the one CPR rule (cpr.normalise) and refuses what it does not accept.
    cpr_typed = text if cpr_rule.normalise(text) is not None or redact_cpr(text).strip() == REDACTED else None
    try:
        if cpr_typed is not None:
            view = borger.citizen_view(ctx.stores, user, cpr=cpr_typed, purpose=purpose.logged, channel="web:borger",
                                       requested_department=requested)
            return _view_page(ctx, request, user, view, purpose)
        hits = borger.search_by_name(ctx.stores, user, text, purpose=purpose.logged, channel="web:navnesoeg",
                                     requested_department=requested)
    except (borger.BadLookup, borger.AccessDenied) as exc:
        return _refused(ctx, request, user, purpose, exc)
    return _search_page(ctx, request, user, 200, purpose, hits=hits, soegt=True)


async def _by_ref(request: Request, lookup: Callable, channel: str, template: str) -> HTMLResponse:
    ctx = web(request)
    user, form, purpose = await ctx.lookup_form(request, ROLE, lambda user: _no_purpose(ctx, request, user))
    try:
        view = lookup(ctx.stores, user, person_key=form.get("ref", ""), purpose=purpose.logged, channel=channel,
                      requested_department=form.get("afdeling") or None)
    except (borger.BadLookup, borger.AccessDenied) as exc:
        return _refused(ctx, request, user, purpose, exc)
    return _view_page(ctx, request, user, view, purpose, template)


@router.post("/borger", response_class=HTMLResponse)
async def citizen(request: Request):
    return await _by_ref(request, borger.citizen_view, "web:borger", "borger.html")


@router.post("/familie", response_class=HTMLResponse)
async def family(request: Request):
    return await _by_ref(request, borger.family_view, "web:familie", "familie.html")


@router.post("/api/borger")
async def api_citizen(request: Request):
    ctx = web(request)
    user = ctx.require(request, ROLE)
    ctx.check_api_csrf(request, user)
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"fejl": "ugyldig JSON"}, status_code=400)
    if not isinstance(body, dict):
        return JSONResponse({"fejl": "ugyldig JSON"}, status_code=400)
    try:
        purpose = ctx.purpose_of(body, user)
    except audit.BadPurpose:
        return JSONResponse({"fejl": "ukendt formål: vælg et af formålene i 'formaal' fra /api/mig"}, status_code=400)
    by_cpr = body.get("cpr") is not None
    try:
        view = borger.citizen_view(
            ctx.stores, user, cpr=body["cpr"] if by_cpr else None,
            person_key=None if by_cpr else str(body.get("ref") or ""), purpose=purpose.logged, channel="api:borger",
            requested_department=str(body["afdeling"]) if body.get("afdeling") else None)
    except borger.BadLookup as exc:
        return JSONResponse({"fejl": str(exc)}, status_code=400)
    except borger.AccessDenied as exc:
        return JSONResponse({"fejl": str(exc)}, status_code=403)
    if view is None:
        return JSONResponse({"fejl": "borgeren findes ikke"}, status_code=404)
    return JSONResponse(to_json(view))
