"""Department exports: ``exports/<department>.duckdb`` with only what that department may see.

Each export is built as a new file beside the old one and renamed over it, so a reader never sees a
half-built file and a reader holding the previous file keeps its snapshot.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from . import DEPARTMENTS


@dataclass
class ExportResult:
    department: str
    path: Path
    rows: int


# The contract columns first (DESIGN.md), then what a caseworker also needs.
_EXPORT_INTERVENTIONS = """
CREATE TABLE ex.interventions AS
SELECT g.person_key, k.cpr, i.department AS source_department, i.category, i.title, i.legal_paragraph,
       i.start_date, i.end_date, i.monthly_cost, g.basis,
       i.kind, i.caseworker, i.source, i.source_table, i.record_id,
       (SELECT max(loaded_at) FROM meta.source_loads sl WHERE sl.source = i.source AND sl.status = 'ok') AS data_as_of
FROM unified.access_grants g
JOIN staging.interventions i USING (source, source_table, record_id)
LEFT JOIN identity.person_keys k ON k.person_key = g.person_key
WHERE g.viewer_department = $department
ORDER BY k.cpr, i.start_date
"""


def export_path(exports_dir: Path, department: str) -> Path:
    return exports_dir / f"{department}.duckdb"


def build_export(con: duckdb.DuckDBPyConnection, exports_dir: Path, department: str, run_id: str) -> ExportResult:
    """Write one department's export to a temporary file and swap it in."""
    exports_dir.mkdir(parents=True, exist_ok=True)
    final = export_path(exports_dir, department)
    tmp = final.with_name(f"{final.name}.building-{run_id}")
    tmp.unlink(missing_ok=True)
    con.execute(f"ATTACH '{tmp}' AS ex")
    try:
        con.execute(_EXPORT_INTERVENTIONS, {"department": department})
        # ART indexes: a caseworker's lookup is by CPR or person key.
        con.execute("CREATE INDEX interventions_cpr ON ex.interventions (cpr)")
        con.execute("CREATE INDEX interventions_person ON ex.interventions (person_key)")
        con.execute(
            "CREATE TABLE ex.export_info AS SELECT $department AS department, $run_id AS run_id, now() AS published_at",
            {"department": department, "run_id": run_id},
        )
        rows = con.execute("SELECT count(*) FROM ex.interventions").fetchall()[0][0]
    finally:
        con.execute("DETACH ex")
    os.chmod(tmp, 0o640)
    os.replace(tmp, final)
    return ExportResult(department, final, rows)


def build_exports(con: duckdb.DuckDBPyConnection, exports_dir: Path, run_id: str) -> list[ExportResult]:
    return [build_export(con, exports_dir, d, run_id) for d in DEPARTMENTS]
