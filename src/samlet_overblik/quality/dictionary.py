"""The data dictionary: every table and column of the warehouse from the DDL comments (warehouse/*.sql),
with example queries, as Markdown (``samlet-overblik schema`` or the generated ``warehouse/README.md``).

    python -m samlet_overblik.quality.dictionary            # print
    python -m samlet_overblik.quality.dictionary --write    # (re)write warehouse/README.md
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

from samlet_overblik.core.paths import data_dir
from samlet_overblik.core.warehouse import apply_ddl

EXAMPLES = """\
## Example queries

Open a file read-only; it can be read while a run publishes (runs build a new file and rename it).

```sql
-- duckdb -readonly warehouse/exports/beskaeftigelse.duckdb
-- One citizen as the job centre may see them (ART index on cpr):
SELECT * FROM citizen_overview WHERE cpr = '0101801234';
SELECT source_department, title, legal_paragraph, start_date, end_date, monthly_cost, basis
FROM interventions WHERE cpr = '0101801234' ORDER BY start_date;

-- Complex cases (Høje-Taastrup's flags), most expensive first:
SELECT cpr, departments, active_services, annual_cost_dkk, flags_explained
FROM citizen_overview WHERE complex_case ORDER BY annual_cost_dkk DESC LIMIT 20;

-- Signals with the records they are built from:
SELECT s.signal_id, s.detail, r.source, r.source_table, r.record_id
FROM coordination_signals s, unnest(s.records) AS u(r) ORDER BY s.signal_date DESC;

-- Families where a child has a measure while a parent receives a benefit:
SELECT * FROM family_overview WHERE child_case_and_adult_benefits;
```

```sql
-- duckdb -readonly warehouse/samlet_overblik.duckdb   (restricted: owner only)
-- Which basis let each department see a citizen's records:
SELECT i.title, g.viewer_department, g.basis
FROM unified.interventions i JOIN unified.access_grants g USING (source, source_table, record_id)
JOIN identity.person_keys k ON k.person_key = i.person_key WHERE k.cpr = '0101801234';

-- Signals per rule:
SELECT r.signal_id, r.title, count(s.person_key) AS citizens
FROM unified.signal_rules r LEFT JOIN unified.coordination_signals s USING (signal_id) GROUP BY ALL;
```

```python
import duckdb, pandas, polars, sqlalchemy
con = duckdb.connect("warehouse/exports/sundhed_aeldre.duckdb", read_only=True)
df = con.execute("SELECT * FROM citizen_overview").df()                       # pandas
pl = polars.read_database("SELECT * FROM interventions", con)                  # polars
engine = sqlalchemy.create_engine("duckdb:///warehouse/exports/sundhed_aeldre.duckdb",
                                  connect_args={"read_only": True})            # duckdb-engine
```

```sql
-- duckdb -readonly warehouse/exports/analytics.duckdb   (no CPR, names or addresses; counts under 5 and cells that would give them away suppressed)
SELECT * FROM cost_per_pathway ORDER BY annual_cost_dkk_total DESC;
SELECT * FROM by_flag WHERE flag = 'complex_case';
```
"""

EXPORTS = """\
## Department exports (`warehouse/exports/<department>.duckdb`)

Only what that department may see. `interventions` (contract: `person_key, cpr, source_department, category,
title, legal_paragraph, start_date, end_date, monthly_cost, basis`, then kind, caseworker, source record and
data_as_of); `citizen_overview`, `family_overview`, `family_members`, `coordination_signals` and `signal_rules`
with the columns of their `unified.*` counterparts below (citizen_overview adds `cpr`), computed by the same SQL
from the visible records only; `coordination_plans` (the plans and tovholder the department may see, with goals and
the basis that admitted each) and `home_visits` (visible visits, without address, with basis and category);
`export_info`. Lookups leave out rows whose basis is listed in `warehouse/revocations.json` (withdrawn since the
export was built).

The paths are links into the current published set (`warehouse/current -> sets/<run id>`): the warehouse and every
export of one run become current together.

`warehouse/exports/analytics.duckdb`: `by_department`, `by_flag`, `cost_per_pathway`, `signals_by_rule` (each with
`i alt` total rows) and `analytics_info`; `citizen_pathways` (keyed person hash, per person) only with
`SAMLET_ANALYTICS_MICRODATA=1`.
"""


def schema_markdown(con: duckdb.DuckDBPyConnection | None = None) -> str:
    """Markdown listing every table and column with its comment (from a connection with the DDL applied)."""
    own = con is None
    if con is None:
        con = duckdb.connect()
        apply_ddl(con)
    try:
        tables = con.execute(
            "SELECT schema_name, table_name, comment FROM duckdb_tables() "
            "WHERE database_name = current_database() AND NOT temporary ORDER BY schema_name, table_name"
        ).fetchall()
        columns = con.execute(
            "SELECT schema_name, table_name, column_name, data_type, comment FROM duckdb_columns() "
            "WHERE database_name = current_database() AND NOT internal ORDER BY schema_name, table_name, column_index"
        ).fetchall()
    finally:
        if own:
            con.close()
    by_table: dict[tuple[str, str], list[tuple]] = {}
    for s, t, c, dtype, comment in columns:
        by_table.setdefault((s, t), []).append((c, dtype, comment))
    out = [
        "# Data dictionary",
        "",
        "Generated from the `COMMENT ON` statements in `warehouse/*.sql` by `samlet_overblik.quality.dictionary` "
        "— do not edit by hand.",
        "",
        "Schemas by layer: `staging` (canonical model), `quarantine`, `identity`, `consent`, `unified` "
        "(the cross-sector view), `quality`, `meta`. The restricted warehouse `warehouse/samlet_overblik.duckdb` "
        "is readable by its owner only (mode 0600).",
        "",
    ]
    schema = None
    for s, t, comment in tables:
        if s != schema:
            out += [f"## Schema `{s}`", ""]
            schema = s
        out += [f"### `{s}.{t}`", "", comment or "_(no comment)_", "", "| column | type | meaning |", "|---|---|---|"]
        for c, dtype, ccomment in by_table.get((s, t), []):
            text = (ccomment or "").replace("|", "\\|")
            out.append(f"| `{c}` | {dtype} | {text} |")
        out.append("")
    return "\n".join(out) + "\n" + EXPORTS + "\n" + EXAMPLES


def write_readme(path: Path | None = None) -> Path:
    path = path or data_dir("warehouse") / "README.md"
    path.write_text(schema_markdown(), encoding="utf-8")
    return path


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        print(write_readme())
    else:
        sys.stdout.write(schema_markdown())
