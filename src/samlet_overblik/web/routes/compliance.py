"""The compliance officer's surface: a citizen's consent trail and the access log, by citizen or by user. What is
shown, and that it is logged first, is decided in ``access.compliance``; this module only renders it."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from samlet_overblik.access import borger, compliance, handles, insight
from samlet_overblik.access.users import User
from samlet_overblik.web.context import sentence, web

router = APIRouter()


async def _lookup_form(request: Request) -> tuple[User, dict[str, str], str]:
    """(user, form, purpose as logged) of a compliance officer's lookup; a lookup without a listed purpose is
    answered with the form again."""
    ctx = web(request)
    user, form, purpose = await ctx.lookup_form(
        request, compliance.COMPLIANCE_ROLE,
        lambda _user, _form: ctx.page(request, "compliance.html", 400, fejl="Vælg formålet med opslaget fra listen."))
    return user, form, purpose.logged


def _period(form: dict[str, str]) -> compliance.Period:
    """The optional period and department a compliance form narrows its report to (``BadLookup`` when unusable)."""
    return compliance.Period.parse(form.get("fra"), form.get("til"), form.get("afdeling_filter"))


@router.get("/compliance", response_class=HTMLResponse)
async def compliance_home(request: Request):
    ctx = web(request)
    ctx.require(request, compliance.COMPLIANCE_ROLE)
    return ctx.page(request, "compliance.html")


def _redirect(ctx, user: User, view: str, purpose: str, channel: str, form: dict[str, str], *,
              person_key: str | None = None, search_text: str | None = None) -> RedirectResponse:
    """Post/redirect/get, as for the caseworker: the handle holds a person key or a user id, never a CPR number;
    the period and department filters (dates and a code) ride along in the query string."""
    token = handles.create(ctx.stores(user).audit_url, user_id=user.id, view=view, purpose=purpose, channel=channel,
                           person_key=person_key, search_text=search_text)
    filters = {k: form[k] for k in ("fra", "til", "afdeling_filter") if form.get(k)}
    return RedirectResponse(f"/compliance/opslag/{token}" + (f"?{urlencode(filters)}" if filters else ""),
                            status_code=303)


@router.post("/compliance/samtykke", response_class=HTMLResponse)
async def consent_trail(request: Request):
    ctx = web(request)
    user, form, purpose = await _lookup_form(request)
    return await run_in_threadpool(_consent_trail, ctx, request, user, form, purpose)


def _consent_trail(ctx, request: Request, user: User, form: dict[str, str], purpose: str) -> Response:
    try:
        _period(form)
        pk = compliance.resolve_citizen(ctx.stores(user), user, form.get("cpr", ""), purpose=purpose,
                                        channel="web:samtykkespor")
    except borger.BadLookup as exc:
        return ctx.page(request, "compliance.html", 400, fejl=sentence(str(exc)))
    if pk is None:
        return ctx.page(request, "compliance.html", 404, fejl="Borgeren findes ikke i det publicerede lager.")
    return _redirect(ctx, user, "samtykkespor", purpose, "web:samtykkespor", form, person_key=pk)


@router.post("/compliance/adgangslog", response_class=HTMLResponse)
async def access_log(request: Request):
    ctx = web(request)
    user, form, purpose = await _lookup_form(request)
    return await run_in_threadpool(_access_log, ctx, request, user, form, purpose)


def _access_log(ctx, request: Request, user: User, form: dict[str, str], purpose: str) -> Response:
    cpr, who = form.get("cpr", "").strip(), form.get("bruger", "").strip().lower()
    try:
        _period(form)
        if cpr:
            pk = compliance.resolve_citizen(ctx.stores(user), user, cpr, purpose=purpose, channel="web:adgangslog")
            if pk is None:
                return ctx.page(request, "compliance.html", 404, fejl="Borgeren findes ikke i det publicerede lager.")
            return _redirect(ctx, user, "adgangslog", purpose, "web:adgangslog", form, person_key=pk)
        if who:
            compliance.authorise_compliance(ctx.stores(user), user, "web:adgangslog")
            return _redirect(ctx, user, "adgangslog_bruger", purpose, "web:adgangslog", form, search_text=who[:100])
        return ctx.page(request, "compliance.html", 400, fejl="Angiv et CPR-nummer eller et brugernavn.")
    except borger.BadLookup as exc:
        return ctx.page(request, "compliance.html", 400, fejl=sentence(str(exc)))


@router.get("/compliance/opslag/{token}", response_class=HTMLResponse)
def shown_report(request: Request, token: str):
    """A compliance lookup's page: logged when first shown; a reload shows it again without a second row."""
    ctx = web(request)
    user = ctx.require(request, compliance.COMPLIANCE_ROLE)
    handle = ctx.handle(token, user, "samtykkespor", "adgangslog", "adgangslog_bruger")
    if handle is None:
        return ctx.page(request, "compliance.html", 404, fejl="Opslaget er udløbet eller hører til en anden bruger. "
                                                             "Slå op igen.")
    first = not handle.shown
    try:
        period = _period(dict(request.query_params))
        if handle.view == "adgangslog_bruger":
            page = ctx.page(request, "adgangslog.html", report=compliance.access_log_of_user(
                ctx.stores(user), user, handle.search_text or "", purpose=handle.purpose, channel=handle.channel,
                period=period, log=first))
        else:
            cpr = borger.cpr_of(ctx.stores(user), handle.person_key or "")
            if cpr is None:
                return ctx.page(request, "compliance.html", 404, fejl="Borgeren findes ikke længere i det "
                                                                     "publicerede lager.")
            if handle.view == "adgangslog":
                page = ctx.page(request, "adgangslog.html", report=compliance.access_log_about_citizen(
                    ctx.stores(user), user, cpr, purpose=handle.purpose, channel=handle.channel, period=period, log=first))
            else:
                report = compliance.consent_trail(ctx.stores(user), user, cpr, purpose=handle.purpose,
                                                  channel=handle.channel, period=period, log=first)
                if report is None:
                    return ctx.page(request, "compliance.html", 404, fejl="Borgeren findes ikke i det publicerede "
                                                                         "lager.")
                page = ctx.page(request, "samtykkespor.html", r=report, filtre=period.describe(),
                                flows=compliance.flow_groups(report), decisions=compliance.decision_groups(report))
    except borger.BadLookup as exc:
        return ctx.page(request, "compliance.html", 400, fejl=sentence(str(exc)))
    if first:
        handles.mark_shown(ctx.stores(user).audit_url, token)
    return page


@router.post("/compliance/indsigt")
async def right_of_access(request: Request):
    """The citizen's right-of-access report as a download (PDF or CSV), built and logged by ``access.insight``."""
    ctx = web(request)
    user, form, purpose = await _lookup_form(request)
    fmt = form.get("format", "pdf")
    if fmt not in insight.FORMATS:
        return ctx.page(request, "compliance.html", 400, fejl="Vælg PDF eller CSV.")
    try:
        report = insight.citizen_insight(ctx.stores(user), user, form.get("cpr", ""), purpose=purpose, channel="web:indsigt")
    except borger.BadLookup as exc:
        return ctx.page(request, "compliance.html", 400, fejl=sentence(str(exc)))
    if report is None:
        return ctx.page(request, "compliance.html", 404, fejl="Borgeren findes ikke i det publicerede lager.")
    media = "application/pdf" if fmt == "pdf" else "text/csv; charset=utf-8"
    return Response(insight.render(report, fmt), media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{insight.file_name(report, fmt)}"'})
