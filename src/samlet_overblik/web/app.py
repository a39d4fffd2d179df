"""FastAPI app: server-rendered Jinja2 pages for caseworkers (sagsbehandler), compliance and data engineers.

Security in one place:
- every page and API call needs a session (``auth``); the role and department come from the users file on
  every request, never from the browser;
- forms carry a per-session CSRF token, the JSON API wants it in ``X-CSRF-Token``;
- the session cookie is signed (``SAMLET_SESSION_SECRET``), HttpOnly, SameSite=Strict and Secure; without a
  secret the app refuses to start unless ``SAMLET_DEV_MODE=1`` (then: a random secret per process and a
  non-Secure cookie, for a laptop demo on plain http);
- a CPR number travels only in POST bodies, never in a URL; the request log has method, path, status and
  time only, and everything the app logs passes ``logsafe.RedactCpr`` (CPR numbers in any spelling masked);
  error pages never echo input and carry the same security headers as every other page (500s included);
  expected errors (log unavailable, users file or policy refused, nothing published) log one line, no traceback;
- denials (role, CSRF, another department) are written to the access log like lookups;
- a lookup's purpose is one of the policy's ``lookup_purposes`` for the user's role, with an optional note
  whose CPR numbers are masked before it is stored;
- DuckDB files are opened read-only per request (``borger``/``lineage``), so a run may swap them at any time.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from samlet_overblik.access import audit, borger
from samlet_overblik.access.auth import PasswordAuthenticator, RateLimited, csrf_ok, csrf_token
from samlet_overblik.consent.lineage import LookupError_, lineage_report
from samlet_overblik.core.labels import DEPARTMENT_NAMES
from samlet_overblik.consent.policy import PolicyError, lookup_purposes, policy_in_use
from samlet_overblik.core import cpr as cpr_rule
from samlet_overblik.core.cpr import REDACTED, redact_cpr
from samlet_overblik.access.users import User, UsersError, load_users, users_file
from samlet_overblik.web import logsafe
from samlet_overblik.web.timeline import COLOURS, timeline_svg
from samlet_overblik.core.labels import OUTCOME_NAMES

log = logging.getLogger("samlet_overblik.web")
HERE = Path(__file__).parent
# The access log's channel for a request that is refused before it reaches a lookup (role, CSRF).
_CHANNELS = {
    "/soeg": "web:soeg", "/borger": "web:borger", "/familie": "web:familie", "/api/borger": "api:borger",
    "/api/mig": "api:mig", "/compliance": "web:compliance", "/compliance/samtykke": "web:samtykkespor",
    "/compliance/adgangslog": "web:adgangslog", "/drift": "web:drift", "/logout": "web:logout",
}
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class WebConfigError(ValueError):
    """The web app cannot start with these settings (one line)."""


@dataclass
class WebSettings:
    warehouse: Path
    users_file: Path
    session_secret: str
    dev_mode: bool = False

    @classmethod
    def from_env(cls, warehouse: Path | None = None, env: Mapping[str, str] | None = None) -> "WebSettings":
        from samlet_overblik.core.settings import load_settings

        env = dict(os.environ if env is None else env)
        wh = load_settings(None, warehouse=warehouse, env=env).warehouse
        dev = env.get("SAMLET_DEV_MODE", "").lower() in ("1", "true", "yes")
        secret = env.get("SAMLET_SESSION_SECRET", "")
        if not secret:
            if not dev:
                raise WebConfigError("SAMLET_SESSION_SECRET is not set: refusing to serve "
                                     "(set it to 32+ random characters, or SAMLET_DEV_MODE=1 for a local demo)")
            secret = secrets.token_urlsafe(48)
        elif len(secret) < 32:
            raise WebConfigError("SAMLET_SESSION_SECRET must be at least 32 characters")
        settings = cls(Path(wh), users_file(wh, env), secret, dev)
        settings.check_users_file()
        return settings

    def check_users_file(self) -> None:
        """Refuse to serve with a users file that is invalid or that others may write (one line)."""
        try:
            load_users(self.users_file)
        except UsersError as exc:
            raise WebConfigError(str(exc)) from None


class _NotLoggedIn(Exception):
    pass


class _Answered(Exception):
    """A request answered before its handler's work (e.g. a form sent without a listed purpose)."""

    def __init__(self, response: Response):
        super().__init__("answered")
        self.response = response


