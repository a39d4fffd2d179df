"""Department exports: ``exports/<department>.duckdb`` with only what that department may see.

Besides ``interventions`` (the contract), each export carries ``citizen_overview`` (with ``cpr``),
``family_overview``, ``family_members``, ``coordination_signals``, ``signal_rules`` and ``home_visits``,
computed by the *same* SQL as the restricted warehouse's unified layer but over only the records the
department may see (``unified.access_grants``): a signal never names, nor is built from, a record the
department may not see. Lookups are by CPR or person key through ART indexes.

A run writes its exports into its building set (``warehouse.building_exports_dir``); ``warehouse.publish`` makes the
warehouse and every export current together (one atomic switch), so a reader never sees a half-built file or a
mix of two runs, and a reader holding a previous file keeps its snapshot.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb

from samlet_overblik.unified import view as unified
from samlet_overblik.sources.specs import departments
from samlet_overblik.core import warehouse as wh
from samlet_overblik.consent import gate
from samlet_overblik.consent.watcher import CONSENT_BASES
from samlet_overblik.core.paths import data_dir


@dataclass
class ExportResult:
    department: str
    path: Path
    rows: int
    reused: bool = False


# The contract columns first (DESIGN.md), then what a caseworker also needs.
_EXPORT_INTERVENTIONS = """
CREATE TABLE ex.interventions AS
SELECT g.person_key, k.cpr, i.department AS source_department, i.category, i.title, i.legal_paragraph,
       i.start_date, i.end_date, i.monthly_cost, g.basis,
       i.kind, i.caseworker, i.source, i.source_table, i.record_id,
       (SELECT max(loaded_at) FROM meta.source_loads sl WHERE sl.source = i.source AND sl.status = 'ok') AS data_as_of,
       u.status, c.team AS caseworker_team, c.phone AS caseworker_phone, c.email AS caseworker_email
FROM unified.access_grants g
JOIN staging.interventions i USING (source, source_table, record_id)
LEFT JOIN unified.interventions u USING (source, source_table, record_id)
-- How to reach the record's caseworker (the source's staff directory; the latest entry when a name repeats).
LEFT JOIN (SELECT source, name, arg_max(team, updated_at) AS team, arg_max(phone, updated_at) AS phone,
                  arg_max(email, updated_at) AS email
           FROM staging.caseworkers GROUP BY source, name) c ON c.source = i.source AND c.name = i.caseworker
LEFT JOIN identity.person_keys k ON k.person_key = g.person_key
WHERE g.viewer_department = $department
ORDER BY k.cpr, i.start_date
"""


def export_path(exports_dir: Path, department: str) -> Path:
    return exports_dir / f"{department}.duckdb"


def _build_views(con: duckdb.DuckDBPyConnection, department: str, reference, thresholds,
                 shared: unified.SharedScope | None = None) -> dict[str, int]:
    """The unified overviews and signals of one department, inside the attached export ``ex``."""
    for name in (*unified.SCOPED_TABLES, unified.SIGNALS_TABLE, "signal_rules"):
        con.execute(f"CREATE TABLE ex.{name} AS SELECT * FROM unified.{name} LIMIT 0")
    counts = unified.build_scoped(con, "ex", department, reference, thresholds, with_visits=True, shared=shared)
    con.execute("INSERT INTO ex.signal_rules BY NAME SELECT * FROM unified.signal_rules")
    # The caseworker looks a citizen up by CPR: carry it on the overview (only citizens with visible records),
    # stored in CPR order so a lookup touches one row group besides the ART index.
    con.execute(
        "CREATE TABLE ex.citizen_overview_by_cpr AS SELECT o.*, k.cpr FROM ex.citizen_overview o "
        "LEFT JOIN identity.person_keys k USING (person_key) ORDER BY k.cpr"
    )
    con.execute("DROP TABLE ex.citizen_overview")
    con.execute("ALTER TABLE ex.citizen_overview_by_cpr RENAME TO citizen_overview")
    con.execute("COMMENT ON COLUMN ex.citizen_overview.cpr IS 'CPR number of the citizen (10 digits); NULL for people known without one.'")
    unified.copy_comments(con, "unified", (*unified.SCOPED_TABLES, unified.SIGNALS_TABLE, "signal_rules"), "ex")
    # Plans (with their tovholder and goals) and home visits carry the basis that let them in, like the records:
    # lookups hide them at once when that basis is revoked (consent.watcher), and lineage explains them.
    admitted = ("SELECT source, source_table, record_id, basis, category FROM consent.record_decisions "
                "WHERE decision = 'admitted' AND viewer_department = $department")
    con.execute(
        f"""
        CREATE TABLE ex.coordination_plans AS
        SELECT l.person_key, c.department AS source_department, c.coordinator, c.created_date, c.goals,
               c.follow_up_date, a.basis,
               a.category, c.source, c.source_table, c.record_id
        FROM staging.coordination_plans c
        JOIN ({admitted}) a USING (source, source_table, record_id)
        LEFT JOIN identity.person_links l ON l.source = c.source AND l."table" = c.person_table AND l.record_id = c.person_record_id
        ORDER BY l.person_key
        """,
        {"department": department},
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE ex.home_visits AS
        SELECT v.*, a.basis, a.category FROM ex.home_visits v JOIN ({admitted}) a USING (source, source_table, record_id)
        """,
        {"department": department},
    )
    con.execute("COMMENT ON TABLE ex.coordination_plans IS 'Coordination plans (én plan) with their tovholder that this department may see, each with the basis that admitted it.'")
    con.execute("CREATE INDEX coordination_plans_person ON ex.coordination_plans (person_key)")
    con.execute("CREATE INDEX citizen_overview_cpr ON ex.citizen_overview (cpr)")
    con.execute("CREATE INDEX citizen_overview_person ON ex.citizen_overview (person_key)")
    con.execute("CREATE INDEX coordination_signals_person ON ex.coordination_signals (person_key)")
    con.execute("CREATE INDEX family_members_person ON ex.family_members (person_key)")
    con.execute("CREATE INDEX family_overview_family ON ex.family_overview (family_id)")
    # The consent watcher compares what an export carries with the registry after every publish: a few rows to
    # read instead of every row of the export.
    con.execute(
        f"""
        CREATE TABLE ex.{CONSENT_BASES} AS
        SELECT DISTINCT basis, source_department, category FROM (
            SELECT basis, source_department, category FROM ex.interventions
            UNION ALL SELECT basis, source_department, category FROM ex.coordination_plans
            UNION ALL SELECT basis, department, category FROM ex.home_visits)
        WHERE basis LIKE 'samtykke:%'
        """
    )
    con.execute(f"COMMENT ON TABLE ex.{CONSENT_BASES} IS 'Every consent basis this export carries, with the source "
                "department and category it admits (records, plans and visits).'")
    return counts


