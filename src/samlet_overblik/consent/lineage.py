"""Consent lineage for compliance: for one citizen, every consent version over time, what each
department could see in each run and on which basis, what was blocked and why, and when flows stopped.

Plain queries over the published warehouse (read-only); the CLI and the web app render them in Danish.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from samlet_overblik.core import cpr as cprmod
from samlet_overblik.core import warehouse as wh
from samlet_overblik.core.labels import CONSENT_STATUS_NAMES, DECISION_REASON_NAMES, DEPARTMENT_NAMES
from samlet_overblik.core.viewmodel import json_key as _json


class LookupError_(ValueError):
    """Bad lookup input (message never contains the CPR)."""


@dataclass
class Citizen:
    person_key: str
    cpr: str


@dataclass(frozen=True)
class ConsentVersion:
    consent_id: str = _json("samtykke_id")
    version: int = _json("version")
    given_by: str = _json("givet_af")
    purpose: str | None = _json("formaal")
    given_at: str | None = _json("givet_tid")
    valid_until: str | None = _json("gyldig_til")
    withdrawn_at: str | None = _json("tilbagekaldt_tid")
    channel: str | None = _json("kanal")
    registered_by: str | None = _json("registreret_af")
    scope: list[str] = _json("omfang")
    first_seen_run: str | None = _json("foerst_set_koersel")
    first_seen: str | None = _json("foerst_set")
    last_seen_run: str | None = _json("senest_set_koersel")
    last_seen: str | None = _json("senest_set")
    status: str | None = _json("status")
    reason: str | None = _json("begrundelse")


@dataclass(frozen=True)
class Flow:
    """One record shared with another department from one run until another (or still shared)."""

    from_department: str = _json("fra_afdeling")
    to_department: str = _json("til_afdeling")
    record: str = _json("post")
    title: str | None = _json("titel")
    category: str | None = _json("kategori")
    basis: str = _json("grundlag")
    from_run: str = _json("fra_koersel")
    from_time: str | None = _json("fra_tid")
    to_run: str | None = _json("til_koersel")
    to_time: str | None = _json("til_tid")
    stop_reason: str | None = _json("stop_aarsag")
    # When the consent behind the flow was given (None for a legal basis): the citizen's act, beside the first run
    # that used it (from_time).
    consent_given: str | None = _json("samtykke_givet", default=None)


@dataclass(frozen=True)
class Decision:
    """The gate's decision behind what a department's current export shows of one datum."""

    department: str = _json("afdeling")
    owner: str = _json("ejer")
    category: str | None = _json("kategori")
    title: str | None = _json("titel")
    decision: str = _json("afgoerelse")
    basis: str | None = _json("grundlag")
    reason: str | None = _json("aarsag")
    run_id: str = _json("koersel")


@dataclass(frozen=True)
class RunRef:
    run_id: str = _json("run_id")
    job: str = _json("job")
    reference_time: str | None = _json("referencetid")
    status: str = _json("status")


@dataclass(frozen=True)
class StewardDecision:
    """A data steward's decision on one of the citizen's records: which records are one person decides what is
    shared about whom, so compliance sees it beside the consents."""

    decided_at: str | None = _json("tid")
    decided_by: str = _json("afgjort_af")
    decision: str = _json("afgoerelse")
    reason: str | None = _json("begrundelse")
    records: str = _json("poster")


@dataclass(frozen=True)
class LineageReport:
    """One citizen's consent trail, for compliance."""

    person_key: str = _json("person_key")
    cpr_masked: str | None = _json("cpr_masked")
    consent_versions: list[ConsentVersion] = _json("consent_versions")
    flows: list[Flow] = _json("flows")
    latest_decisions: list[Decision] = _json("latest_decisions")
    runs: list[RunRef] = _json("runs")
    notes: list[str] = _json("noter")
    steward_decisions: list[StewardDecision] = _json("identitetsafgoerelser", default_factory=list)
    name: str = _json("navn", default="")


def mask(cpr: str | None) -> str | None:
    """DDMMYY-xxxx: enough to tell people apart on screen, not the full number."""
    return f"{cpr[:6]}-xxxx" if cpr else None