class _Forbidden(Exception):
    pass


def create_app(settings) -> FastAPI:
    if not isinstance(settings, WebSettings):  # a run's Settings: take the warehouse, the rest from the environment
        settings = WebSettings.from_env(warehouse=getattr(settings, "warehouse", None))
    settings.check_users_file()
    try:
        policy_in_use()  # the lookup purposes come from it: a broken policy stops the start, not the first lookup
    except PolicyError as exc:
        raise WebConfigError(str(exc)) from None
    logsafe.install(log)
    stores = borger.Stores(Path(settings.warehouse))
    authn = PasswordAuthenticator(settings.users_file)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(department_names=DEPARTMENT_NAMES, colours=COLOURS,
                                 outcome_names=OUTCOME_NAMES)

    app = FastAPI(title="Samlet overblik", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.authn = authn

    @app.middleware("http")
    async def headers_and_log(request: Request, call_next):
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception as exc:  # caught here, not by Starlette's outermost handler: the page gets the headers
            response = unexpected_error(request, exc)
        for name, value in _SECURITY_HEADERS.items():
            response.headers[name] = value
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        # Method, path (no query string, no body), status and time: never a CPR number, in any spelling.
        log.info("%s %s %s %.0f ms", request.method, safe_path(request), response.status_code,
                 (time.perf_counter() - started) * 1000)
        return response

    app.add_middleware(SessionMiddleware, secret_key=settings.session_secret, session_cookie="samlet_session",
                       max_age=8 * 3600, same_site="strict", https_only=not settings.dev_mode)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    # ------------------------------------------------------------------ helpers

    def page(request: Request, name: str, status: int = 200, **ctx) -> HTMLResponse:
        ctx.setdefault("user", getattr(request.state, "user", None))
        ctx["csrf"] = csrf_token(request.session)
        if "purposes" not in ctx:
            try:
                ctx["purposes"] = lookup_purposes(ctx["user"].role) if ctx["user"] else ()
            except PolicyError:  # the page still renders (an error page, say); lookups are refused meanwhile
                ctx["purposes"] = ()
        return templates.TemplateResponse(request, name, ctx, status_code=status)

    def safe_path(request: Request) -> str:
        return redact_cpr(request.url.path)[:200]

    def unexpected_error(request: Request, exc: Exception) -> Response:
        """A 500 page: one log line naming the exception's type (a traceback, masked, only with SAMLET_DEBUG)."""
        debug = os.environ.get("SAMLET_DEBUG", "").lower() in ("1", "true", "yes")
        log.error("internal error: %s on %s %s", type(exc).__name__, request.method, safe_path(request),
                  exc_info=exc if debug else None)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"fejl": "intern fejl"}, status_code=500)
        try:
            return page(request, "fejl.html", 500, titel="Der opstod en fejl", besked="Prøv igen, eller kontakt IT-support.")
        except Exception:  # the error page itself failed (e.g. the users file): a plain page, still with headers
            return HTMLResponse("<!doctype html><title>Fejl</title><p>Der opstod en fejl.</p>", status_code=500)

    def log_denial(request: Request, user: User, outcome: str) -> None:
        """A refused request, in the access log like a lookup (it fails closed like one, too)."""
        audit.log_access(stores.audit_url, user_id=user.id, role=user.role, department=user.department,
                         person_key=None, purpose="", channel=_CHANNELS.get(request.url.path, "web:andet"),
                         result_count=0, outcome=outcome)

    def require(request: Request, *roles: str) -> User:
        user = authn.current_user(request.session)
        if user is None:
            raise _NotLoggedIn()
        request.state.user = user
        if roles and user.role not in roles:
            log_denial(request, user, "denied_role")
            raise _Forbidden()
        return user

    async def form_with_csrf(request: Request, user: User | None) -> dict:
        form = await request.form()
        data = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        if not csrf_ok(request.session, data.get("csrf")):
            if user is not None:
                log_denial(request, user, "denied_csrf")
            raise _Forbidden()
        return data

    def purpose_of(data: dict, user: User) -> tuple[str, str, str]:
        """(the purpose as logged, the chosen purpose, the masked note); ``audit.BadPurpose`` for free text."""
        stored = audit.purpose_text(str(data.get("formaal") or ""), str(data.get("note") or ""),
                                    lookup_purposes(user.role))
        chosen, _, note = stored.partition(audit.NOTE_SEPARATOR)
        return stored, chosen, note

    def home_for(user: User) -> str:
        return {"sagsbehandler": "/soeg", "compliance": "/compliance", "dataingenioer": "/drift"}[user.role]

    # ------------------------------------------------------------------ errors (never echo input)

    @app.exception_handler(_NotLoggedIn)
    async def _h_login(request: Request, exc):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"fejl": "ikke logget ind"}, status_code=401)
        return RedirectResponse("/login", status_code=303)

    def refusal(request: Request, status: int, api_text: str, titel: str, besked: str, **extra):
        """The API's one-line JSON error, or the error page, for a request that is refused."""
        if request.url.path.startswith("/api/"):
            return JSONResponse({"fejl": api_text}, status_code=status)
        return page(request, "fejl.html", status, titel=titel, besked=besked, **extra)

    @app.exception_handler(_Answered)
    async def _h_answered(request: Request, exc: _Answered):
        return exc.response

    @app.exception_handler(_Forbidden)
    async def _h_forbidden(request: Request, exc):
        return refusal(request, 403, "ingen adgang", "Ingen adgang",
                       "Du har ikke adgang til denne side, eller formularen var udløbet. Gå tilbage og prøv igen.")

    @app.exception_handler(StarletteHTTPException)
    async def _h_http(request: Request, exc: StarletteHTTPException):
        missing = exc.status_code == 404
        return refusal(request, exc.status_code, "ikke fundet" if missing else "fejl",
                       "Siden findes ikke" if missing else "Fejl", "Tjek adressen, eller gå til forsiden.")

    @app.exception_handler(RequestValidationError)
    async def _h_validation(request: Request, exc):
        return JSONResponse({"fejl": "ugyldig forespørgsel"}, status_code=422)

    @app.exception_handler(audit.AuditUnavailable)
    async def _h_audit(request: Request, exc):
        log.error("access log unavailable: %s %s refused", request.method, safe_path(request))
        return refusal(request, 503, "adgangsloggen kan ikke skrives; opslaget er afvist", "Opslaget er afvist",
                       "Adgangsloggen kan ikke skrives lige nu. Af hensyn til borgerens retssikkerhed vises "
                       "ingen oplysninger, før loggen virker igen. Kontakt IT-support.")

    @app.exception_handler(borger.NoWarehouse)
    async def _h_nowh(request: Request, exc):
        log.warning("nothing published: %s %s", request.method, safe_path(request))
        return page(request, "fejl.html", 503, titel="Ingen data endnu",
                    besked="Der er ikke publiceret noget overblik endnu. Prøv igen efter næste kørsel.")

    @app.exception_handler(UsersError)
    async def _h_users(request: Request, exc):
        # e.g. the users file was made writable for others while serving: nobody is let in until it is fixed
        log.error("users file refused: %s", exc)
        return refusal(request, 503, "brugeradministrationen er utilgængelig", "Log ind er ikke muligt lige nu",
                       "Brugeropsætningen kan ikke bruges. Kontakt IT-support.", user=None)

    @app.exception_handler(PolicyError)
    async def _h_policy(request: Request, exc):
        log.error("policy refused: %s", exc)
        return refusal(request, 503, "delingspolitikken kan ikke læses", "Opslaget er afvist",
                       "Delingspolitikken kan ikke læses. Kontakt IT-support.")

    # ------------------------------------------------------------------ login / logout

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request):
        if authn.current_user(request.session):
            return RedirectResponse("/", status_code=303)
        return page(request, "login.html", user=None)

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request):
        form = await request.form()
        if not csrf_ok(request.session, str(form.get("csrf") or "")):
            return page(request, "login.html", 403, user=None, fejl="Formularen var udløbet. Prøv igen.")
        client = request.client.host if request.client else "?"
        try:
            user = authn.authenticate(str(form.get("brugernavn") or ""), str(form.get("adgangskode") or ""), client)
        except RateLimited as exc:
            resp = page(request, "login.html", 429, user=None,
                        fejl=f"For mange forkerte forsøg. Vent {exc.retry_after // 60 + 1} minut(ter), og prøv igen.")
            resp.headers["Retry-After"] = str(exc.retry_after)
            return resp
        if user is None:
            return page(request, "login.html", 401, user=None, fejl="Forkert brugernavn eller adgangskode.")
        authn.start_session(request.session, user)
        return RedirectResponse(home_for(user), status_code=303)

    @app.post("/logout")
    async def logout(request: Request):
        await form_with_csrf(request, authn.current_user(request.session))
        try:
            authn.end_session(request.session)  # this session and every other session of the user
        except (UsersError, OSError) as exc:
            log.error("logout: other sessions could not be ended (%s)", type(exc).__name__)
            return page(request, "fejl.html", 500, user=None, titel="Du er logget ud her",
                        besked="Dine sessioner i andre browsere kunne ikke afsluttes. Kontakt IT-support.")
        return RedirectResponse("/login", status_code=303)

    @app.get("/")
    async def index(request: Request):
        return RedirectResponse(home_for(require(request)), status_code=303)

    # ------------------------------------------------------------------ caseworker

    @app.get("/soeg", response_class=HTMLResponse)
    async def search_form(request: Request):
        user = require(request, "sagsbehandler")
        return page(request, "soeg.html", afdeling=user.department)

    def _view_page(request: Request, user: User, view: dict | None, chosen: str, note: str) -> HTMLResponse:
        if view is None:
            return page(request, "soeg.html", 404, afdeling=user.department, formaal=chosen, note=note,
                        fejl="Borgeren findes ikke i overblikket.")
        if not view["synlig"]:
            return page(request, "soeg.html", 200, afdeling=user.department, formaal=chosen, note=note,
                        fejl=f"{view['afdeling_navn']} har ingen registreringer om denne borger, som du må se.")
        svg = timeline_svg(view["afdelinger"], view["signaler"], view["referencedato"])
        return page(request, "borger.html", v=view, svg=svg, formaal=chosen, note=note, afdeling=user.department)

    def _no_purpose(request: Request, user: User) -> HTMLResponse:
        return page(request, "soeg.html", 400, afdeling=user.department,
                    fejl="Vælg formålet med opslaget fra listen.")

    @app.post("/soeg", response_class=HTMLResponse)
    async def search(request: Request):
        user = require(request, "sagsbehandler")
        form = await form_with_csrf(request, user)
        text, requested = form.get("soegning", "").strip(), form.get("afdeling") or None
        try:
            purpose, chosen, note = purpose_of(form, user)
        except audit.BadPurpose:
            return _no_purpose(request, user)
        # A CPR number however it was typed (20.02.62-3461, 200262 3461, ...) is looked up as one, never as a name:
        # the lookup applies the one CPR rule (cpr.normalise) and refuses what it does not accept.
        cpr_typed = text if cpr_rule.normalise(text) is not None or redact_cpr(text).strip() == REDACTED else None
        try:
            if cpr_typed is not None:
                view = borger.citizen_view(stores, user, cpr=cpr_typed, purpose=purpose, channel="web:borger",
                                           requested_department=requested)
                return _view_page(request, user, view, chosen, note)
            hits = borger.search_by_name(stores, user, text, purpose=purpose, channel="web:navnesoeg",
                                         requested_department=requested)
        except (borger.BadLookup, borger.AccessDenied) as exc:
            return lookup_refused(request, user, chosen, note, exc)
        return page(request, "soeg.html", afdeling=user.department, formaal=chosen, note=note, hits=hits, soegt=True)

    def lookup_refused(request: Request, user: User, chosen, note, exc: Exception):
        """A lookup that could not be made (the search page with the reason) or was denied (logged by borger)."""
        if isinstance(exc, borger.AccessDenied):
            return page(request, "fejl.html", 403, titel="Ingen adgang", besked=str(exc).capitalize() + ". Forsøget er logget.")
        return page(request, "soeg.html", 400, afdeling=user.department, formaal=chosen, note=note,
                    fejl=str(exc).capitalize())

    async def _by_ref(request: Request, fn, channel: str, template: str):
        user = require(request, "sagsbehandler")
        form = await form_with_csrf(request, user)
        requested = form.get("afdeling") or None
        try:
            purpose, chosen, note = purpose_of(form, user)
        except audit.BadPurpose:
            return _no_purpose(request, user)
        try:
            view = fn(stores, user, person_key=form.get("ref", ""), purpose=purpose, channel=channel,
                      requested_department=requested)
        except (borger.BadLookup, borger.AccessDenied) as exc:
            return lookup_refused(request, user, chosen, note, exc)
        if template == "borger.html":
            return _view_page(request, user, view, chosen, note)
        if view is None or not view["synlig"]:
            return _view_page(request, user, view, chosen, note)
        return page(request, template, v=view, formaal=chosen, note=note, afdeling=user.department)

    @app.post("/borger", response_class=HTMLResponse)
    async def citizen(request: Request):
        return await _by_ref(request, borger.citizen_view, "web:borger", "borger.html")

    @app.post("/familie", response_class=HTMLResponse)
    async def family(request: Request):
        return await _by_ref(request, borger.family_view, "web:familie", "familie.html")

    @app.post("/api/borger")
    async def api_citizen(request: Request):
        user = require(request, "sagsbehandler")
        if not csrf_ok(request.session, request.headers.get("x-csrf-token")):
            log_denial(request, user, "denied_csrf")
            raise _Forbidden()
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"fejl": "ugyldig JSON"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"fejl": "ugyldig JSON"}, status_code=400)
        try:
            purpose = purpose_of(body, user)[0]
        except audit.BadPurpose:
            return JSONResponse({"fejl": "ukendt formål: vælg et af formålene i 'formaal' fra /api/mig"}, status_code=400)
        try:
            view = borger.citizen_view(
                stores, user, cpr=body.get("cpr") if body.get("cpr") is not None else None,
                person_key=None if body.get("cpr") is not None else str(body.get("ref") or ""),
                purpose=purpose, channel="api:borger",
                requested_department=str(body["afdeling"]) if body.get("afdeling") else None)
        except borger.BadLookup as exc:
            return JSONResponse({"fejl": str(exc)}, status_code=400)
        except borger.AccessDenied as exc:
            return JSONResponse({"fejl": str(exc)}, status_code=403)
        if view is None:
            return JSONResponse({"fejl": "borgeren findes ikke"}, status_code=404)
        return JSONResponse(view)

    @app.get("/api/mig")
    async def api_me(request: Request):
        user = require(request)
        return {"bruger": user.id, "navn": user.name, "rolle": user.role, "afdeling": user.department,
                "csrf": csrf_token(request.session), "formaal": list(lookup_purposes(user.role))}

    # ------------------------------------------------------------------ compliance

    @app.get("/compliance", response_class=HTMLResponse)
    async def compliance_home(request: Request):
        require(request, "compliance")
        return page(request, "compliance.html")

    async def compliance_form(request: Request):
        """(user, form, purpose) of a compliance officer's lookup; a lookup without a listed purpose is answered with
        the form again (``_Answered``)."""
        user = require(request, "compliance")
        form = await form_with_csrf(request, user)
        try:
            return user, form, purpose_of(form, user)[0]
        except audit.BadPurpose:
            raise _Answered(page(request, "compliance.html", 400, fejl="Vælg formålet med opslaget fra listen.")) from None

    @app.post("/compliance/samtykke", response_class=HTMLResponse)
    async def compliance_lineage(request: Request):
        user, form, purpose = await compliance_form(request)
        try:
            report = lineage_report(stores.warehouse, form.get("cpr", ""))
        except LookupError_ as exc:
            return page(request, "compliance.html", 400, fejl=str(exc).capitalize())
        except Exception as exc:
            if isinstance(exc, OSError) or "IO Error" in str(exc):
                raise borger.NoWarehouse() from None
            raise
        audit.log_access(stores.audit_url, user_id=user.id, role=user.role, department=None,
                         person_key=report["person_key"] if report else None, purpose=purpose,
                         channel="web:samtykkespor", result_count=len(report["latest_decisions"]) if report else 0,
                         outcome="shown" if report else "not_found")
        if report is None:
            return page(request, "compliance.html", 404, fejl="Borgeren findes ikke i det publicerede lager.")
        return page(request, "samtykkespor.html", r=report)

    @app.post("/compliance/adgangslog", response_class=HTMLResponse)
    async def compliance_log(request: Request):
        user, form, purpose = await compliance_form(request)
        cpr, who = form.get("cpr", "").strip(), form.get("bruger", "").strip().lower()
        if cpr:
            from samlet_overblik.core import cpr as cprmod
            number = cprmod.normalise(cpr)
            if number is None:
                return page(request, "compliance.html", 400, fejl="Ugyldigt CPR-nummer (forventet DDMMÅÅ-SSSS eller 10 cifre).")
            import duckdb
            if not stores.warehouse.is_file():
                raise borger.NoWarehouse()
            with duckdb.connect(str(stores.warehouse), read_only=True) as con:
                rows = con.execute("SELECT person_key FROM identity.person_keys WHERE cpr = ?", [number]).fetchall()
            keys = [r[0] for r in rows]
            entries = [e for k in keys for e in audit.lookups(stores.audit_url, person_key=k, limit=1000)]
            entries.sort(key=lambda e: (e["logged_at"], e["id"]), reverse=True)
            audit.log_access(stores.audit_url, user_id=user.id, role=user.role, department=None,
                             person_key=keys[0] if keys else None, purpose=purpose, channel="web:adgangslog",
                             result_count=len(entries), outcome="shown" if keys else "not_found")
            from samlet_overblik.consent.lineage import mask
            return page(request, "adgangslog.html", entries=entries, om=f"borger {mask(number)}", per_borger=True)
        if who:
            entries = audit.lookups(stores.audit_url, user_id=who, limit=1000)
            audit.log_access(stores.audit_url, user_id=user.id, role=user.role, department=None, person_key=None,
                             purpose=purpose, channel="web:adgangslog", result_count=len(entries), outcome="search")
            return page(request, "adgangslog.html", entries=entries, om=f"bruger {who}", per_borger=False)
        return page(request, "compliance.html", 400, fejl="Angiv et CPR-nummer eller et brugernavn.")

    # ------------------------------------------------------------------ data engineers (no personal data)

    @app.get("/drift", response_class=HTMLResponse)
    async def operations(request: Request):
        require(request, "dataingenioer", "compliance")
        import duckdb

        exports = []
        for dept in DEPARTMENT_NAMES:
            path = stores.export(dept)
            info = {"afdeling": DEPARTMENT_NAMES[dept], "fil": path.name, "findes": path.is_file()}
            if path.is_file():
                with duckdb.connect(str(path), read_only=True) as con:
                    run_id, published = con.execute("SELECT run_id, published_at FROM export_info").fetchall()[0]
                    n = con.execute("SELECT count(*) FROM interventions").fetchall()[0][0]
                info.update(koersel=run_id, publiceret=published.strftime("%d-%m-%Y %H:%M"), poster=n)
            exports.append(info)
        runs = []
        if stores.warehouse.is_file():
            with duckdb.connect(str(stores.warehouse), read_only=True) as con:
                runs = con.execute("SELECT run_id, job, started_at, finished_at, status FROM meta.runs "
                                   "ORDER BY started_at DESC LIMIT 10").fetchall()
        return page(request, "drift.html", exports=exports, runs=runs)

    return app


def serve(settings: WebSettings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run uvicorn without its access log (our middleware logs method, path and status only). Everything is
    logged through the root logger's handler, which masks CPR numbers (uvicorn's own records included)."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logsafe.install_everywhere()
    uvicorn.run(create_app(settings), host=host, port=port, access_log=False, log_level="info", log_config=None,
                proxy_headers=False, server_header=False)
