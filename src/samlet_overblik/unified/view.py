"""The cross-sector view: unified.interventions, citizen_overview, family_overview/family_members and
coordination_signals, as plain functions over a DuckDB connection.

The SQL lives in ``assets/unified/<table>.sql`` and ``assets/signals/<rule>.sql``. Apart from
``interventions.sql`` (which reads staging), every file reads only *scope* relations that this module
defines as temporary views/tables before running it:

    scope_settings            one row: reference_date, thresholds, signal_lookback_days, all_family_members
    scope_interventions       the unified.interventions rows in scope
    scope_home_visits         staging.home_visits with person_key, visit_date and home (normalised address)
    scope_coordination_plans  staging.coordination_plans with person_key
    scope_relations           parent/custody relations in force: child_key, adult_key and birth dates
    scope_citizen_overview    (after that step) the overview of the same scope
    scope_family_members      (after that step) the family members of the same scope

The restricted warehouse builds the tables in ``unified`` over everything; a department's export runs the
*same* SQL over only what that department may see (``unified.access_grants``), so an overview or a signal in
an export can never be built from, or point at, a record the department may not see.

Adding a signal rule: one SQL file ``assets/signals/<id>.sql`` (header ``-- id: <id>``, ``-- title:``,
``-- description:`` in Danish; output columns ``person_key, signal_date, detail, departments, records``). Every
file in that folder is a rule: there is no registry to keep in step with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import duckdb

from samlet_overblik.sources.specs import departments
from samlet_overblik.consent import gate
from samlet_overblik.core.paths import data_dir
from samlet_overblik.core import labels
from samlet_overblik.core.sql import asset_sql, drop_temporary
from samlet_overblik.sources.staging import sql_header
from samlet_overblik.core.warehouse import drop_indexes, restore_indexes, transaction

# Tables computed per scope, in order (each file assets/unified/<name>.sql); coordination_signals follows.
SCOPED_TABLES: tuple[str, ...] = ("citizen_overview", "family_members", "family_overview")
SIGNALS_TABLE = "coordination_signals"


@dataclass(frozen=True)
class Thresholds:
    """Høje-Taastrup's targeting thresholds and the signal knobs (``thresholds:`` in pipelines/job.yaml)."""

    min_departments: int = 2
    min_services: int = 3
    min_annual_cost_dkk: float = 150_000
    min_caseworkers: int = 3
    signal_lookback_days: int = 365