def find_citizen(con: duckdb.DuckDBPyConnection, raw_cpr: str) -> Citizen | None:
    number = cprmod.normalise(raw_cpr)
    if number is None:
        raise LookupError_("ugyldigt CPR-nummer (forventet DDMMÅÅ-SSSS eller 10 cifre)")
    rows = con.execute("SELECT person_key FROM identity.person_keys WHERE cpr = ? LIMIT 1", [number]).fetchall()
    return Citizen(rows[0][0], number) if rows else None


# Every kind of datum the gate decides, with a title a compliance officer can read: records, coordination plans
# (with their tovholder) and home visits.
_DATA = """
SELECT source, source_table, record_id, title, category, start_date FROM staging.interventions
UNION ALL
SELECT source, source_table, record_id, 'Én plan, tovholder ' || coalesce(coordinator, 'ukendt'), 'kontakt', created_date
FROM staging.coordination_plans
UNION ALL
SELECT source, source_table, record_id, 'Hjemmebesøg ' || strftime(visit_start, '%d-%m-%Y %H:%M'), NULL,
       CAST(visit_start AS DATE)
FROM staging.home_visits
"""


_DECISIONS = f"""
SELECT d.viewer_department, d.source_department, d.category, i.title, d.decision, d.basis, d.reason, d.run_id
FROM {{db}}consent.record_decisions d
LEFT JOIN ({_DATA.replace("staging.", "{db}staging.")}) i USING (source, source_table, record_id)
WHERE d.person_key = $person AND d.viewer_department IN (SELECT unnest($departments))
ORDER BY d.viewer_department, d.source_department, i.start_date
"""


def _decisions_shown(con: duckdb.DuckDBPyConnection, published: wh.PublishedSet, person_key: str) -> tuple[list, list[str]]:
    """The decisions behind what each department's current export shows, and notes for compliance.

    An export built or reused by the set's run shows that run's decisions. An export carried forward (the run
    failed closed and republished nothing) shows what the run that built it decided: read from that run's set
    while it is kept (``keep_sets``); otherwise said so."""
    carried: dict[str, str] = {}
    for name in wh.manifest(published).get("carried_forward", []):
        department = name.removesuffix(".duckdb")
        if department in DEPARTMENT_NAMES:
            with duckdb.connect(str(published.export(department)), read_only=True) as econ:
                carried[department] = econ.execute("SELECT run_id FROM export_info").fetchall()[0][0]
    own = [d for d in DEPARTMENT_NAMES if d not in carried]
    rows = con.execute(_DECISIONS.format(db=""), {"person": person_key, "departments": own}).fetchall()
    notes = []
    for department, built_by in sorted(carried.items()):
        older = published.warehouse.parent.parent / built_by / published.warehouse.name
        name = DEPARTMENT_NAMES[department]
        if not older.is_file():
            notes.append(f"{name}: eksporten er ført videre fra kørsel {built_by}, hvis afgørelser ikke længere er gemt.")
            continue
        notes.append(f"{name}: eksporten er ført videre fra kørsel {built_by} (seneste kørsel lukkede for deling); "
                     "afgørelserne herunder er den kørsels.")
        con.execute("ATTACH ? AS built_by (READ_ONLY)", [str(older)])
        try:
            rows += con.execute(_DECISIONS.format(db="built_by."), {"person": person_key, "departments": [department]}).fetchall()
        finally:
            con.execute("DETACH built_by")
    rows.sort(key=lambda r: list(DEPARTMENT_NAMES).index(r[0]))
    return rows, notes


