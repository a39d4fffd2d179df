"""Logging in and out, the start page of each role, and who the session's user is (``/api/mig``)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from samlet_overblik.access.auth import RateLimited, csrf_ok, csrf_token
from samlet_overblik.access.users import UsersError
from samlet_overblik.consent.policy import lookup_purposes
from samlet_overblik.web.context import HOME_OF_ROLE, web

log = logging.getLogger("samlet_overblik.web")
router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request):
    ctx = web(request)
    if ctx.authn.current_user(request.session):
        return RedirectResponse("/", status_code=303)
    return ctx.page(request, "login.html", user=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request):
    ctx = web(request)
    form = await request.form()
    if not csrf_ok(request.session, str(form.get("csrf") or "")):
        return ctx.page(request, "login.html", 403, user=None, fejl="Formularen var udløbet. Prøv igen.")
    client = request.client.host if request.client else "?"
    try:
        # argon2 takes tens of milliseconds of CPU by design: off the event loop, so other requests go on meanwhile.
        user = await run_in_threadpool(ctx.authn.authenticate, str(form.get("brugernavn") or ""),
                                       str(form.get("adgangskode") or ""), client)
    except RateLimited as exc:
        resp = ctx.page(request, "login.html", 429, user=None,
                        fejl=f"For mange forkerte forsøg. Vent {_minutes(exc.retry_after)}, og prøv igen.")
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    if user is None:
        return ctx.page(request, "login.html", 401, user=None, fejl="Forkert brugernavn eller adgangskode.")
    if not ctx.serves(user):  # with tenants, a user without a municipality served here reads nothing
        log.warning("login refused: the user's municipality is not served by this installation")
        return ctx.page(request, "login.html", 403, user=None,
                        fejl="Din bruger er ikke knyttet til en kommune, som denne installation betjener. "
                             "Kontakt IT-support.")
    ctx.authn.start_session(request.session, user)
    return RedirectResponse(HOME_OF_ROLE[user.role], status_code=303)


def _minutes(seconds: int) -> str:
    n = seconds // 60 + 1
    return "1 minut" if n == 1 else f"{n} minutter"


@router.post("/logout")
async def logout(request: Request):
    ctx = web(request)
    await ctx.form_with_csrf(request, ctx.authn.current_user(request.session))
    try:
        ctx.authn.end_session(request.session)  # this session and every other session of the user
    except (UsersError, OSError) as exc:
        log.error("logout: other sessions could not be ended (%s)", type(exc).__name__)
        return ctx.page(request, "fejl.html", 500, user=None, titel="Du er logget ud her",
                        besked="Dine sessioner i andre browsere kunne ikke afsluttes. Kontakt IT-support.")
    return RedirectResponse("/login", status_code=303)


@router.get("/")
async def index(request: Request):
    return RedirectResponse(HOME_OF_ROLE[web(request).require(request).role], status_code=303)


@router.get("/api/mig")
async def api_me(request: Request):
    user = web(request).require(request)
    return {"bruger": user.id, "navn": user.name, "rolle": user.role, "afdeling": user.department,
            "kommune": user.kommune,
            "csrf": csrf_token(request.session), "formaal": list(lookup_purposes(user.role))}
