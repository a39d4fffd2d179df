"""What every router needs per request: the session's user, the CSRF check, the lookup purpose, the page renderer and
the answer to a refusal. One ``WebContext`` per app (``app.state.web``); a route gets it with ``web(request)``.

A route raises ``NotLoggedIn`` / ``Forbidden`` / ``Answered``; the app's exception handlers turn them into the page or
the JSON error, so a refusal looks the same on every surface.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates

from samlet_overblik.access import audit, borger, handles
from samlet_overblik.access.auth import PasswordAuthenticator, csrf_ok, csrf_token
from samlet_overblik.access.users import User
from samlet_overblik.consent.policy import PolicyError, lookup_purposes

# The access log's channel for a request that is refused before it reaches a lookup (role, CSRF).
CHANNELS = {
    "/soeg": "web:soeg", "/borger": "web:borger", "/familie": "web:familie", "/api/borger": "api:borger",
    "/api/mig": "api:mig", "/compliance": "web:compliance", "/compliance/samtykke": "web:samtykkespor",
    "/compliance/adgangslog": "web:adgangslog", "/compliance/indsigt": "web:indsigt", "/drift": "web:drift", "/logout": "web:logout",
    "/identitet": "web:identitet", "/identitet/par": "web:identitet", "/identitet/afgoer": "web:identitet",
}
# Where a user lands after logging in.
HOME_OF_ROLE = {"sagsbehandler": "/soeg", "compliance": "/compliance", "dataingenioer": "/drift", "datasteward": "/identitet"}


class NotLoggedIn(Exception):
    pass


class Forbidden(Exception):
    pass


class Answered(Exception):
    """A request answered before its handler's work (e.g. a form sent without a listed purpose)."""

    def __init__(self, response: Response):
        super().__init__("answered")
        self.response = response


@dataclass(frozen=True)
class Purpose:
    """A lookup's purpose: as the access log stores it, and as the form showed it (to fill the form in again)."""

    logged: str
    chosen: str
    note: str


# Where a request may name a municipality: a query parameter, a form field, a JSON field or a header. The user's own
# is the only one ever served; naming another is refused (403) and logged.
TENANT_FIELD = "kommune"
TENANT_HEADER = "x-kommune"