# ------------------------------------------------------------------------------------------ fingerprints
#
# An export is a function of: the code and SQL that build it, the build of the unified layer it scopes (reference
# date, thresholds, when it was built), how fresh each departmental source is (``data_as_of``), and the gate's
# admitted decisions for the department (datum, person, basis, category). Two exports with the same fingerprint
# hold the same rows. A run whose fingerprint for a department equals the current export's reuses that file (a
# hard link into the new set: the same immutable bytes) instead of rebuilding it, so a withdrawal that changes
# one department's view rebuilds one export, not every export.


@cache
def _builder_digest() -> str:
    """The code and SQL an export is built with: a changed builder never reuses an old file."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    files = [here / "exports.py", here / "view.py", here.parent / "consent" / "gate.py", here.parent / "core" / "cpr.py"]
    for folder in (data_dir("assets") / "unified", data_dir("assets") / "signals", data_dir("assets") / "consent",
                   data_dir("warehouse")):
        files += sorted(folder.glob("*.sql"))
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def export_fingerprints(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The fingerprint of every department's export as this run would build it (see above)."""
    common = hashlib.sha256(_builder_digest().encode())
    for query in (
        "SELECT * FROM unified.build_info",
        "SELECT source, max(loaded_at) FROM meta.source_loads WHERE status = 'ok' "
        "AND source IN (SELECT DISTINCT source FROM staging.interventions) GROUP BY 1 ORDER BY 1",
    ):
        common.update(repr(con.execute(query).fetchall()).encode())
    grants = dict(
        (r[0], r[1:]) for r in con.execute(
            """
            SELECT viewer_department, count(*),
                   bit_xor(hash(source, source_table, record_id, person_key, basis, category)),
                   sum(hash(record_id, source, basis, person_key, category, source_table)::HUGEINT)
            FROM consent.record_decisions WHERE decision = 'admitted' GROUP BY 1
            """).fetchall())
    out = {}
    for department in departments():
        h = common.copy()
        h.update(f"{department}|{grants.get(department)}".encode())
        out[department] = h.hexdigest()
    return out


def fingerprint_of(path: Path) -> str | None:
    """The fingerprint an existing export was built with (None: absent, unreadable or built before fingerprints)."""
    if not path.is_file():  # a first build: DuckDB takes milliseconds to refuse a missing file
        return None
    try:
        with duckdb.connect(str(path), read_only=True) as econ:
            return econ.execute("SELECT fingerprint FROM export_info").fetchall()[0][0]
    except (duckdb.Error, IndexError, OSError):
        return None


def _build_settings(con: duckdb.DuckDBPyConnection, reference, thresholds):
    """The reference date and thresholds given, else those the latest build of the unified layer used."""
    if reference is None or thresholds is None:
        ref0, t0 = unified.settings_of_build(con)
        reference = reference or ref0
        thresholds = thresholds or t0
    return reference, thresholds


