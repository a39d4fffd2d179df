"""The caseworker's surface: find a citizen by CPR number or name, the citizen's overview, the family, and the same
overview as JSON (``/api/borger``). What is shown is decided in ``access.borger``; this module only renders it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from samlet_overblik.access import audit, borger, documents, handles, meeting
from samlet_overblik.access.users import User
from samlet_overblik.access.views import CitizenView, FamilyView, NotVisible
from samlet_overblik.core import cpr as cpr_rule
from samlet_overblik.core.cpr import REDACTED, redact_cpr
from samlet_overblik.core.labels import DEPARTMENT_NAMES, SHOW_NAMES
from samlet_overblik.core.viewmodel import to_json
from samlet_overblik.web.context import sentence, Purpose, WebContext, web
from samlet_overblik.web.timeline import timeline_svg

ROLE = "sagsbehandler"
NOT_FOUND = "Borgeren findes ikke i overblikket."
# A number the one CPR rule accepts as valid, which no register or department holds (an invalid one is refused
# before this, with its own reason).
NOT_FOUND_CPR = ("Ingen borger med dette CPR-nummer findes i overblikket. Nummeret er gyldigt; tjek, at det er "
                 "tastet rigtigt.")
router = APIRouter()


def _search_page(ctx: WebContext, request: Request, user: User, status: int, purpose: Purpose | None = None,
                 query: str = "", **extra) -> HTMLResponse:
    """The search form, filled in again with what was typed and chosen (the query is never put in a URL)."""
    return ctx.page(request, "soeg.html", status, afdeling=user.department, formaal=purpose.chosen if purpose else None,
                    note=purpose.note if purpose else "", soegning=query, **extra)


def _view_page(ctx: WebContext, request: Request, user: User, view: CitizenView | FamilyView | NotVisible | None,
               purpose: Purpose, template: str = "borger.html", **extra: Any) -> HTMLResponse:
    if view is None:
        return _search_page(ctx, request, user, 404, purpose, fejl=NOT_FOUND)
    if isinstance(view, NotVisible):
        return _search_page(ctx, request, user, 200, purpose,
                            fejl=f"{view.department_name} har ingen registreringer om denne borger, som du må se.")
    if isinstance(view, CitizenView):
        extra["svg"] = timeline_svg(view.part.by_department, view.signals, view.reference_date)
    return ctx.page(request, template, v=view, formaal=purpose.chosen, note=purpose.note, afdeling=user.department,
                    **extra)


def _refused(ctx: WebContext, request: Request, user: User, purpose: Purpose, exc: Exception,
             query: str = "") -> HTMLResponse:
    """A lookup that could not be made (the search page with the reason) or was denied (logged by borger)."""
    if isinstance(exc, borger.AccessDenied):
        return ctx.page(request, "fejl.html", 403, titel="Ingen adgang",
                        besked=sentence(str(exc)) + ". Forsøget er logget.")
    return _search_page(ctx, request, user, 400, purpose, query, fejl=sentence(str(exc)))


def _no_purpose(ctx: WebContext, request: Request, user: User, form: dict[str, str]) -> HTMLResponse:
    # The typed query is kept unless it holds a CPR number: that is typed again rather than echoed into the page.
    query = form.get("soegning", "").strip()
    return _search_page(ctx, request, user, 400, query="" if _cpr_typed(query) else query[:100],
                        fejl="Vælg formålet med opslaget fra listen.")


def _cpr_typed(text: str) -> bool:
    """A CPR number however it was typed (20.02.62-3461, 200262 3461, ...) is looked up as one, never as a name:
    the lookup applies the one CPR rule (cpr.normalise) and refuses what it does not accept."""
    return cpr_rule.normalise(text) is not None or redact_cpr(text).strip() == REDACTED


def _see(ctx: WebContext, user: User, view: str, purpose: Purpose, channel: str, *, person_key: str | None = None,
         search_text: str | None = None) -> RedirectResponse:
    """Post/redirect/get: the lookup's handle, and the redirect to the page that shows it."""
    token = handles.create(ctx.stores(user).audit_url, user_id=user.id, view=view, purpose=purpose.logged, channel=channel,
                           person_key=person_key, search_text=search_text)
    return RedirectResponse(f"/opslag/{token}", status_code=303)


