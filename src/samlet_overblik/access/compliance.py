"""Compliance's lookups, audited like a caseworker's: a citizen's consent trail and the access log, by citizen or by
user. Shared by the CLI and the web app; each is logged before anything is returned (no log, no answer), and a
user without the compliance role is refused and logged.
"""

from __future__ import annotations

import duckdb

from samlet_overblik.access import audit
from samlet_overblik.access.borger import BadLookup, NoWarehouse, Stores, log_lookup, require_role
from samlet_overblik.access.users import User
from samlet_overblik.access.views import AccessLogEntry, AccessLogReport
from samlet_overblik.consent.lineage import LineageReport, LookupError_, lineage_report, mask
from samlet_overblik.core import cpr as cprmod

COMPLIANCE_ROLE = "compliance"
# How many access-log rows a report shows, newest first.
ENTRIES_SHOWN = 1000


def authorise_compliance(stores: Stores, user: User, channel: str) -> None:
    require_role(stores, user, COMPLIANCE_ROLE, channel,
                 "samtykkesporing og adgangslog er forbeholdt brugere med rollen compliance")


def consent_trail(stores: Stores, user: User, cpr: str, *, purpose: str, channel: str) -> LineageReport | None:
    """The citizen's consent versions, flows and the decisions behind each export; None when not in the warehouse."""
    authorise_compliance(stores, user, channel)
    try:
        report = lineage_report(stores.warehouse, cpr)
    except LookupError_ as exc:
        raise BadLookup(str(exc)) from None
    except (OSError, duckdb.IOException):
        raise NoWarehouse() from None
    log_lookup(stores, user, report.person_key if report else None, purpose, channel,
               len(report.latest_decisions) if report else 0, "shown" if report else "not_found")
    return report


def _entries(rows: list[dict]) -> list[AccessLogEntry]:
    return [AccessLogEntry(**row) for row in rows]


def access_log_about_citizen(stores: Stores, user: User, cpr: str, *, purpose: str, channel: str) -> AccessLogReport:
    """Who has looked at the citizen (every person key the CPR number has had), newest first."""
    authorise_compliance(stores, user, channel)
    number = cprmod.normalise(cpr)
    if number is None:
        raise BadLookup("ugyldigt CPR-nummer (forventet DDMMÅÅ-SSSS eller 10 cifre)")
    published = stores.published()
    if not published.warehouse.is_file():
        raise NoWarehouse()
    with duckdb.connect(str(published.warehouse), read_only=True) as con:
        keys = [r[0] for r in con.execute("SELECT person_key FROM identity.person_keys WHERE cpr = ?",
                                          [number]).fetchall()]
    rows = [e for k in keys for e in audit.lookups(stores.audit_url, person_key=k, limit=ENTRIES_SHOWN)]
    rows.sort(key=lambda e: (e["logged_at"], e["id"]), reverse=True)
    log_lookup(stores, user, keys[0] if keys else None, purpose, channel, len(rows), "shown" if keys else "not_found")
    return AccessLogReport(f"borger {mask(number)}", True, _entries(rows))


def access_log_of_user(stores: Stores, user: User, user_id: str, *, purpose: str, channel: str) -> AccessLogReport:
    """Every lookup one user made, newest first."""
    authorise_compliance(stores, user, channel)
    who = user_id.strip().lower()
    if not who:
        raise BadLookup("angiv et brugernavn")
    rows = audit.lookups(stores.audit_url, user_id=who, limit=ENTRIES_SHOWN)
    log_lookup(stores, user, None, purpose, channel, len(rows), "search")
    return AccessLogReport(f"bruger {who}", False, _entries(rows))