def lineage_report(warehouse: Path, raw_cpr: str) -> LineageReport | None:
    published = wh.published_set(warehouse)
    with duckdb.connect(str(published.warehouse), read_only=True) as con:
        citizen = find_citizen(con, raw_cpr)
        if citizen is None:
            return None
        versions = con.execute(
            """
            SELECT h.samtykke_id, h.version, h.given_by_cpr = h.cpr OR h.given_by_cpr IS NULL AS by_self, h.given_by_cpr,
                   h.purpose, h.given_at, h.valid_until, h.withdrawn_at, h.channel, h.registered_by, h.scope,
                   h.first_seen_run, h.first_seen_at, h.last_seen_run, h.last_seen_at, e.status, e.reason
            FROM consent.history h
            LEFT JOIN consent.evaluated e USING (samtykke_id, version)
            WHERE h.cpr = ? ORDER BY h.samtykke_id, h.version, h.first_seen_at
            """,
            [citizen.cpr],
        ).fetchall()
        flows = con.execute(
            f"""
            SELECT f.source_department, f.viewer_department, f.source, f.source_table, f.record_id, i.title, i.category,
                   f.basis, f.from_run, f.from_time, f.to_run, f.to_time, f.stop_reason
            FROM consent.flow_intervals f
            LEFT JOIN ({_DATA}) i USING (source, source_table, record_id)
            WHERE f.person_key = ? ORDER BY f.viewer_department, f.from_time, f.record_id
            """,
            [citizen.person_key],
        ).fetchall()
        decisions, notes = _decisions_shown(con, published, citizen.person_key)
        named = con.execute("SELECT given_name, family_name FROM staging.cpr_persons WHERE cpr = ?",
                            [citizen.cpr]).fetchall()
        runs = con.execute(
            "SELECT run_id, job, reference_time, status FROM meta.runs ORDER BY reference_time"
        ).fetchall()
        stewarded = con.execute(
            """SELECT d.decided_at, d.decided_by, d.decision, d.reason,
                      d.source_a || '.' || d.table_a || ' / ' || d.source_b || '.' || d.table_b
               FROM identity.steward_decisions d
               WHERE EXISTS (SELECT 1 FROM identity.person_links l WHERE l.person_key = ?
                             AND ((l.source, l."table", l.record_id) = (d.source_a, d.table_a, d.record_id_a)
                                  OR (l.source, l."table", l.record_id) = (d.source_b, d.table_b, d.record_id_b)))
               ORDER BY d.decided_at""", [citizen.person_key]).fetchall()
    given = {f"samtykke:{v[0]}@{v[1]}": _iso(v[5]) for v in versions}
    return LineageReport(
        person_key=citizen.person_key,
        cpr_masked=mask(citizen.cpr),
        name=" ".join(x for x in named[0] if x) if named else "",
        consent_versions=[
            ConsentVersion(
                consent_id=v[0], version=v[1], given_by="borgeren selv" if v[2] else f"anden person ({mask(v[3])})",
                purpose=v[4], given_at=_iso(v[5]), valid_until=_iso(v[6]), withdrawn_at=_iso(v[7]), channel=v[8],
                registered_by=v[9], scope=(v[10] or "").split(",") if v[10] else [], first_seen_run=v[11],
                first_seen=_iso(v[12]), last_seen_run=v[13], last_seen=_iso(v[14]),
                status=CONSENT_STATUS_NAMES.get(v[15], v[15]), reason=v[16],
            )
            for v in versions
        ],
        flows=[
            Flow(
                from_department=f[0], to_department=f[1], record=f"{f[2]}.{f[3]}:{f[4]}", title=f[5], category=f[6],
                basis=f[7], from_run=f[8], from_time=_iso(f[9]), to_run=f[10], to_time=_iso(f[11]),
                stop_reason=DECISION_REASON_NAMES.get(f[12], f[12]) if f[12] else None,
                consent_given=given.get(f[7]),
            )
            for f in flows
        ],
        latest_decisions=[
            Decision(
                department=d[0], owner=d[1], category=d[2], title=d[3],
                decision="delt" if d[4] == "admitted" else "blokeret", basis=d[5],
                reason=DECISION_REASON_NAMES.get(d[6], d[6]) if d[6] else None, run_id=d[7],
            )
            for d in decisions
        ],
        runs=[RunRef(r[0], r[1], _iso(r[2]), r[3]) for r in runs],
        notes=notes,
        steward_decisions=[StewardDecision(_iso(d[0]), d[1], "samme person" if d[2] == "match" else "forskellige personer",
                                           d[3], d[4]) for d in stewarded],
    )


def _iso(value) -> str | None:
    return value.isoformat(sep=" ", timespec="seconds") if hasattr(value, "hour") else (value.isoformat() if value else None)