@router.get("/soeg", response_class=HTMLResponse)
def search_form(request: Request):
    ctx = web(request)
    user = ctx.require(request, ROLE)
    return _search_page(ctx, request, user, 200)


@router.post("/soeg", response_class=HTMLResponse)
async def search(request: Request):
    ctx = web(request)
    user, form, purpose = await ctx.lookup_form(request, ROLE, lambda user, form: _no_purpose(ctx, request, user, form))
    # The lookup reads DuckDB files and writes the access log: in a worker thread, not on the event loop.
    return await run_in_threadpool(_search, ctx, request, user, form, purpose)


def _search(ctx: WebContext, request: Request, user: User, form: dict[str, str], purpose: Purpose) -> Response:
    text, requested = form.get("soegning", "").strip(), form.get("afdeling") or None
    # What was typed goes back into the form on a refusal, except a CPR number (typed again, never echoed).
    kept = "" if _cpr_typed(text) else text[:100]
    try:
        if _cpr_typed(text):
            pk = borger.find_person(ctx.stores(user), user, cpr=text, purpose=purpose.logged, channel="web:borger",
                                    requested_department=requested)
            if pk is None:
                return _search_page(ctx, request, user, 404, purpose, fejl=NOT_FOUND_CPR)
            return _see(ctx, user, "borger", purpose, "web:borger", person_key=pk)
        borger.name_words(text)
        borger.authorise(ctx.stores(user), user, person_key=None, purpose=purpose.logged, channel="web:navnesoeg",
                         requested_department=requested)
    except (borger.BadLookup, borger.AccessDenied) as exc:
        return _refused(ctx, request, user, purpose, exc, kept)
    return _see(ctx, user, "navnesoegning", purpose, "web:navnesoeg", search_text=text[:100])


async def _by_ref(request: Request, view: str, channel: str) -> Response:
    ctx = web(request)
    user, form, purpose = await ctx.lookup_form(request, ROLE, lambda user, form: _no_purpose(ctx, request, user, form))
    return await run_in_threadpool(_see_ref, ctx, request, user, form, purpose, view, channel)


def _see_ref(ctx: WebContext, request: Request, user: User, form: dict[str, str], purpose: Purpose, view: str,
             channel: str) -> Response:
    try:
        pk = borger.find_person(ctx.stores(user), user, person_key=form.get("ref", ""), purpose=purpose.logged,
                                channel=channel, requested_department=form.get("afdeling") or None)
    except (borger.BadLookup, borger.AccessDenied) as exc:
        return _refused(ctx, request, user, purpose, exc)
    if pk is None:
        return _search_page(ctx, request, user, 404, purpose, fejl=NOT_FOUND)
    return _see(ctx, user, view, purpose, channel, person_key=pk)


@router.post("/borger")
async def citizen(request: Request):
    return await _by_ref(request, "borger", "web:borger")


@router.post("/familie")
async def family(request: Request):
    return await _by_ref(request, "familie", "web:familie")


