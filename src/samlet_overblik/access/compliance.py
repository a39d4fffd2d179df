"""Compliance's lookups, audited like a caseworker's: a citizen's consent trail and the access log, by citizen or by
user. Shared by the CLI and the web app; each is logged before anything is returned (no log, no answer), and a
user without the compliance role is refused and logged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timezone

import duckdb

from samlet_overblik.access import audit
from samlet_overblik.access.borger import (
    BadLookup, NoWarehouse, Stores, log_lookup, person_keys_of, reading_warehouse, require_role,
)
from samlet_overblik.access.users import User
from samlet_overblik.access.views import AccessLogEntry, AccessLogReport
from samlet_overblik.consent.lineage import LineageReport, LookupError_, lineage_report, mask
from samlet_overblik.core import cpr as cprmod
from samlet_overblik.core.labels import DEPARTMENT_NAMES, danish_date, local_time
from samlet_overblik.sources.specs import departments

COMPLIANCE_ROLE = "compliance"
# How many access-log rows a report shows, newest first.
ENTRIES_SHOWN = 1000


def authorise_compliance(stores: Stores, user: User, channel: str) -> None:
    require_role(stores, user, COMPLIANCE_ROLE, channel,
                 "samtykkesporing og adgangslog er forbeholdt brugere med rollen compliance")


def _overlaps(period: Period, start: str | None, end: str | None) -> bool:
    """Whether a flow shared from ``start`` until ``end`` (None: still shared) touches the period."""
    first = datetime.fromisoformat(start).date() if start else None
    last = datetime.fromisoformat(end).date() if end else None
    return not ((period.end and first and first > period.end) or (period.start and last and last < period.start))


def _narrowed(report: LineageReport, period: Period) -> LineageReport:
    flows = [f for f in report.flows if _overlaps(period, f.from_time, f.to_time)
             and (period.department is None or period.department in (f.from_department, f.to_department))]
    decisions = [d for d in report.latest_decisions
                 if period.department is None or period.department in (d.department, d.owner)]
    return replace(report, flows=flows, latest_decisions=decisions)


def resolve_citizen(stores: Stores, user: User, cpr: str, *, purpose: str, channel: str) -> str | None:
    """The person key of the citizen a compliance lookup is about (the web app redirects to a handle holding it,
    never the CPR number), or None when the warehouse does not know them (logged)."""
    authorise_compliance(stores, user, channel)
    number = cprmod.normalise(cpr)
    if number is None:
        raise BadLookup("ugyldigt CPR-nummer (forventet DDMMÅÅ-SSSS eller 10 cifre)")
    keys = person_keys_of(stores, number)
    if not keys:
        log_lookup(stores, user, None, purpose, channel, 0, "not_found")
        return None
    return keys[0]


def consent_trail(stores: Stores, user: User, cpr: str, *, purpose: str, channel: str,
                  period: Period | None = None, log: bool = True) -> LineageReport | None:
    """The citizen's consent versions, flows and the decisions behind each export (flows and decisions narrowed
    to ``period``); None when not in the warehouse."""
    authorise_compliance(stores, user, channel)
    try:
        report = lineage_report(stores.warehouse, cpr)
    except LookupError_ as exc:
        raise BadLookup(str(exc)) from None
    except (OSError, duckdb.IOException):
        raise NoWarehouse() from None
    if report is not None and period is not None:
        report = _narrowed(report, period)
    if log:  # False: the same lookup shown again (a reload of its handle), logged when first shown
        log_lookup(stores, user, report.person_key if report else None, purpose, channel,
                   len(report.latest_decisions) if report else 0, "shown" if report else "not_found")
    return report


@dataclass(frozen=True)
class Period:
    """What a compliance report is narrowed to: a period (dates, both ends included) and a department."""

    start: date | None = None
    end: date | None = None
    department: str | None = None

    @classmethod
    def parse(cls, start: str | None, end: str | None, department: str | None) -> "Period":
        """From a form or the command line (``BadLookup`` in Danish for a date or department it cannot use)."""
        def day(text: str | None, what: str) -> date | None:
            text = (text or "").strip()
            if not text:
                return None
            for fmt in ("%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"):
                try:
                    return datetime.strptime(text, fmt).date()
                except ValueError:
                    continue
            raise BadLookup(f"{what} skal være en dato som 30-11-2026")
        period = cls(day(start, "fra-datoen"), day(end, "til-datoen"), (department or "").strip() or None)
        if period.department and period.department not in departments():
            raise BadLookup("ukendt afdeling")
        if period.start and period.end and period.start > period.end:
            raise BadLookup("fra-datoen ligger efter til-datoen")
        return period

    def keeps(self, when: datetime | None, *departments_: str | None) -> bool:
        if when is not None:
            day_ = local_time(when).date()
            if (self.start and day_ < self.start) or (self.end and day_ > self.end):
                return False
        return self.department is None or self.department in departments_

    def describe(self) -> str:
        parts = []
        if self.start or self.end:
            parts.append(f"periode {danish_date(self.start, '…')} – {danish_date(self.end, '…')}")
        if self.department:
            parts.append(f"afdeling {DEPARTMENT_NAMES.get(self.department, self.department)}")
        return ", ".join(parts)


def _citizens(stores: Stores, keys: set[str]) -> dict[str, str]:
    """Person key -> "name (DDMMÅÅ-xxxx)" for the access log of a user (compliance reads people, not keys)."""
    if not keys:
        return {}
    with reading_warehouse(stores) as con:
        rows = con.execute(
            """SELECT k.person_key, k.cpr, p.given_name, p.family_name FROM identity.person_keys k
               LEFT JOIN staging.cpr_persons p USING (cpr) WHERE list_contains(?, k.person_key)""",
            [sorted(keys)]).fetchall()
    return {pk: f"{' '.join(x for x in (given, family) if x) or '(navn ukendt)'} ({mask(number) or 'uden CPR'})"
            for pk, number, given, family in rows}


def _entries(rows: list[dict], period: Period, names: dict[str, str] | None = None) -> list[AccessLogEntry]:
    names = names or {}
    return [AccessLogEntry(**row, citizen=names.get(row["person_key"] or "")) for row in rows
            if period.keeps(row["logged_at"].replace(tzinfo=timezone.utc), row["department"],
                            row["requested_department"])]


def access_log_about_citizen(stores: Stores, user: User, cpr: str, *, purpose: str, channel: str,
                             period: Period = Period(), log: bool = True) -> AccessLogReport:
    """Who has looked at the citizen (every person key the CPR number has had), newest first."""
    authorise_compliance(stores, user, channel)
    number = cprmod.normalise(cpr)
    if number is None:
        raise BadLookup("ugyldigt CPR-nummer (forventet DDMMÅÅ-SSSS eller 10 cifre)")
    keys = person_keys_of(stores, number)
    rows = [e for k in keys for e in audit.lookups(stores.audit_url, person_key=k, limit=ENTRIES_SHOWN)]
    rows.sort(key=lambda e: (e["logged_at"], e["id"]), reverse=True)
    if log:
        log_lookup(stores, user, keys[0] if keys else None, purpose, channel, len(rows),
                   "shown" if keys else "not_found")
    entries = _entries(rows, period)
    return AccessLogReport(f"borger {mask(number)}", True, entries, period.describe())


def access_log_of_user(stores: Stores, user: User, user_id: str, *, purpose: str, channel: str,
                       period: Period = Period(), log: bool = True) -> AccessLogReport:
    """Every lookup one user made, newest first."""
    authorise_compliance(stores, user, channel)
    who = user_id.strip().lower()
    if not who:
        raise BadLookup("angiv et brugernavn")
    rows = audit.lookups(stores.audit_url, user_id=who, limit=ENTRIES_SHOWN)
    if log:
        log_lookup(stores, user, None, purpose, channel, len(rows), "search")
    names = _citizens(stores, {r["person_key"] for r in rows if r["person_key"]})
    return AccessLogReport(f"bruger {who}", False, _entries(rows, period, names), period.describe())


@dataclass(frozen=True)
class FlowGroup:
    """Records that flowed the same way (from, to, category, basis) over the same interval: one line to read."""

    from_department: str
    to_department: str
    category: str | None
    basis: str
    consent_given: str | None
    from_time: str | None
    to_time: str | None
    stop_reason: str | None
    titles: tuple[str, ...]


def _grouped(items, key, title) -> list[tuple[tuple, tuple[str, ...]]]:
    """``items`` grouped by ``key(item)`` in first-seen order, each group with its items' titles."""
    groups: dict[tuple, list[str]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(title(item))
    return [(k, tuple(titles)) for k, titles in groups.items()]


def flow_groups(report: LineageReport) -> list[FlowGroup]:
    """The report's flows grouped (a home-care citizen has hundreds of visit records flowing the same way)."""
    return [FlowGroup(a, b, category, basis, given, start, end, stop, titles)
            for (a, b, category, basis, given, start, end, stop), titles in _grouped(
                report.flows, lambda f: (f.from_department, f.to_department, f.category, f.basis, f.consent_given,
                                         f.from_time, f.to_time, f.stop_reason), lambda f: f.title or f.record)]


@dataclass(frozen=True)
class DecisionGroup:
    """The latest run's decisions for one department about one owner's records of one kind: one line."""

    department: str
    owner: str
    category: str | None
    decision: str
    basis: str | None
    reason: str | None
    titles: tuple[str, ...]


def decision_groups(report: LineageReport) -> list[DecisionGroup]:
    """Other departments' decisions grouped (a department always sees its own records: left out)."""
    return [DecisionGroup(department, owner, category, decision, basis, reason, titles)
            for (department, owner, category, decision, basis, reason), titles in _grouped(
                [d for d in report.latest_decisions if d.department != d.owner],
                lambda d: (d.department, d.owner, d.category, d.decision, d.basis, d.reason), lambda d: d.title or "")]
