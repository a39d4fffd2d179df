"""The compliance officer's surface: a citizen's consent trail and the access log, by citizen or by user. What is
shown, and that it is logged first, is decided in ``access.compliance``; this module only renders it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from samlet_overblik.access import borger, compliance, insight
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


@router.post("/compliance/samtykke", response_class=HTMLResponse)
async def consent_trail(request: Request):
    ctx = web(request)
    user, form, purpose = await _lookup_form(request)
    try:
        report = compliance.consent_trail(ctx.stores, user, form.get("cpr", ""), purpose=purpose,
                                          channel="web:samtykkespor", period=_period(form))
    except borger.BadLookup as exc:
        return ctx.page(request, "compliance.html", 400, fejl=sentence(str(exc)))
    if report is None:
        return ctx.page(request, "compliance.html", 404, fejl="Borgeren findes ikke i det publicerede lager.")
    return ctx.page(request, "samtykkespor.html", r=report, filtre=_period(form).describe(),
                    flows=compliance.flow_groups(report), decisions=compliance.decision_groups(report))


@router.post("/compliance/adgangslog", response_class=HTMLResponse)
async def access_log(request: Request):
    ctx = web(request)
    user, form, purpose = await _lookup_form(request)
    cpr, who = form.get("cpr", "").strip(), form.get("bruger", "").strip()
    try:
        if cpr:
            report = compliance.access_log_about_citizen(ctx.stores, user, cpr, purpose=purpose,
                                                         channel="web:adgangslog", period=_period(form))
        elif who:
            report = compliance.access_log_of_user(ctx.stores, user, who, purpose=purpose, channel="web:adgangslog",
                                                   period=_period(form))
        else:
            return ctx.page(request, "compliance.html", 400, fejl="Angiv et CPR-nummer eller et brugernavn.")
    except borger.BadLookup as exc:
        return ctx.page(request, "compliance.html", 400, fejl=sentence(str(exc)))
    return ctx.page(request, "adgangslog.html", report=report)


@router.post("/compliance/indsigt")
async def right_of_access(request: Request):
    """The citizen's right-of-access report as a download (PDF or CSV), built and logged by ``access.insight``."""
    ctx = web(request)
    user, form, purpose = await _lookup_form(request)
    fmt = form.get("format", "pdf")
    if fmt not in insight.FORMATS:
        return ctx.page(request, "compliance.html", 400, fejl="Vælg PDF eller CSV.")
    try:
        report = insight.citizen_insight(ctx.stores, user, form.get("cpr", ""), purpose=purpose, channel="web:indsigt")
    except borger.BadLookup as exc:
        return ctx.page(request, "compliance.html", 400, fejl=sentence(str(exc)))
    if report is None:
        return ctx.page(request, "compliance.html", 404, fejl="Borgeren findes ikke i det publicerede lager.")
    media = "application/pdf" if fmt == "pdf" else "text/csv; charset=utf-8"
    return Response(insight.render(report, fmt), media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{insight.file_name(report, fmt)}"'})
