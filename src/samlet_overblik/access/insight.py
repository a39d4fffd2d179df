"""The citizen's right of access (indsigt, databeskyttelsesforordningen art. 15): the report a municipality hands a
citizen who asks what it holds on them and who has looked.

Three parts, in Danish, in the words the compliance pages use (``core.labels``): every version of every consent
the citizen gave, what flowed to which department on which basis and when it stopped, and every lookup of the
citizen — who (name and user id), their department, the purpose, the channel and when (Datatilsynet's practice
since 2024: log data of who has seen the citizen's data is part of the right of access). Built by a compliance
user only, and logged like any lookup before it is returned. Rendered as CSV (semicolon-separated, UTF-8 with a
byte-order mark) or PDF (``access.documents``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import duckdb

from samlet_overblik.access import audit, documents
from samlet_overblik.access.documents import Document, Section
from samlet_overblik.access.borger import BadLookup, NoWarehouse, Stores, log_lookup, person_keys_of, person_of
from samlet_overblik.access.compliance import authorise_compliance
from samlet_overblik.access.users import User, UsersError, list_users, users_file
from samlet_overblik.consent.lineage import LookupError_, lineage_report, mask
from samlet_overblik.core import cpr as cprmod
from samlet_overblik.core.labels import (
    CATEGORY_NAMES, DEPARTMENT_NAMES, OUTCOME_NAMES, ROLE_NAMES, basis_text, danish_date, danish_time, scope_lines,
)

FORMATS = documents.FORMATS
CHANNEL_NAMES = {"web": "webappen", "api": "programgrænsefladen", "cli": "kommandolinjen"}


@dataclass(frozen=True)
class InsightReport:
    person_key: str
    name: str
    cpr_masked: str
    made_at: datetime
    made_by: str
    sections: tuple[Section, ...]


def _name_of(stores: Stores, person_key: str) -> str:
    person = person_of(stores, person_key)
    return person.name if person else "(navn ukendt)"


def _staff_names(stores: Stores) -> dict[str, str]:
    try:
        return {u.id: u.name for u in list_users(users_file(stores.warehouse))}
    except UsersError:  # the names are a courtesy: the report still names every user by id
        return {}


def _channel(channel: str) -> str:
    kind, _, what = channel.partition(":")
    return f"{CHANNEL_NAMES.get(kind, kind)} ({what})" if what else CHANNEL_NAMES.get(kind, kind)


def citizen_insight(stores: Stores, user: User, cpr: str, *, purpose: str, channel: str) -> InsightReport | None:
    """The right-of-access report about the citizen, or None when the warehouse does not know them (logged)."""
    authorise_compliance(stores, user, channel)
    number = cprmod.normalise(cpr)
    if number is None:
        raise BadLookup("ugyldigt CPR-nummer (forventet DDMMÅÅ-SSSS eller 10 cifre)")
    published = stores.published()
    try:
        trail = lineage_report(published.warehouse, number)
        keys = person_keys_of(stores, number) if trail else []
    except LookupError_ as exc:
        raise BadLookup(str(exc)) from None
    except (OSError, duckdb.IOException):
        raise NoWarehouse() from None
    if trail is None:
        log_lookup(stores, user, None, purpose, channel, 0, "not_found")
        return None
    staff = _staff_names(stores)
    lookups = sorted((e for k in keys for e in audit.lookups(stores.audit_url, person_key=k)),
                     key=lambda e: (e["logged_at"], e["id"]))
    consents = Section(
        "Dine samtykker", ("Samtykke", "Version", "Givet af", "Givet", "Gyldigt til", "Tilbagekaldt", "Omfang",
                           "Status"),
        [(v.consent_id, str(v.version), v.given_by, danish_time(v.given_at, utc=False), danish_date(v.valid_until),
          danish_time(v.withdrawn_at, utc=False), "; ".join(scope_lines(v.scope)), v.status or "")
         for v in trail.consent_versions],
        "Der er ikke registreret samtykker fra dig.", (14, 8, 16, 18, 13, 18, 90, 23))
    flows = Section(
        "Hvad er delt mellem kommunens afdelinger", ("Fra afdeling", "Til afdeling", "Oplysning", "Kategori",
                                                    "Grundlag", "Delt fra", "Delt til", "Hvorfor stoppet"),
        [(DEPARTMENT_NAMES.get(f.from_department, f.from_department),
          DEPARTMENT_NAMES.get(f.to_department, f.to_department), f.title or "", CATEGORY_NAMES.get(f.category or "",
                                                                                                   f.category or ""),
          basis_text(f.basis), danish_time(f.from_time), danish_time(f.to_time, "deles stadig"), f.stop_reason or "")
         for f in trail.flows],
        "Ingen af dine oplysninger er delt mellem afdelingerne.", (22, 22, 40, 18, 26, 18, 18, 36))
    seen = Section(
        "Hvem har slået dine oplysninger op", ("Tidspunkt", "Medarbejder", "Rolle", "Afdeling", "Formål", "Kanal",
                                               "Udfald"),
        [(danish_time(e["logged_at"]), f"{staff.get(e['user_id'], e['user_id'])} ({e['user_id']})",
          ROLE_NAMES.get(e["role"], e["role"]), DEPARTMENT_NAMES.get(e["department"] or "", e["department"] or ""),
          e["purpose"], _channel(e["channel"]), OUTCOME_NAMES.get(e["outcome"], e["outcome"])) for e in lookups],
        "Ingen har slået dine oplysninger op.", (18, 30, 18, 24, 50, 28, 32))
    report = InsightReport(trail.person_key, _name_of(stores, trail.person_key), mask(number) or "",
                           datetime.now(timezone.utc), user.name, (consents, flows, seen))
    log_lookup(stores, user, trail.person_key, purpose, channel, sum(len(s.rows) for s in report.sections), "shown")
    return report


# ------------------------------------------------------------------------------------------- rendering


def document(report: InsightReport) -> Document:
    return Document(
        f"Indsigt i kommunens oplysninger om {report.name}",
        f"CPR-nummer {report.cpr_masked}. Dannet {danish_time(report.made_at)} af {report.made_by}. Rapporten viser "
        "dine samtykker, hvilke oplysninger der er delt mellem kommunens afdelinger og på hvilket grundlag, og hvem "
        "der har slået dine oplysninger op.", report.made_at, report.sections)


def render(report: InsightReport, fmt: str) -> bytes:
    return documents.render(document(report), fmt)


def file_name(report: InsightReport, fmt: str) -> str:
    """A name without the CPR number: the person key and the day."""
    return f"indsigt-{report.person_key}-{report.made_at:%Y%m%d}.{fmt}"