@router.get("/opslag/{token}", response_class=HTMLResponse)
def shown_lookup(request: Request, token: str):
    """A lookup's page: the first showing is logged; a reload or a step back shows it again (data read afresh)."""
    ctx = web(request)
    user = ctx.require(request, ROLE)
    handle = ctx.handle(token, user, "borger", "familie", "navnesoegning")
    if handle is None:
        return _search_page(ctx, request, user, 404, fejl="Opslaget er udløbet eller hører til en anden bruger. "
                                                         "Søg igen.")
    purpose, first = ctx.stored_purpose(handle.purpose), not handle.shown
    # The first showing is logged, and the handle marked as shown in the same transaction.
    marks = (handles.shown(token),) if first else ()
    try:
        if handle.view == "navnesoegning":
            text = handle.search_text or ""
            hits = borger.search_by_name(ctx.stores(user), user, text, purpose=handle.purpose, channel=handle.channel,
                                         log_shown=first, log_with=marks)
            page = _search_page(ctx, request, user, 200, purpose, text, hits=hits, soegt=True)
        elif handle.view == "familie":
            page = _view_page(ctx, request, user, borger.family_view(
                ctx.stores(user), user, person_key=handle.person_key or "", purpose=handle.purpose, channel=handle.channel,
                log_shown=first, log_with=marks), purpose, "familie.html")
        else:
            show, department = _filters(request)
            view = borger.citizen_view(ctx.stores(user), user, person_key=handle.person_key, purpose=handle.purpose,
                                       channel=handle.channel, log_shown=first, log_with=marks)
            if isinstance(view, CitizenView):
                view = borger.narrowed(view, show, department)
            page = _view_page(ctx, request, user, view, purpose, vis=show, vis_afdeling=department, handle=token)
    except (borger.BadLookup, borger.AccessDenied) as exc:
        return _refused(ctx, request, user, purpose, exc)
    return page


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
    ctx.check_tenant(request, user, body.get("kommune"))
    return await run_in_threadpool(_api_citizen, ctx, user, body)


def _api_citizen(ctx: WebContext, user: User, body: dict) -> JSONResponse:
    try:
        purpose = ctx.purpose_of(body, user)
    except audit.BadPurpose:
        return JSONResponse({"fejl": "ukendt formål: vælg et af formålene i 'formaal' fra /api/mig"}, status_code=400)
    by_cpr = body.get("cpr") is not None
    try:
        view = borger.citizen_view(
            ctx.stores(user), user, cpr=body["cpr"] if by_cpr else None,
            person_key=None if by_cpr else str(body.get("ref") or ""), purpose=purpose.logged, channel="api:borger",
            requested_department=str(body["afdeling"]) if body.get("afdeling") else None)
    except borger.BadLookup as exc:
        return JSONResponse({"fejl": str(exc)}, status_code=400)
    except borger.AccessDenied as exc:
        return JSONResponse({"fejl": str(exc)}, status_code=403)
    if view is None:
        return JSONResponse({"fejl": "borgeren findes ikke"}, status_code=404)
    return JSONResponse(to_json(view))


def _filters(request: Request) -> tuple[str, str | None]:
    """The list's filter from the query string (never personal data: a word and a department code)."""
    show = request.query_params.get("vis", "alle")
    department = request.query_params.get("afdeling") or None
    return (show if show in SHOW_NAMES else "alle"), (department if department in DEPARTMENT_NAMES else None)


def _printable(request: Request, token: str) -> tuple[WebContext, User, CitizenView, Purpose]:
    """The citizen of a lookup handle and the lookup's purpose, for printing (the print is logged by the caller)."""
    ctx = web(request)
    user = ctx.require(request, ROLE)
    handle = ctx.handle(token, user, "borger")
    if handle is None:
        raise StarletteHTTPException(404)
    view = borger.citizen_view(ctx.stores(user), user, person_key=handle.person_key, purpose=handle.purpose,
                               channel=handle.channel, log_shown=False)
    if not isinstance(view, CitizenView):
        raise StarletteHTTPException(404)
    return ctx, user, view, ctx.stored_purpose(handle.purpose)


@router.get("/opslag/{token}/udskrift", response_class=HTMLResponse)
def meeting_print(request: Request, token: str):
    """The print view for a coordination meeting (the browser prints it; logged as a print)."""
    ctx, user, view, purpose = _printable(request, token)
    meeting.log_printed(ctx.stores(user), user, view, purpose.logged, "web:udskrift")
    return ctx.page(request, "udskrift.html", v=view, doc=meeting.meeting_document(view, user), handle=token)


@router.get("/opslag/{token}/pdf")
def meeting_pdf(request: Request, token: str):
    """The same print as a PDF file (logged as a print)."""
    ctx, user, view, purpose = _printable(request, token)
    meeting.log_printed(ctx.stores(user), user, view, purpose.logged, "web:pdf")
    doc = meeting.meeting_document(view, user)
    name = f"koordineringsmoede-{view.person.person_key if view.person else 'borger'}-{doc.made_at:%Y%m%d}.pdf"
    return Response(documents.as_pdf(doc), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