def load_thresholds() -> Thresholds:
    """Read ``thresholds:`` from pipelines/job.yaml (the one job.yaml loader, ``specs.load_job_settings``); keys not
    given keep their defaults."""
    from samlet_overblik.sources.specs import load_job_settings

    path = data_dir("pipelines") / "job.yaml"
    raw = load_job_settings().get("thresholds") or {}
    known = Thresholds.__dataclass_fields__
    unknown = set(raw) - set(known)
    if unknown:
        raise ValueError(f"unknown threshold(s) in {path.name}: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}  # int or float by field, checked below
    for k, v in raw.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ValueError(f"threshold {k} in {path.name} must be a non-negative number")
        values[k] = float(v) if k == "min_annual_cost_dkk" else int(v)
    return Thresholds(**values)


@dataclass(frozen=True)
class SignalRule:
    id: str
    title: str
    description: str
    path: Path

    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def load_signal_rules(folder: Path | None = None) -> list[SignalRule]:
    """Every rule in ``assets/signals/`` (one ``<id>.sql`` each, in file-name order). A file whose header does not
    name its own id or lacks a description is an error, not a rule silently left out."""
    folder = folder or data_dir("assets") / "signals"
    rules = []
    for path in sorted(folder.glob("*.sql")):
        header = sql_header(path)
        if header.get("id") != path.stem or not header.get("description"):
            raise ValueError(f"{path.name}: header needs '-- id: {path.stem}' and '-- description: ...'")
        rules.append(SignalRule(path.stem, header.get("title", path.stem), header["description"], path))
    if not rules:
        raise FileNotFoundError(f"no signal rules in {folder}")
    return rules


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def default_reference(con: duckdb.DuckDBPyConnection) -> date:
    """The latest run's consent reference time, else today (UTC)."""
    row = _rows(con, "SELECT max(reference_time) FROM consent.run_status")
    if row and row[0][0] is not None:
        return row[0][0].date()
    return datetime.now(timezone.utc).date()


def _as_date(reference: date | datetime | None, con: duckdb.DuckDBPyConnection) -> date:
    if reference is None:
        return default_reference(con)
    return reference.date() if isinstance(reference, datetime) else reference


# ---------------------------------------------------------------------------------------------- scopes


def _define_settings(con, ref: date, t: Thresholds, all_family_members: bool) -> None:
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE scope_settings AS
        SELECT CAST($ref AS DATE) AS reference_date, CAST($min_departments AS INTEGER) AS min_departments,
               CAST($min_services AS INTEGER) AS min_services, CAST($min_cost AS DECIMAL(14, 2)) AS min_annual_cost_dkk,
               CAST($min_caseworkers AS INTEGER) AS min_caseworkers, CAST($lookback AS INTEGER) AS signal_lookback_days,
               CAST($all_members AS BOOLEAN) AS all_family_members
        """,
        {
            "ref": ref, "min_departments": t.min_departments, "min_services": t.min_services,
            "min_cost": t.min_annual_cost_dkk, "min_caseworkers": t.min_caseworkers,
            "lookback": t.signal_lookback_days, "all_members": all_family_members,
        },
    )


_VISITS = """
SELECT v.source, v.source_table, v.record_id, l.person_key, v.department, v.service_record_id, v.visit_start,
       CAST(v.visit_start AS DATE) AS visit_date,
       nullif(lower(regexp_replace(trim(v.address), '\\s+', ' ', 'g')), '') AS home
FROM staging.home_visits v
LEFT JOIN identity.person_links l ON l.source = v.source AND l."table" = v.person_table AND l.record_id = v.person_record_id
"""

_PLANS = """
SELECT c.source, c.source_table, c.record_id, l.person_key, c.department, c.coordinator, c.created_date
FROM staging.coordination_plans c
LEFT JOIN identity.person_links l ON l.source = c.source AND l."table" = c.person_table AND l.record_id = c.person_record_id
"""

_RELATIONS = """
SELECT DISTINCT ck.person_key AS child_key, ak.person_key AS adult_key,
       coalesce(cp.birth_date, cpr_birth_date(r.child_cpr)) AS child_birth_date,
       coalesce(ap.birth_date, cpr_birth_date(r.related_cpr)) AS adult_birth_date
FROM staging.cpr_relations r
CROSS JOIN scope_settings s
JOIN identity.person_keys ck ON ck.cpr = r.child_cpr AND ck.merged_into IS NULL
JOIN identity.person_keys ak ON ak.cpr = r.related_cpr AND ak.merged_into IS NULL
LEFT JOIN staging.cpr_persons cp ON cp.cpr = r.child_cpr
LEFT JOIN staging.cpr_persons ap ON ap.cpr = r.related_cpr
WHERE r.relation IN ('foraelder', 'foraeldremyndighed')
  AND relation_in_force(r.valid_from, r.valid_to, s.reference_date)
  AND coalesce(cp.status, 'aktiv') <> 'doed' AND coalesce(ap.status, 'aktiv') <> 'doed'
"""


@dataclass(frozen=True)
class SharedScope:
    """What every department's scope is cut from and that does not depend on the viewer: the family relations
    in force at the reference date, and the home visits and coordination plans with their person keys. The
    exports of one run compute them once (``shared_scope_at``) and pass them to ``build_scoped``."""

    relations: str = "_shared_relations"
    home_visits: str = "_shared_home_visits"
    coordination_plans: str = "_shared_coordination_plans"

    def drop(self, con: duckdb.DuckDBPyConnection) -> None:
        for name in (self.relations, self.home_visits, self.coordination_plans):
            con.execute(f"DROP TABLE IF EXISTS {name}")


def shared_scope_at(con: duckdb.DuckDBPyConnection, ref: date, thresholds: Thresholds) -> SharedScope:
    """The viewer-independent relations at ``ref``, as temporary tables (see ``SharedScope``)."""
    shared = SharedScope()
    _define_settings(con, ref, thresholds, all_family_members=False)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {shared.relations} AS {_RELATIONS}")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {shared.home_visits} AS {_VISITS}")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {shared.coordination_plans} AS {_PLANS}")
    finally:
        con.execute("DROP TABLE IF EXISTS scope_settings")
    return shared


def define_scope(con: duckdb.DuckDBPyConnection, department: str | None, ref: date, thresholds: Thresholds,
                 shared: SharedScope | None = None, relations: bool = True) -> None:
    """Create the ``scope_*`` relations: everything (``department=None``) or what ``department`` may see.
    ``shared``: the tables of ``shared_scope_at`` for the same reference date (else computed here). Without
    ``relations`` there is no ``scope_relations``: only the family steps read it, and it is the dearest to make."""
    _define_settings(con, ref, thresholds, all_family_members=department is None)
    labels.install_macros(con)  # the unified SQL's sentences name departments in Danish
    if shared is not None:
        con.execute(f"CREATE OR REPLACE TEMP VIEW scope_relations AS SELECT * FROM {shared.relations}")
    elif relations:
        con.execute(f"CREATE OR REPLACE TEMP TABLE scope_relations AS {_RELATIONS}")
    visits = f"SELECT * FROM {shared.home_visits}" if shared is not None else _VISITS
    plans = f"SELECT * FROM {shared.coordination_plans}" if shared is not None else _PLANS
    if department is None:
        con.execute("CREATE OR REPLACE TEMP VIEW scope_interventions AS SELECT * FROM unified.interventions")
        con.execute(f"CREATE OR REPLACE TEMP VIEW scope_home_visits AS {visits}")
        con.execute(f"CREATE OR REPLACE TEMP VIEW scope_coordination_plans AS {plans}")
        return
    if department not in departments():
        raise ValueError(f"unknown department: {department}")
    params = {"dept": department}
    # Records: exactly the admitted (record, viewer) pairs of the consent layer.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE scope_interventions AS
        SELECT i.* FROM unified.interventions i
        SEMI JOIN ({gate.admitted_sql("$dept")}) g
          ON g.source = i.source AND g.source_table = i.source_table AND g.record_id = i.record_id
        """,
        params,
    )
    # Home visits and coordination plans (with their tovholder) are data of their own in the consent gate:
    # exactly the admitted ones, like the records above. Nothing here re-decides the sharing rule.
    for scope, select in (("scope_home_visits", visits), ("scope_coordination_plans", plans)):
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {scope} AS
            SELECT x.* FROM ({select}) x
            SEMI JOIN ({gate.admitted_sql("$dept")}) g
              ON g.source = x.source AND g.source_table = x.source_table AND g.record_id = x.record_id
            """,
            params,
        )


def _drop_scope(con: duckdb.DuckDBPyConnection) -> None:
    drop_temporary(con, "scope_")
    con.execute("DROP TABLE IF EXISTS scope_settings")


def _signals_select(rule: SignalRule) -> str:
    return f"""
        SELECT '{rule.id}' AS signal_id,
               md5('{rule.id}' || CAST(records AS VARCHAR)) AS signal_key,
               person_key, CAST(signal_date AS DATE) AS signal_date,
               $description AS description, detail, departments, records
        FROM ({rule.sql()}) WHERE person_key IS NOT NULL
    """


def _fill(con, target: str, sql: str, params=None) -> None:
    con.execute(f"INSERT INTO {target} BY NAME {sql}", params or {})


def _count(con, table: str) -> int:
    return _rows(con, f"SELECT count(*) FROM {table}")[0][0]


ALL_STEPS: tuple[str, ...] = (*SCOPED_TABLES, SIGNALS_TABLE)


def build_scoped(
    con: duckdb.DuckDBPyConnection,
    target: str,
    department: str | None,
    ref: date,
    thresholds: Thresholds,
    rules: list[SignalRule] | None = None,
    with_visits: bool = False,
    steps: tuple[str, ...] = ALL_STEPS,
    shared: SharedScope | None = None,
) -> dict[str, int]:
    """Fill ``steps`` (citizen_overview, family_members, family_overview, coordination_signals) for one scope
    into the schema ``target`` (``unified`` or an attached export, e.g. ``ex``), whose tables exist. A later
    step reads the earlier ones from ``target``."""
    rules = load_signal_rules() if rules is None else rules
    counts: dict[str, int] = {}
    define_scope(con, department, ref, thresholds, shared, relations="family_members" in steps)
    try:
        for name in ("citizen_overview", "family_members"):
            con.execute(f"CREATE OR REPLACE TEMP VIEW scope_{name} AS SELECT * FROM {target}.{name}")
        for name in SCOPED_TABLES:
            if name in steps:
                _fill(con, f"{target}.{name}", asset_sql("unified", name))
                counts[name] = _count(con, f"{target}.{name}")
        if SIGNALS_TABLE in steps:
            for rule in rules:
                _fill(con, f"{target}.{SIGNALS_TABLE}", _signals_select(rule), {"description": rule.description})
            for rule_id, n in _rows(con, f"SELECT signal_id, count(*) FROM {target}.{SIGNALS_TABLE} GROUP BY 1"):
                counts[f"signals.{rule_id}"] = n
            counts[SIGNALS_TABLE] = _count(con, f"{target}.{SIGNALS_TABLE}")
        if with_visits:
            # The visits in scope (without the address), so the records a signal names can be looked up.
            con.execute(
                f"CREATE OR REPLACE TABLE {target}.home_visits AS SELECT source, source_table, record_id, person_key, "
                "department, service_record_id, visit_start, visit_date FROM scope_home_visits"
            )
            counts["home_visits"] = _count(con, f"{target}.home_visits")
    finally:
        try:
            _drop_scope(con)
        except duckdb.TransactionException:
            pass  # the surrounding transaction failed and rolls back the scope with it
    return counts


# ------------------------------------------------------------------------------------ the full warehouse


def settings_of_build(con: duckdb.DuckDBPyConnection) -> tuple[date, Thresholds]:
    """The reference date and thresholds the latest unified build used (defaults when none ran)."""
    row = _rows(con, "SELECT reference_date, min_departments, min_services, min_annual_cost_dkk, min_caseworkers, "
                     "signal_lookback_days FROM unified.build_info LIMIT 1")
    if not row:
        return default_reference(con), load_thresholds()
    r = row[0]
    return r[0], Thresholds(r[1], r[2], float(r[3]), r[4], r[5])


def interventions_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """unified.interventions by status, and how many rows come from a stale source."""
    by_status = {f"status.{k}": n for k, n in _rows(con, "SELECT status, count(*) FROM unified.interventions GROUP BY 1")}
    return {**by_status, "stale_rows": _count(con, "unified.interventions WHERE data_status = 'stale'")}


def build_interventions(con: duckdb.DuckDBPyConnection, reference: date | datetime | None = None,
                        thresholds: Thresholds | None = None) -> int:
    """unified.interventions, and unified.build_info (the reference date and thresholds of this build)."""
    ref = _as_date(reference, con)
    t = thresholds or load_thresholds()
    _define_settings(con, ref, t, True)
    try:
        with transaction(con):
            con.execute("DELETE FROM unified.interventions")
            _fill(con, "unified.interventions", asset_sql("unified", "interventions"))
            con.execute("DELETE FROM unified.build_info")
            con.execute(
                "INSERT INTO unified.build_info (reference_date, min_departments, min_services, min_annual_cost_dkk, "
                "min_caseworkers, signal_lookback_days, built_at) VALUES (?, ?, ?, ?, ?, ?, now()::TIMESTAMP)",
                [ref, t.min_departments, t.min_services, t.min_annual_cost_dkk, t.min_caseworkers, t.signal_lookback_days],
            )
    finally:
        con.execute("DROP TABLE IF EXISTS scope_settings")
    return _count(con, "unified.interventions")


def _rebuild(con: duckdb.DuckDBPyConnection, steps: tuple[str, ...], extra=None) -> dict[str, int]:
    """Empty and refill ``steps`` of the restricted warehouse in one transaction, with the settings of the
    latest build_interventions."""
    ref, t = settings_of_build(con)
    with transaction(con):
        for name in steps:
            con.execute(f"DELETE FROM unified.{name}")
        counts = build_scoped(con, "unified", None, ref, t, steps=steps)
        if extra:
            extra()
    return counts


def build_citizen_overview(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """unified.citizen_overview; its row count and how many citizens each targeting flag marks."""
    counts = _rebuild(con, ("citizen_overview",))
    flags = _rows(con, "SELECT count(*) FILTER (flag_departments), count(*) FILTER (flag_services), "
                       "count(*) FILTER (flag_cost), count(*) FILTER (complex_case) FROM unified.citizen_overview")[0]
    return {**counts, **dict(zip(("flag_departments", "flag_services", "flag_cost", "complex_cases"), flags))}


def build_family_overview(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """unified.family_members and unified.family_overview; their row counts and the families with a child's case
    beside an adult's benefits. Then unified.relatives, each citizen's family as a lookup shows it."""
    counts = _rebuild(con, ("family_members", "family_overview"))
    both = _count(con, "unified.family_overview WHERE child_case_and_adult_benefits")
    return {**counts, "child_case_and_adult_benefits": both, "relatives": build_relatives(con)}


def build_relatives(con: duckdb.DuckDBPyConnection) -> int:
    """unified.relatives (``assets/unified/relatives.sql``) at the reference date of the latest build: emptied and
    refilled without its index, which is built after the commit in one go (maintaining it row by row would cost more,
    and an index dropped or made inside the transaction is still maintained row by row at commit: 0.4-0.6 s against
    0.2 s at 100,000 citizens)."""
    ref, _ = settings_of_build(con)
    drop_indexes(con, "unified.relatives")
    try:
        with transaction(con):
            con.execute("DELETE FROM unified.relatives")
            _fill(con, "unified.relatives", asset_sql("unified", "relatives"), {"ref": ref})
    finally:
        restore_indexes(con, "unified.relatives")
    return _count(con, "unified.relatives")


def build_coordination_signals(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """All registered rules into unified.coordination_signals, the rule catalogue and a view per rule."""
    rules = load_signal_rules()

    def catalogue():
        con.execute("DELETE FROM unified.signal_rules")
        con.executemany(
            "INSERT INTO unified.signal_rules (signal_id, title, description, sql_file) VALUES (?, ?, ?, ?)",
            [[r.id, r.title, r.description, f"assets/signals/{r.path.name}"] for r in rules],
        )

    counts = _rebuild(con, (SIGNALS_TABLE,), catalogue)
    for r in rules:
        counts.setdefault(f"signals.{r.id}", 0)
    for r in rules:
        # Each rule is also a view of its own (unified.signal_<id>) for SQL tools.
        con.execute(
            f"CREATE OR REPLACE VIEW unified.signal_{r.id} AS "
            f"SELECT * FROM unified.{SIGNALS_TABLE} WHERE signal_id = '{r.id}'"
        )
    return counts


@dataclass
class UnifiedResult:
    reference_date: date
    counts: dict[str, int] = field(default_factory=dict)


def build_unified(con: duckdb.DuckDBPyConnection, reference: date | datetime | None = None,
                  thresholds: Thresholds | None = None) -> UnifiedResult:
    """The whole unified layer of the restricted warehouse, in asset order."""
    ref = _as_date(reference, con)
    counts = {"interventions": build_interventions(con, ref, thresholds)}
    counts.update(build_citizen_overview(con))
    counts.update(build_family_overview(con))
    counts.update(build_coordination_signals(con))
    return UnifiedResult(ref, counts)


def copy_comments(con: duckdb.DuckDBPyConnection, source_schema: str, tables: Sequence[str], target_schema: str) -> None:
    """Copy the DDL comments of ``<source_schema>.<table>`` (main database) onto ``<target_schema>.<table>`` (e.g. an
    export) for each of ``tables``. Two catalog questions for them all: each lists every table or column of every
    attached database (one per table cost 64 of them a municipality's exports)."""
    names = list(tables)
    where = "database_name = current_database() AND schema_name = ? AND list_contains(?, table_name) AND comment IS NOT NULL"
    statements = [f"COMMENT ON TABLE {target_schema}.{table} IS {_quote(comment)}" for table, comment in _rows(
        con, f"SELECT table_name, comment FROM duckdb_tables() WHERE {where}", [source_schema, names])]
    statements += [f'COMMENT ON COLUMN {target_schema}.{table}."{column}" IS {_quote(comment)}'
                   for table, column, comment in _rows(
                       con, f"SELECT table_name, column_name, comment FROM duckdb_columns() WHERE {where}",
                       [source_schema, names])]
    if statements:
        con.execute(";\n".join(statements))


def _quote(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"