@dataclass
class WebContext:
    # What each municipality's users read and where their lookups are logged: one entry under None for a
    # single-municipality installation, one per kommunekode with tenants.
    stores_by_tenant: dict[str | None, borger.Stores]
    authn: PasswordAuthenticator
    templates: Jinja2Templates

    @property
    def tenants(self) -> bool:
        return None not in self.stores_by_tenant

    def tenant_of(self, user: User) -> str | None:
        """The municipality whose data ``user`` reads: theirs with tenants (None if it is not served), else None."""
        return user.kommune if self.tenants else None

    def serves(self, user: User) -> bool:
        return self.tenant_of(user) in self.stores_by_tenant

    def stores(self, user: User) -> borger.Stores:
        """The user's municipality's files: never another's (a user of none the installation serves reads nothing)."""
        found = self.stores_by_tenant.get(self.tenant_of(user))
        if found is None:
            raise Forbidden()
        return found

    def check_tenant(self, request: Request, user: User, named: object = None) -> None:
        """Refuse (403, logged in the user's own access log) a request that names a municipality other than the
        user's: in the query string, the ``X-Kommune`` header or ``named`` (a form's or JSON body's field)."""
        asked = [v for v in (request.query_params.get(TENANT_FIELD), request.headers.get(TENANT_HEADER), named)
                 if v not in (None, "")]
        own = self.tenant_of(user)
        if any(str(v).strip() != own for v in asked):
            self.log_denial(request, user, "denied_tenant")
            raise Forbidden()

    def page(self, request: Request, name: str, status: int = 200, **ctx) -> HTMLResponse:
        ctx.setdefault("user", getattr(request.state, "user", None))
        ctx["csrf"] = csrf_token(request.session)
        if "purposes" not in ctx:
            try:
                ctx["purposes"] = lookup_purposes(ctx["user"].role) if ctx["user"] else ()
            except PolicyError:  # the page still renders (an error page, say); lookups are refused meanwhile
                ctx["purposes"] = ()
        return self.templates.TemplateResponse(request, name, ctx, status_code=status)

    def refusal(self, request: Request, status: int, api_text: str, titel: str, besked: str, **extra) -> Response:
        """The API's one-line JSON error, or the error page, for a request that is refused."""
        if request.url.path.startswith("/api/"):
            return JSONResponse({"fejl": api_text}, status_code=status)
        return self.page(request, "fejl.html", status, titel=titel, besked=besked, **extra)

    def log_denial(self, request: Request, user: User, outcome: str) -> None:
        """A refused request, in the access log like a lookup (it fails closed like one, too)."""
        if not self.serves(user):
            return  # no municipality of this installation is the user's: there is no access log of theirs to write
        borger.log_lookup(self.stores(user), user, None, "", CHANNELS.get(request.url.path, "web:andet"), 0, outcome)

    def require(self, request: Request, *roles: str) -> User:
        """The session's user (as the users file has them now), who must have one of ``roles`` if any are given."""
        user = self.authn.current_user(request.session)
        if user is None:
            raise NotLoggedIn()
        request.state.user = user
        if not self.serves(user):
            raise Forbidden()
        self.check_tenant(request, user)
        if roles and user.role not in roles:
            self.log_denial(request, user, "denied_role")
            raise Forbidden()
        return user

    async def form_with_csrf(self, request: Request, user: User | None) -> dict[str, str]:
        form = await request.form()
        data = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        if not csrf_ok(request.session, data.get("csrf")):
            if user is not None:
                self.log_denial(request, user, "denied_csrf")
            raise Forbidden()
        if user is not None:
            self.check_tenant(request, user, data.get(TENANT_FIELD))
        return data

    async def lookup_form(self, request: Request, role: str, refused: Callable[[User, dict[str, str]], Response]
                          ) -> tuple[User, dict[str, str], Purpose]:
        """A lookup form of a user with ``role``: the user, the form (CSRF checked) and its purpose; a purpose the
        policy does not list is answered with ``refused(user, form)`` (the form again, filled in, with the reason)."""
        user = self.require(request, role)
        form = await self.form_with_csrf(request, user)
        try:
            return user, form, self.purpose_of(form, user)
        except audit.BadPurpose:
            raise Answered(refused(user, form)) from None

    def check_api_csrf(self, request: Request, user: User) -> None:
        if not csrf_ok(request.session, request.headers.get("x-csrf-token")):
            self.log_denial(request, user, "denied_csrf")
            raise Forbidden()

    def handle(self, token: str, user: User, *views: str) -> handles.Handle | None:
        """The user's unexpired lookup handle ``token`` for one of ``views``; None for anything else (one answer)."""
        found = handles.open_handle(self.stores(user).audit_url, token, user.id)
        return found if found is not None and found.view in views else None

    @staticmethod
    def stored_purpose(logged: str) -> Purpose:
        """A purpose as the access log stores it, split again into the listed purpose and the note."""
        chosen, _, note = logged.partition(audit.NOTE_SEPARATOR)
        return Purpose(logged, chosen, note)

    @staticmethod
    def purpose_of(data: dict, user: User) -> Purpose:
        """The lookup's purpose from a form or JSON body; ``audit.BadPurpose`` for one the policy does not list."""
        stored = audit.purpose_text(str(data.get("formaal") or ""), str(data.get("note") or ""),
                                    lookup_purposes(user.role))
        return WebContext.stored_purpose(stored)


def sentence(text: str) -> str:
    """A refusal's one-line reason as a sentence (``str.capitalize`` would lower-case "CPR")."""
    return text[:1].upper() + text[1:]


def web(request: Request) -> WebContext:
    return request.app.state.web