def build_export(con: duckdb.DuckDBPyConnection, exports_dir: Path, department: str, run_id: str,
                 reference=None, thresholds: unified.Thresholds | None = None,
                 fingerprint: str | None = None, shared: unified.SharedScope | None = None) -> ExportResult:
    """Write one department's export to a temporary file and swap it in.

    ``reference``/``thresholds`` default to what the latest build of the unified layer used."""
    reference, thresholds = _build_settings(con, reference, thresholds)
    exports_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    final = export_path(exports_dir, department)
    final.unlink(missing_ok=True)  # a retried step rebuilds its own file; published sets are never written
    con.execute("ATTACH ? AS ex", [str(final)])
    try:
        # One transaction: a statement of its own would commit (and log) every table, index and comment apart.
        with wh.transaction(con):
            con.execute(_EXPORT_INTERVENTIONS, {"department": department})
            # ART indexes: a caseworker's lookup is by CPR or person key.
            con.execute("CREATE INDEX interventions_cpr ON ex.interventions (cpr)")
            con.execute("CREATE INDEX interventions_person ON ex.interventions (person_key)")
            con.execute(
                "CREATE TABLE ex.export_info AS SELECT $department AS department, $run_id AS run_id, now() AS published_at, "
                "CAST($fingerprint AS VARCHAR) AS fingerprint",
                {"department": department, "run_id": run_id, "fingerprint": fingerprint},
            )
            _build_views(con, department, reference, thresholds, shared)
        con.execute("CHECKPOINT ex")
        rows = con.execute("SELECT count(*) FROM ex.interventions").fetchall()[0][0]
    finally:
        con.execute("DETACH ex")
    return ExportResult(department, final, rows)


def build_exports(con: duckdb.DuckDBPyConnection, exports_dir: Path, run_id: str,
                  reference=None, thresholds: unified.Thresholds | None = None,
                  reuse_from: Path | None = None) -> list[ExportResult]:
    """Every department's export; with ``reuse_from`` (the current set's exports folder), an export whose
    fingerprint is unchanged is reused (hard-linked) instead of rebuilt."""
    fingerprints = export_fingerprints(con)
    reference, thresholds = _build_settings(con, reference, thresholds)
    shared = None  # computed once, for the first export that is built
    results = []
    for d in departments():
        if reuse_from is not None:
            old = export_path(reuse_from, d)
            if fingerprint_of(old) == fingerprints[d]:
                new = export_path(exports_dir, d)
                exports_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                new.unlink(missing_ok=True)
                wh.link_or_copy(old, new)
                with duckdb.connect(str(new), read_only=True) as econ:
                    rows = econ.execute("SELECT count(*) FROM interventions").fetchall()[0][0]
                results.append(ExportResult(d, new, rows, reused=True))
                continue
        shared = shared or unified.shared_scope_at(con, reference, thresholds)
        results.append(build_export(con, exports_dir, d, run_id, reference, thresholds, fingerprints[d], shared))
    if shared is not None:
        shared.drop(con)
    return results


@dataclass(frozen=True)
class PublishedRun:
    """How a run's published set came out, as operators must see it: ``ok``, ``degraded`` (stale sources: their
    last good snapshots reused) or ``consent_fail_closed`` (nothing shared on consent); ``None`` if it published
    nothing. Source names and reason codes only."""

    status: str | None
    stale_sources: tuple[str, ...] = ()
    fail_closed_reason: str | None = None

    @property
    def severity(self) -> str | None:
        """None when all is well; ``WARN`` for a degraded set; ``ERROR`` when consent failed closed or nothing was
        published."""
        if self.status == "ok":
            return None
        return "WARN" if self.status == "degraded" else "ERROR"


def published_run(warehouse_file: Path, run_id: str) -> PublishedRun:
    """Run ``run_id`` as the published set ``warehouse_file`` recorded it."""
    if not warehouse_file.is_file():
        return PublishedRun(None)
    with duckdb.connect(str(warehouse_file), read_only=True) as con:
        row = con.execute("SELECT status FROM meta.runs WHERE run_id = ?", [run_id]).fetchall()
        if not row:
            return PublishedRun(None)
        stale = stale_sources(con, run_id)
        closed, reason = gate.run_is_closed(con, run_id)
    return PublishedRun(row[0][0], tuple(stale), reason if closed else None)


def stale_sources(con: duckdb.DuckDBPyConnection, run_id: str) -> list[str]:
    """The sources run ``run_id`` could not read (their last good snapshot used), by name."""
    return [s for (s,) in con.execute(
        "SELECT DISTINCT source FROM meta.source_loads WHERE run_id = ? AND status = 'stale' ORDER BY 1", [run_id]
    ).fetchall()]


def record_run(con: duckdb.DuckDBPyConnection, run_id: str, job: str, started, finished, reference) -> tuple[str, str | None]:
    """The run's status (``ok``, ``degraded`` with stale sources, ``consent_fail_closed``) into meta.runs."""
    stale = stale_sources(con, run_id)
    closed, _reason = gate.run_is_closed(con, run_id)
    status = "consent_fail_closed" if closed else ("degraded" if stale else "ok")
    message = ("stale sources: " + ", ".join(stale)) if stale else None
    con.execute("INSERT OR REPLACE INTO meta.runs (run_id, job, started_at, finished_at, reference_time, status, message) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", [run_id, job, started, finished, reference, status, message])
    return status, message

