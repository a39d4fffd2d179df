"""The citizen view for a caseworker: what the user's department may see of one citizen, and nothing more.

Content comes only from the department's export (``exports/<department>.duckdb``, built by the consent rules).
From the restricted warehouse this module reads only: the person (CPR register: name, birth date, family
relations) and *how many* of the citizen's records in other departments are not shared with the department —
the count, never the content. Every lookup is written to the access log before anything is returned; when the
log cannot be written the lookup fails (``audit.AuditUnavailable``).

Authorisation is decided here, from the user as the server knows them (``users.User``): the department comes
from the user, never from the request. A request that names another department gets nothing and is logged as
``denied_department``.

Files are opened read-only and closed again per call, so a run that swaps in new files is fine.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TypeVar, cast

import duckdb

from samlet_overblik.access import audit
from samlet_overblik.sources.specs import departments
from samlet_overblik.core import cpr as cprmod
from samlet_overblik.core import warehouse as wh
from samlet_overblik.consent import gate
from samlet_overblik.consent.watcher import Revocations, load_revocations
from samlet_overblik.consent.lineage import mask
from samlet_overblik.access.users import User
from samlet_overblik.access.views import (
    CitizenView, DepartmentRecords, ExportInfo, FamilyMember, FamilySummary, FamilyView, NotVisible, Overview, Person,
    Meeting, Plan, Record, Relative, SearchHit, Signal, VisibleRecords,
)
from samlet_overblik.core.labels import CATEGORY_NAMES, DEPARTMENT_NAMES, STATUS_ORDER, basis_text


class AccessDenied(PermissionError):
    """The user may not make this lookup (already logged)."""


class BadLookup(ValueError):
    """Bad input (the message never contains the CPR number)."""


class NoWarehouse(FileNotFoundError):
    """Nothing published yet."""


@dataclass(frozen=True)
class Stores:
    """Where to read: the restricted warehouse and its department exports; where to log."""

    warehouse: Path
    # With tenants: the municipality these files are (its access log is its own).
    tenant: str | None = None

    @property
    def exports_dir(self) -> Path:
        return self.warehouse.parent / "exports"

    def export(self, department: str) -> Path:
        if department not in departments():  # never a path from the request
            raise AccessDenied("unknown department")
        return self.exports_dir / f"{department}.duckdb"

    def published(self) -> wh.PublishedSet:
        """The current set, resolved once per lookup: the warehouse and the export read belong to the same run."""
        return wh.published_set(self.warehouse)

    def revocations(self) -> Revocations:
        """Consent bases withdrawn since the exports were built (read-time enforcement)."""
        return load_revocations(self.warehouse)

    @property
    def audit_url(self) -> str:
        return audit.audit_url(self.warehouse.parent, self.tenant)


# Read-only connections to the files of published sets, kept between lookups: opening a large DuckDB file (its
# catalog) costs more than a lookup's queries. A published set is never written again (runs build the next set
# beside it and switch one symlink), and the key holds the file's identity, so a switched, rolled-back or replaced
# set is a new key. The oldest are dropped beyond MAX_OPEN; a lookup still reading one keeps its cursor (and with
# it the database) alive until it is done.
MAX_OPEN = 8
# A lookup is a few index reads: one thread per query (DuckDB's default, a thread per core for every query, only
# adds scheduling when many lookups run at once, and the server runs them side by side already).
_OPEN: dict[tuple, duckdb.DuckDBPyConnection] = {}
_OPEN_LOCK = threading.Lock()


@contextmanager
def _reading(published: wh.PublishedSet, path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only cursor on ``path``, a file of ``published``: from a kept connection when the set is never
    written again, else a connection of its own (the layout before sets, whose file a run may rewrite), closed
    afterwards. ``NoWarehouse`` when the file is missing."""
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if st is None or not stat.S_ISREG(st.st_mode):
        raise NoWarehouse("intet publiceret lager endnu (kør 'samlet-overblik run' eller 'demo')")
    if published.set_id is None:
        with duckdb.connect(str(path), read_only=True) as con:
            yield con
        return
    key = (str(path), st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
    with _OPEN_LOCK:
        kept = _OPEN.get(key)
        con = kept if kept is not None else duckdb.connect(str(path), read_only=True)
        if kept is None:
            # Set, not passed to connect: every connection to the file in this process must share one configuration.
            con.execute("SET threads = 1")
            _OPEN[key] = con
            while len(_OPEN) > MAX_OPEN:
                _OPEN.pop(next(iter(_OPEN)))
        cursor = con.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


T = TypeVar("T")
# What never changes within a published set (a set is never written again): read once per set and process.
_PER_SET: dict[tuple, object] = {}


def _of_set(published: wh.PublishedSet, what: tuple, read: Callable[[], T]) -> T:
    """``read()`` once per published set (every time for the layout before sets, whose files a run rewrites)."""
    if published.set_id is None:
        return read()
    key = (str(published.warehouse), published.set_id, *what)
    if key not in _PER_SET:
        if len(_PER_SET) >= 64:  # a long-running server outlives many sets
            _PER_SET.clear()
        _PER_SET[key] = read()
    return cast(T, _PER_SET[key])


def _iso(v) -> str | None:
    return v.isoformat() if v is not None else None


def log_lookup(stores: Stores, user: User, person_key: str | None, purpose: str, channel: str, count: int,
               outcome: str, requested: str | None = None, also: tuple = ()) -> None:
    """One row of the access log for ``user`` (role and department as the server knows them); every surface's
    lookups and refusals are written through here (``also``: statements committed in the row's transaction)."""
    audit.log_access(stores.audit_url, user_id=user.id, role=user.role, department=user.department,
                     person_key=person_key, purpose=purpose, channel=channel, result_count=count, outcome=outcome,
                     requested_department=requested, also=also)


def require_role(stores: Stores, user: User, role: str, channel: str, refusal: str) -> None:
    """Refuse a user without ``role``; the refusal is an access attempt too, logged before it is raised."""
    if user.role != role:
        log_lookup(stores, user, None, "", channel, 0, "denied_role")
        raise AccessDenied(refusal)


def authorise(stores: Stores, user: User, *, person_key: str | None, purpose: str, channel: str,
              requested_department: str | None = None) -> str:
    """The department whose export the user may read. Denials are logged, then raised."""
    if user.role != "sagsbehandler" or user.department not in departments():
        log_lookup(stores, user, person_key, purpose, channel, 0, "denied_role")
        raise AccessDenied("kun sagsbehandlere kan slå borgere op i overblikket")
    if requested_department and requested_department != user.department:
        log_lookup(stores, user, person_key, purpose, channel, 0, "denied_department",
                   requested=str(requested_department)[:40])
        raise AccessDenied("du kan kun se det, din egen afdeling må se")
    return user.department


# ----------------------------------------------------------------------------------------------- reading


def _person_key_for_cpr(con, number: str) -> str | None:
    # Rows are few; ordered here, not in SQL (an ORDER BY costs a lookup query about as much as the read itself).
    rows = con.execute("SELECT person_key, merged_into FROM identity.person_keys WHERE cpr = ?", [number]).fetchall()
    if not rows:
        return None
    key, merged_into = min(rows, key=lambda r: r[1] is not None)  # a key still in use before a merged one
    return merged_into or key


def _newest_first(value) -> tuple:
    """Sort key: newest first, no date last (DuckDB's ``DESC NULLS LAST``)."""
    return (value is None, -value.toordinal() if value is not None else 0)


@contextmanager
def reading_warehouse(stores: Stores) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only cursor on the published warehouse (``NoWarehouse`` when nothing is published)."""
    published = stores.published()
    with _reading(published, published.warehouse) as con:
        yield con


def person_keys_of(stores: Stores, number: str) -> list[str]:
    """Every person key the (normalised) CPR number has had, the current one first."""
    with reading_warehouse(stores) as con:
        return [r[0] for r in con.execute(
            "SELECT person_key FROM identity.person_keys WHERE cpr = ? ORDER BY merged_into IS NULL DESC",
            [number]).fetchall()]


def cpr_of(stores: Stores, person_key: str) -> str | None:
    """The CPR number behind a person key (server side only: to run a lookup a handle names)."""
    with reading_warehouse(stores) as con:
        rows = con.execute("SELECT cpr FROM identity.person_keys WHERE person_key = ?", [person_key]).fetchall()
    return rows[0][0] if rows and rows[0][0] else None


def person_of(stores: Stores, person_key: str) -> Person | None:
    """The person as the CPR register has them (name, masked CPR number, birth date)."""
    with reading_warehouse(stores) as con:
        return _person_and_family(con, person_key, with_family=False)[0]


# The words for a relative, most telling first: a relative who is both is named by the first that applies, and
# "samme husstand" is added when they also live at the citizen's address.
_RELATIONS = (("barn", "barn"), ("forældremyndighed+forælder", "forælder med forældremyndighed"),
              ("forælder", "forælder"), ("forældremyndighed", "har forældremyndighed"), ("medforælder", "medforælder"))


def _relation_text(kinds: list[str]) -> str:
    have = set(kinds)
    for key, text in _RELATIONS:
        if set(key.split("+")) <= have:
            return text + (", samme husstand" if "husstand" in have else "")
    return "samme husstand"


def _by_key(con, select: str, column: str, values: list) -> list[tuple]:
    """``select`` (``SELECT ... FROM table``) for the rows whose ``column`` is one of ``values``: a list of
    constants is answered through the column's index (a join, or an equality mixed with other conditions, scans
    the table; those conditions are applied by the caller)."""
    if not values:
        return []
    return con.execute(f"{select} WHERE {column} IN ({', '.join('?' * len(values))})", list(values)).fetchall()


def _person_and_family(con, person_key: str, with_family: bool = True) -> tuple[Person | None, list[Relative]]:
    """The person as the CPR register has them and their family as the unified layer lists it
    (``unified.relatives``: parents and custody holders, children, co-parents and the household, relations in force
    at the build's reference date), kin first and the eldest first: one read by person key.

    The family is worked out by the nightly build, not here: read from the register per lookup it took four
    statements, about 14 ms against 1,000,000 citizens (a join of the register tables 170 ms)."""
    try:
        rows = con.execute(
            "SELECT relative_key, relative_cpr, given_name, family_name, birth_date, sex, status, kinds "
            "FROM unified.relatives WHERE person_key = ?", [person_key]).fetchall()
    except duckdb.CatalogException:  # a set built before the table existed (rolled back to): the person only
        rows = []
    me = next((r for r in rows if r[7] == ["selv"]), None)
    if me is None:
        found = _by_key(con, "SELECT cpr FROM identity.person_keys", "person_key", [person_key])
        if not found:
            return None, []
        named = _by_key(con, "SELECT cpr, given_name, family_name, birth_date, sex, status FROM staging.cpr_persons",
                        "cpr", [found[0][0]] if found[0][0] else [])
        me = (person_key, *(named[0] if named else (found[0][0], None, None, None, None, None)), ["selv"])
    _, cpr, given, family, born, sex, status, _ = me
    person = Person(person_key, mask(cpr), " ".join(x for x in (given, family) if x) or "(navn ukendt)", _iso(born),
                    {"M": "mand", "K": "kvinde"}.get(sex or "", ""), status or "")
    if not with_family:
        return person, []
    others = sorted((r for r in rows if r[7] != ["selv"]),
                    key=lambda r: (r[7] == ["husstand"], r[4] is None, r[4] or date.min))
    return person, [Relative(r[0], mask(r[1]), " ".join(x for x in (r[2], r[3]) if x), _iso(r[4]),
                             _relation_text(r[7])) for r in others]


def _rows(econ, sql: str, params, older: tuple[str, str]) -> list[tuple]:
    """``sql``'s rows; from an export of a set built before a column existed (one rolled back to), the rows of
    ``sql`` with ``older[0]`` read as ``older[1]``."""
    try:
        return econ.execute(sql, params).fetchall()
    except duckdb.BinderException:
        return econ.execute(sql.replace(*older), params).fetchall()


# The status (aktiv/afsluttet/kommende) is the unified view's (assets/unified/interventions.sql), carried in the export.
_INTERVENTIONS = """
SELECT source_department, category, kind, title, legal_paragraph, start_date, end_date, caseworker, monthly_cost,
       basis, source, source_table, record_id, status, caseworker_team, caseworker_phone, caseworker_email
FROM interventions WHERE person_key = $pk
"""


def _interventions(econ, person_key: str, viewer: str, revoked: Revocations) -> tuple[list[Record], int]:
    """The records the viewer may see now, and how many of the export's rows a revoked basis hides."""
    out, hidden = [], 0
    # Exports built before they carried status and contacts: those read as NULL.
    rows = _rows(econ, _INTERVENTIONS, {"pk": person_key},
                 ("record_id, status, caseworker_team, caseworker_phone, caseworker_email",
                  "record_id, NULL AS status, NULL, NULL, NULL"))
    rows.sort(key=lambda r: (r[0], _newest_first(r[5]), r[3] or ""))  # department, newest start first, title
    for (dept, cat, kind, title, para, start, end, cw, cost, basis, src, tab, rid, status, team, phone, email) in rows:
        if revoked.hides(viewer, basis, dept, cat):
            hidden += 1
            continue
        out.append(Record(
            department=dept, department_name=DEPARTMENT_NAMES.get(dept, dept), category=cat,
            category_name=CATEGORY_NAMES.get(cat, cat), kind=kind, title=title, paragraph=para or "",
            start=_iso(start), end=_iso(end), status=status, caseworker=cw or "",
            monthly_cost=float(cost) if cost is not None else None, basis=basis, basis_text=basis_text(basis),
            source_key=(src, tab, str(rid)), caseworker_team=team or "", caseworker_phone=phone or "",
            caseworker_email=email or "",
        ))
    return out, hidden


def _derived_revoked(econ, person_key: str, viewer: str, revoked: Revocations) -> bool:
    """Whether a plan or home visit of the citizen in this export rests on a revoked basis."""
    if not (revoked.all_consents or revoked.entries):
        return False
    rows = econ.execute(
        "SELECT basis, source_department, category FROM coordination_plans WHERE person_key = ? "
        "UNION ALL SELECT basis, department, category FROM home_visits WHERE person_key = ?",
        [person_key, person_key]).fetchall()
    return any(revoked.hides(viewer, b, d, c) for b, d, c in rows)


def _overview(econ, person_key: str) -> Overview | None:
    rows = econ.execute(
        """SELECT n_departments, departments, active_interventions, active_services, monthly_cost_dkk, annual_cost_dkk,
                  caseworkers, coordinating_caseworker, coordinating_department, flag_departments, flag_services,
                  flag_cost, complex_case, flags_explained, data_as_of, reference_date
           FROM citizen_overview WHERE person_key = ?""", [person_key]).fetchall()
    if not rows:
        return None
    r = rows[0]
    flags = []
    if r[9]:
        flags.append("Aktiv i flere afdelinger")
    if r[10]:
        flags.append("Mange ydelser og indsatser")
    if r[11]:
        flags.append("Høj årlig udgift")
    return Overview(
        n_departments=r[0], departments=[DEPARTMENT_NAMES.get(d, d) for d in (r[1] or [])], active_records=r[2],
        active_services=r[3], monthly_cost=float(r[4] or 0), annual_cost=float(r[5] or 0),
        caseworkers=list(r[6] or []), coordinator=r[7],
        coordinator_department=DEPARTMENT_NAMES.get(r[8], r[8]) if r[8] else None, flags=flags,
        complex_case=bool(r[12]), flags_explained=r[13], data_as_of=_iso(r[14]), reference_date=_iso(r[15]),
    )


def _signals(econ, person_key: str) -> list[Signal]:
    rows = econ.execute(
        """SELECT s.signal_id, r.title, s.signal_date, s.detail, s.description, s.departments
           FROM coordination_signals s LEFT JOIN signal_rules r USING (signal_id)
           WHERE s.person_key = ?""", [person_key]).fetchall()
    rows.sort(key=lambda r: _newest_first(r[2]))
    return [Signal(r[0], r[1] or r[0], _iso(r[2]), r[3], r[4], [DEPARTMENT_NAMES.get(d, d) for d in (r[5] or [])])
            for r in rows]


def _goals(text: str | None) -> list[str]:
    """A plan's goals as the source writes them: one per line or separated by semicolons."""
    return [g.strip(" -•\t") for g in (text or "").replace(";", "\n").splitlines() if g.strip(" -•\t")]


_PLANS = """
SELECT source_department, coordinator, created_date, goals, basis, category, source, source_table, record_id,
       follow_up_date
FROM coordination_plans WHERE person_key = ?
"""


def _plans(wcon, econ, person_key: str, viewer: str, revoked: Revocations, ref: date,
           decisions: list | None = None) -> tuple[list[Plan], list[str]]:
    """The plans the viewer may see (newest first), and the departments whose plan is not shared with them."""
    # Exports built before plans carried their follow-up: none.
    rows = _rows(econ, _PLANS, [person_key], ("follow_up_date", "NULL"))
    rows.sort(key=lambda r: _newest_first(r[2]))
    shown = [r for r in rows if not revoked.hides(viewer, r[4], r[0], r[5])]
    plans = [Plan(r[0], DEPARTMENT_NAMES.get(r[0], r[0]), r[1], _iso(r[2]), _goals(r[3]), basis_text(r[4]),
                  _iso(r[9]), r[9] is not None and r[9] < ref) for r in shown]
    elsewhere = gate.hidden_plan_departments(wcon, person_key, viewer, {(r[6], r[7], str(r[8])) for r in shown},
                                             decisions)
    return plans, elsewhere


def next_meetings(records: list[Record]) -> list[Meeting]:
    """Per department, the first planned contact (a meeting or conversation still to come), soonest first."""
    first: dict[str, Record] = {}
    for r in records:
        if r.category == "kontakt" and r.status == "kommende" and r.start:
            if r.department not in first or r.start < (first[r.department].start or ""):
                first[r.department] = r
    return sorted((Meeting(r.department, r.department_name, r.start, r.title, r.caseworker) for r in first.values()),
                  key=lambda m: m.date or "")


def plans_not_shared_text(departments_: list[str]) -> str:
    if not departments_:
        return ""
    names = [DEPARTMENT_NAMES.get(d, d) for d in departments_]
    where = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " og " + names[-1]
    return f"En tovholder er registreret i {where}; planen er ikke delt med dig."


def _export_info(econ) -> ExportInfo:
    rows = econ.execute("SELECT run_id, published_at FROM export_info").fetchall()
    return ExportInfo(rows[0][0], rows[0][1].isoformat(sep=" ", timespec="seconds")) if rows else ExportInfo()


def _reference(wcon) -> date:
    rows = wcon.execute("SELECT reference_date FROM unified.build_info").fetchall()
    return rows[0][0] if rows and rows[0][0] else date.today()


def not_shared_text(n: int) -> str:
    if n == 0:
        return "Intet er skjult: du ser alt, hvad kommunens andre afdelinger har registreret om borgeren."
    word = "registrering" if n == 1 else "registreringer"
    verb = "er"
    return f"{n} {word} i andre afdelinger {verb} ikke delt med dig"


NOT_A_CPR = "ugyldigt CPR-nummer (forventet DDMMÅÅ-SSSS eller 10 cifre)"
NO_DATE_CPR = "ugyldigt CPR-nummer: de første seks cifre er ikke en gyldig dato (tjek dag og måned)"


def _resolve(wcon, cpr: str | None, person_key: str | None) -> str | None:
    if cpr is not None:
        number = cprmod.normalise(cpr)
        if number is None:
            raise BadLookup(NOT_A_CPR)
        found = _person_key_for_cpr(wcon, number)
        # A number the register holds is found whatever its status (the one CPR rule's contract); one it does not
        # hold and whose first six digits are no date cannot be anybody's: a typing error, not an unknown citizen.
        if found is None and cprmod.status(number) == "invalid":
            raise BadLookup(NO_DATE_CPR)
        return found
    if not person_key or len(person_key) > 40:
        raise BadLookup("ingen borger angivet")
    rows = wcon.execute("SELECT coalesce(merged_into, person_key) FROM identity.person_keys WHERE person_key = ?",
                        [person_key]).fetchall()
    return rows[0][0] if rows else None


def _one(wcon, econ, person_key: str, department: str, ref: date, revoked: Revocations,
         decisions: list | None = None) -> VisibleRecords:
    items, revoked_rows = _interventions(econ, person_key, department, revoked)
    visible = {i.source_key for i in items}
    # Every record of another department that is not shown: blocked by the gate, or hidden by a withdrawal since.
    hidden = gate.hidden_count(wcon, person_key, department, visible, decisions)
    groups: dict[str, list[Record]] = {}
    # Active first, then coming, then finished; newest first within each (the query's order, kept by a stable sort).
    for i in sorted(items, key=lambda r: STATUS_ORDER.get(r.status or "", len(STATUS_ORDER))):
        groups.setdefault(i.department, []).append(i)
    order = [department] + [d for d in departments() if d != department]
    return VisibleRecords(
        records=items,
        by_department=[DepartmentRecords(d, DEPARTMENT_NAMES[d], d == department, groups[d])
                       for d in order if d in groups],
        not_shared=hidden,
        not_shared_text=not_shared_text(hidden),
        consent_changed=bool(revoked_rows) or _derived_revoked(econ, person_key, department, revoked),
    )


def _required_purpose(purpose: str | None) -> str:
    """The purpose as the access log stores it: one of the policy's lookup purposes for caseworkers, optionally
    followed by ``audit.NOTE_SEPARATOR`` and a note (CPR numbers in it masked). Free text is refused."""
    if not (purpose or "").strip():
        raise BadLookup("angiv formålet med opslaget")
    from samlet_overblik.consent.policy import lookup_purposes

    try:
        return audit.checked_purpose(purpose, lookup_purposes("sagsbehandler"))
    except audit.BadPurpose as exc:
        raise BadLookup(str(exc)) from None


def _authorised_citizen(stores: Stores, wcon, user: User, cpr: str | None, person_key: str | None, purpose: str,
                        channel: str, requested_department: str | None) -> tuple[str | None, str]:
    """Resolve the citizen and the user's department (tampering is refused and logged); log a miss."""
    pk = _resolve(wcon, cpr, person_key)
    department = authorise(stores, user, person_key=pk, purpose=purpose, channel=channel,
                           requested_department=requested_department)
    if pk is None:
        log_lookup(stores, user, None, purpose, channel, 0, "not_found")
    return pk, department


def _not_visible(stores: Stores, user: User, pk: str, purpose: str, channel: str, department: str) -> NotVisible:
    """A citizen the department has no visible record of: nothing about them is shown (logged)."""
    log_lookup(stores, user, pk, purpose, channel, 0, "no_visible_records")
    return NotVisible(department, DEPARTMENT_NAMES[department])


def _visible_members(econ, family: list[Relative], viewer: str, revoked: Revocations) -> tuple[list[Relative], int]:
    """Family members through the gate: a member is named only when the department may see at least one of
    their records (now, after revocations); the others are a count."""
    rows = _by_key(econ, "SELECT person_key, basis, source_department, category FROM interventions", "person_key",
                   [m.person_key for m in family])
    counts: dict[str, int] = {}
    for pk, basis, dept, cat in rows:
        if not revoked.hides(viewer, basis, dept, cat):
            counts[pk] = counts.get(pk, 0) + 1
    shown = [replace(m, visible_records=counts[m.person_key]) for m in family if counts.get(m.person_key)]
    return shown, len(family) - len(shown)


CONSENT_CHANGED_TEXT = ("Et samtykke er ændret siden overblikket blev beregnet. Poster, der ikke længere må deles, er "
                        "skjult; nøgletal, signaler og tovholder vises igen, når overblikket er genberegnet.")


@dataclass
class _Lookup:
    """One citizen looked up for a department: the open warehouse and export, and the citizen's visible records."""

    wcon: duckdb.DuckDBPyConnection
    econ: duckdb.DuckDBPyConnection
    person_key: str
    department: str
    reference: date
    revoked: Revocations
    purpose: str
    records: VisibleRecords
    decisions: list  # the gate's decisions about the citizen's records elsewhere (gate.decisions_about)
    data: ExportInfo  # the export's run and publication time


@contextmanager
def _looked_up(stores: Stores, user: User, cpr: str | None, person_key: str | None, purpose: str, channel: str,
               requested_department: str | None) -> Iterator[_Lookup | NotVisible | None]:
    """The authorised lookup of one citizen; instead, the answer to give at once: None (refused or not found) or
    the answer for a citizen the department has no visible record of (logged either way)."""
    purpose = _required_purpose(purpose)
    published, revoked = stores.published(), stores.revocations()
    with _reading(published, published.warehouse) as wcon:
        pk, department = _authorised_citizen(stores, wcon, user, cpr, person_key, purpose, channel, requested_department)
        if pk is None:
            yield None
            return
        ref = _of_set(published, ("reference",), lambda: _reference(wcon))
        with _reading(published, published.export(department)) as econ:
            decisions = gate.decisions_about(wcon, pk, department)
            records = _one(wcon, econ, pk, department, ref, revoked, decisions)
            if not records.records:
                yield _not_visible(stores, user, pk, purpose, channel, department)
                return
            data = _of_set(published, ("export", department), lambda: _export_info(econ))
            yield _Lookup(wcon, econ, pk, department, ref, revoked, purpose, records, decisions, data)


def find_person(stores: Stores, user: User, *, cpr: str | None = None, person_key: str | None = None, purpose: str,
                channel: str, requested_department: str | None = None) -> str | None:
    """The person key a lookup is about, with the user authorised for it, or None (not found, logged).

    The web app resolves a posted lookup with this before it redirects to the lookup's handle: the citizen's
    records are read, shown and logged when the handle's page is shown."""
    purpose = _required_purpose(purpose)
    published = stores.published()
    with _reading(published, published.warehouse) as wcon:
        pk, _ = _authorised_citizen(stores, wcon, user, cpr, person_key, purpose, channel, requested_department)
    return pk


def citizen_view(stores: Stores, user: User, *, cpr: str | None = None, person_key: str | None = None,
                 purpose: str, channel: str, requested_department: str | None = None,
                 log_shown: bool = True, log_with: tuple = ()) -> CitizenView | NotVisible | None:
    """The overview of one citizen as ``user``'s department may see it, or None (logged either way).

    A citizen of whom the department has no visible record is not shown at all (no name, no counts):
    a lookup needs a relation to the citizen. Rows whose consent was withdrawn after the exports were built
    are left out (read-time enforcement), and so is everything computed with them. ``log_with``: statements
    committed with the "shown" row (the web app's handle marked as shown)."""
    with _looked_up(stores, user, cpr, person_key, purpose, channel, requested_department) as found:
        if not isinstance(found, _Lookup):
            return found
        pk, department, econ, part = found.person_key, found.department, found.econ, found.records
        person, relatives = _person_and_family(found.wcon, pk)
        family, family_hidden = _visible_members(econ, relatives, department, found.revoked)
        changed = part.consent_changed
        plans, elsewhere = _plans(found.wcon, econ, pk, department, found.revoked, found.reference, found.decisions)
        view = CitizenView(
            department=department, department_name=DEPARTMENT_NAMES[department], person=person,
            overview=None if changed else _overview(econ, pk), signals=[] if changed else _signals(econ, pk),
            family=family, family_not_shown=family_hidden,
            consent_changed_text=CONSENT_CHANGED_TEXT if changed else "",
            reference_date=found.reference.isoformat(), data=found.data, part=part,
            plans=plans, plans_not_shared=[DEPARTMENT_NAMES.get(d, d) for d in elsewhere],
            plans_not_shared_text=plans_not_shared_text(elsewhere), next_meetings=next_meetings(part.records),
        )
        # Logged before anything is returned: no log, no answer. ``log_shown=False``: the same lookup shown again
        # (a reload of its handle's page), already logged when first shown.
        if log_shown:
            log_lookup(stores, user, pk, found.purpose, channel, len(part.records), "shown", also=log_with)
    return view


def family_view(stores: Stores, user: User, *, person_key: str, purpose: str, channel: str,
                requested_department: str | None = None, log_shown: bool = True, log_with: tuple = ()
                ) -> FamilyView | NotVisible | None:
    """The citizen and the parents/children the department may see records of (one log row per member shown)."""
    with _looked_up(stores, user, None, person_key, purpose, channel, requested_department) as found:
        if not isinstance(found, _Lookup):
            return found
        pk, department, econ, first = found.person_key, found.department, found.econ, found.records
        person, relatives = _person_and_family(found.wcon, pk)
        members = [FamilyMember(person, "borgeren selv", first)]
        family, family_hidden = _visible_members(econ, relatives, department, found.revoked)
        for m in family:
            members.append(FamilyMember(
                Person(m.person_key, m.cpr_masked, m.name, m.birth_date), m.relation,
                _one(found.wcon, econ, m.person_key, department, found.reference, found.revoked)))
        changed = any(member.part.consent_changed for member in members)
        fams = [] if changed else econ.execute(
            """SELECT family_id, n_children, n_adults, child_case_and_adult_benefits, annual_cost_dkk
               FROM family_overview WHERE list_contains(children, ?) OR list_contains(adults, ?)""",
            [pk, pk]).fetchall()
        for i, (member, key) in enumerate(zip(members, [pk] + [r.person_key for r in family], strict=True)):
            if log_shown:
                log_lookup(stores, user, key, found.purpose, channel, len(member.part.records), "shown",
                           also=log_with if i == 0 else ())
    return FamilyView(
        department=department, department_name=DEPARTMENT_NAMES[department], person_key=pk,
        reference_date=found.reference.isoformat(), members=members, family_not_shown=family_hidden,
        consent_changed_text=CONSENT_CHANGED_TEXT if changed else "",
        families=[FamilySummary(f[0], f[1], f[2], bool(f[3]), float(f[4] or 0)) for f in fams],
    )


def name_words(text: str | None) -> list[str]:
    """The words a name search looks for (``BadLookup`` when there is too little to search for)."""
    words = [w for w in (text or "").replace(",", " ").split() if w][:4]
    if not words or sum(len(w) for w in words) < 2:
        raise BadLookup("skriv mindst to bogstaver af navnet")
    return words


def search_by_name(stores: Stores, user: User, text: str, *, purpose: str, channel: str,
                   requested_department: str | None = None, limit: int = 25, log_shown: bool = True,
                   log_with: tuple = ()) -> list[SearchHit]:
    """Citizens whose name matches, among those the user's department has records of (logged as one search)."""
    words = name_words(text)
    purpose = _required_purpose(purpose)
    department = authorise(stores, user, person_key=None, purpose=purpose, channel=channel,
                           requested_department=requested_department)
    where = " AND ".join(["(p.given_name || ' ' || p.family_name) ILIKE ?"] * len(words))
    params = [f"%{w.replace('%', '').replace('_', '')}%" for w in words]
    published, revoked = stores.published(), stores.revocations()
    with _reading(published, published.warehouse) as wcon:
        candidates = wcon.execute(
            f"""SELECT k.person_key, k.cpr, p.given_name, p.family_name, p.birth_date
                FROM staging.cpr_persons p JOIN identity.person_keys k ON k.cpr = p.cpr AND k.merged_into IS NULL
                WHERE {where} ORDER BY p.family_name, p.given_name, p.birth_date LIMIT 2000""",
            params).fetchall()
    with _reading(published, published.export(department)) as econ:
        seen = {r[0] for r in econ.execute(
            "SELECT person_key, basis, source_department, category FROM interventions WHERE list_contains(?, person_key)",
            [[c[0] for c in candidates]]).fetchall() if not revoked.hides(department, r[1], r[2], r[3])} if candidates else set()
    rows = [c for c in candidates if c[0] in seen][:limit]
    if log_shown:
        log_lookup(stores, user, None, purpose, channel, len(rows), "search", also=log_with)
    return [SearchHit(r[0], mask(r[1]), f"{r[2]} {r[3]}", _iso(r[4])) for r in rows]


def narrowed(view: CitizenView, show: str, department: str | None) -> CitizenView:
    """The view as the caseworker filtered it: ``show`` (alle / aktive / afsluttede) and one department or all.
    Only what is listed changes; the counts of what is not shared stay as they are."""
    def kept(r: Record) -> bool:
        if show == "aktive" and r.status == "afsluttet":
            return False
        if show == "afsluttede" and r.status != "afsluttet":
            return False
        return department is None or r.department == department

    groups = [replace(g, records=[r for r in g.records if kept(r)]) for g in view.part.by_department]
    groups = [g for g in groups if g.records]
    records = [r for g in groups for r in g.records]
    return replace(view, part=replace(view.part, records=records, by_department=groups))
