"""FastAPI app: server-rendered Jinja2 pages for caseworkers (sagsbehandler), compliance and data engineers.

This module assembles the app: settings, middleware, the refusals' answers, and one router per surface
(``web/routes/``: session, caseworker, compliance, operations, review). A route renders a typed view model from ``access/``
(the same answer the CLI prints and the JSON API serialises); what is shown is decided there, never in a route.

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
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import SessionMiddleware

from samlet_overblik.access import audit, borger
from samlet_overblik.access.auth import PasswordAuthenticator
from samlet_overblik.access.users import UsersError, load_users, users_file
from samlet_overblik.consent.policy import PolicyError, policy_in_use
from samlet_overblik.core.cpr import redact_cpr
from samlet_overblik.core.municipalities import municipality
from samlet_overblik.core.labels import (
    CATEGORY_NAMES, DEPARTMENT_NAMES, OUTCOME_NAMES, ROLE_NAMES, SHOW_NAMES, basis_text, danish_date, danish_time, scope_lines,
)
from samlet_overblik.web import logsafe
from samlet_overblik.web.context import Answered, Forbidden, NotLoggedIn, WebContext, sentence
from samlet_overblik.web.routes import caseworker, compliance, operations, review, session
from samlet_overblik.web.timeline import COLOURS

log = logging.getLogger("samlet_overblik.web")
HERE = Path(__file__).parent
ROUTERS = (session.router, caseworker.router, compliance.router, operations.router, review.router)
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


# Threads a worker runs requests in (anyio's default is 40). Python runs one thread at a time, and a lookup holds the
# access log's lock across a commit: with dozens of threads the holder waits its turn for the interpreter while every
# other writer waits for it (measured at 1,000,000 citizens, 50 users, 2 workers: 27 lookups a second with 40
# threads, 48 with 8). Requests beyond these wait on the event loop instead, in order.
REQUEST_THREADS = 8


@asynccontextmanager
async def _request_threads(app: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS
    yield


class WebConfigError(ValueError):
    """The web app cannot start with these settings (one line)."""


@dataclass
class WebSettings:
    warehouse: Path
    users_file: Path
    session_secret: str
    dev_mode: bool = False
    # With tenants: each served municipality's warehouse (a user reads only their own municipality's); the users
    # file and the log of failed logins are the installation's (at the warehouse root).
    tenant_warehouses: dict[str, Path] = field(default_factory=dict)
    # Where failed logins are logged (core.tenants.installation_dir); None: beside the warehouse.
    login_log_dir: Path | None = None

    @classmethod
    def from_env(cls, warehouse: Path | None = None, env: Mapping[str, str] | None = None) -> "WebSettings":
        from samlet_overblik.core.settings import load_settings

        from samlet_overblik.core.tenants import for_tenant, installation_dir

        env = dict(os.environ if env is None else env)
        run_settings = load_settings(None, warehouse=warehouse, env=env)
        wh = run_settings.warehouse
        tenants = {code: for_tenant(run_settings, code, env).warehouse for code in run_settings.tenants}
        dev = env.get("SAMLET_DEV_MODE", "").lower() in ("1", "true", "yes")
        secret = env.get("SAMLET_SESSION_SECRET", "")
        if not secret:
            if not dev:
                raise WebConfigError("SAMLET_SESSION_SECRET is not set: refusing to serve "
                                     "(set it to 32+ random characters, or SAMLET_DEV_MODE=1 for a local demo)")
            secret = secrets.token_urlsafe(48)
        elif len(secret) < 32:
            raise WebConfigError("SAMLET_SESSION_SECRET must be at least 32 characters")
        settings = cls(Path(wh), users_file(warehouse, env), secret, dev, tenants, installation_dir(run_settings))
        settings.check_users_file()
        return settings

    def check_users_file(self) -> None:
        """Refuse to serve with a users file that is invalid or that others may write (one line)."""
        try:
            load_users(self.users_file)
        except UsersError as exc:
            raise WebConfigError(str(exc)) from None


class _HeadersAndLog:
    """The security headers on every response, ``Cache-Control: no-store`` on every page, one log line per request
    (method, path without query string, status, time: never a CPR number) and the 500 page for an unexpected error
    (with the headers). A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` streams every response through
    a task group of its own, a few milliseconds a request."""

    def __init__(self, app, on_error, safe_path) -> None:
        self.app, self.on_error, self.safe_path = app, on_error, safe_path

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, request = time.perf_counter(), Request(scope)
        status: list[int] = []

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                headers = MutableHeaders(scope=message)
                for name, value in _SECURITY_HEADERS.items():
                    headers[name] = value
                if not scope["path"].startswith("/static/"):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        except Exception as exc:  # caught here, not by Starlette's outermost handler: the page gets the headers
            if status:  # the response had begun: nothing else can be sent
                raise
            await self.on_error(request, exc)(scope, receive, with_headers)
        log.info("%s %s %s %.0f ms", request.method, self.safe_path(request), status[0] if status else 500,
                 (time.perf_counter() - started) * 1000)


def _unbroken(format_):
    """A date or time filter whose text never breaks inside a date ("30-11-" / "2026") in a narrow column."""
    def filtered(*args, **kwargs):
        text = format_(*args, **kwargs)
        return Markup('<span class="nowrap">%s</span>') % text if text else text
    return filtered


def create_app(settings) -> FastAPI:
    if not isinstance(settings, WebSettings):  # a run's Settings: take the warehouse, the rest from the environment
        settings = WebSettings.from_env(warehouse=getattr(settings, "warehouse", None))
    settings.check_users_file()
    try:
        policy_in_use()  # the lookup purposes come from it: a broken policy stops the start, not the first lookup
    except PolicyError as exc:
        raise WebConfigError(str(exc)) from None
    logsafe.install(log)
    # Failed logins: the municipality's log is not known before the user is, so they go to the installation's.
    authn = PasswordAuthenticator(settings.users_file,
                                  audit_url=audit.audit_url(settings.login_log_dir or Path(settings.warehouse).parent))
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(kommune_navn=lambda code: municipality(code).name,
                                 department_names=DEPARTMENT_NAMES, colours=COLOURS, outcome_names=OUTCOME_NAMES,
                                 category_names=CATEGORY_NAMES, role_names=ROLE_NAMES, show_names=SHOW_NAMES,
                                 all_departments=tuple(DEPARTMENT_NAMES))
    templates.env.filters.update(dato=_unbroken(danish_date), tid=_unbroken(danish_time), grundlag=basis_text,
                                 omfang=scope_lines)

    app = FastAPI(title="Samlet overblik", docs_url=None, redoc_url=None, openapi_url=None, lifespan=_request_threads)
    app.state.settings = settings
    app.state.authn = authn
    stores: dict[str | None, borger.Stores] = (
        {code: borger.Stores(path, code) for code, path in settings.tenant_warehouses.items()}
        or {None: borger.Stores(Path(settings.warehouse))})
    app.state.web = ctx = WebContext(stores, authn, templates)

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
            return ctx.page(request, "fejl.html", 500, titel="Der opstod en fejl",
                            besked="Prøv igen, eller kontakt IT-support.")
        except Exception:  # the error page itself failed (e.g. the users file): a plain page, still with headers
            return HTMLResponse("<!doctype html><title>Fejl</title><p>Der opstod en fejl.</p>", status_code=500)

    app.add_middleware(_HeadersAndLog, on_error=unexpected_error, safe_path=safe_path)
    app.add_middleware(SessionMiddleware, secret_key=settings.session_secret, session_cookie="samlet_session",
                       max_age=8 * 3600, same_site="strict", https_only=not settings.dev_mode)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for router in ROUTERS:
        app.include_router(router)

    # ------------------------------------------------------------------ refusals and errors (never echo input)

    @app.exception_handler(NotLoggedIn)
    async def _h_login(request: Request, exc):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"fejl": "ikke logget ind"}, status_code=401)
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(Answered)
    async def _h_answered(request: Request, exc: Answered):
        return exc.response

    @app.exception_handler(Forbidden)
    async def _h_forbidden(request: Request, exc):
        return ctx.refusal(request, 403, "ingen adgang", "Ingen adgang",
                           "Du har ikke adgang til denne side, eller formularen var udløbet. Gå tilbage og prøv igen.")

    @app.exception_handler(borger.AccessDenied)
    async def _h_denied(request: Request, exc):  # refused and logged by the access layer
        return ctx.refusal(request, 403, "ingen adgang", "Ingen adgang", sentence(str(exc)) + ". Forsøget er logget.")

    @app.exception_handler(StarletteHTTPException)
    async def _h_http(request: Request, exc: StarletteHTTPException):
        missing = exc.status_code == 404
        return ctx.refusal(request, exc.status_code, "ikke fundet" if missing else "fejl",
                           "Siden findes ikke" if missing else "Fejl", "Tjek adressen, eller gå til forsiden.")

    @app.exception_handler(RequestValidationError)
    async def _h_validation(request: Request, exc):
        return JSONResponse({"fejl": "ugyldig forespørgsel"}, status_code=422)

    @app.exception_handler(audit.AuditUnavailable)
    async def _h_audit(request: Request, exc):
        log.error("access log unavailable: %s %s refused", request.method, safe_path(request))
        return ctx.refusal(request, 503, "adgangsloggen kan ikke skrives; opslaget er afvist", "Opslaget er afvist",
                           "Adgangsloggen kan ikke skrives lige nu. Af hensyn til borgerens retssikkerhed vises "
                           "ingen oplysninger, før loggen virker igen. Kontakt IT-support.")

    @app.exception_handler(borger.NoWarehouse)
    async def _h_nowh(request: Request, exc):
        log.warning("nothing published: %s %s", request.method, safe_path(request))
        return ctx.page(request, "fejl.html", 503, titel="Ingen data endnu",
                        besked="Der er ikke publiceret noget overblik endnu. Prøv igen efter næste kørsel.")

    @app.exception_handler(UsersError)
    async def _h_users(request: Request, exc):
        # e.g. the users file was made writable for others while serving: nobody is let in until it is fixed
        log.error("users file refused: %s", exc)
        return ctx.refusal(request, 503, "brugeradministrationen er utilgængelig", "Log ind er ikke muligt lige nu",
                           "Brugeropsætningen kan ikke bruges. Kontakt IT-support.", user=None)

    @app.exception_handler(PolicyError)
    async def _h_policy(request: Request, exc):
        log.error("policy refused: %s", exc)
        return ctx.refusal(request, 503, "delingspolitikken kan ikke læses", "Opslaget er afvist",
                           "Delingspolitikken kan ikke læses. Kontakt IT-support.")

    return app


def app_from_environment() -> FastAPI:
    """The app of one of several ``serve`` workers: every worker builds it from the same environment (the parent
    puts the warehouse and the session secret there, so a session cookie is good in every worker)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logsafe.install_everywhere()
    return create_app(WebSettings.from_env())


def serve(settings: WebSettings, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Run uvicorn without its access log (our middleware logs method, path and status only). Everything is
    logged through the root logger's handler, which masks CPR numbers (uvicorn's own records included).

    With ``workers`` > 1, uvicorn starts that many processes on the port; what they must agree on lives outside
    them: the session is a signed cookie (one secret for all), lookup handles and the access log are in the audit
    database, and the users file is re-read on every request."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logsafe.install_everywhere()
    app: FastAPI | str = create_app(settings)
    if workers > 1:
        os.environ.update(SAMLET_WAREHOUSE=str(settings.warehouse), SAMLET_USERS_FILE=str(settings.users_file),
                          SAMLET_SESSION_SECRET=settings.session_secret)
        app = "samlet_overblik.web.app:app_from_environment"
    uvicorn.run(app, factory=workers > 1, workers=workers, host=host, port=port, access_log=False, log_level="info",
                log_config=None, proxy_headers=False, server_header=False)
