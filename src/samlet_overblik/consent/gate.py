"""THE gate: the one place that decides whether a datum may reach a department.

``decide_access`` judges every staged record against every department once per run (set-based, in DuckDB)
and writes ``unified.access_grants`` (admitted pairs with their basis) and ``consent.record_decisions``
(every pair, with basis or reason). Everything else that shows a cross-department datum asks this module:
``run_is_closed`` (by run id), and the scope relations every surface derives its rows from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from samlet_overblik.sources.specs import departments
from samlet_overblik.core.sql import asset_sql
from samlet_overblik.core.warehouse import restore_indexes, transaction
from samlet_overblik.consent.policy import Policy


@dataclass
class AccessResult:
    admitted: int
    blocked: int
    cross_department_admitted: int
    flows_opened: int
    flows_closed: int


# The gate's steps, in order (assets/consent/gate_<step>.sql, each kept as the temporary table _<step>).
_STEPS = ("data", "records", "person_facts", "consent_basis", "legal_basis", "not_in_force")


def decide_access(con: duckdb.DuckDBPyConnection, policy: Policy, run_id: str, ref: datetime) -> AccessResult:
    """For every staged record and every department: admitted with a basis, or blocked with a reason."""
    fail_closed, _reason = run_is_closed(con, run_id)
    params = {"own": f"lov:{policy.own_rule_id}", "fail_closed": fail_closed, "departments": list(departments())}
    # The gate's steps, in order: each a SELECT in assets/consent/gate_<step>.sql, kept as the temporary table
    # _<step> for the steps after it (the data that can cross a boundary, with its person; facts that legal-basis
    # conditions refer to; the consent and legal bases; why a pair is blocked).
    for step in _STEPS:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _{step} AS {asset_sql('consent', f'gate_{step}')}",
                    {"ref": ref} if step == "person_facts" else {})
    # Every (datum, viewer) pair, decided: written once, straight into consent.record_decisions (5 million rows at
    # 1,000,000 citizens); the grants, the per-run counts and the flow history are read back from it.
    with transaction(con):
        con.execute(f"CREATE OR REPLACE TABLE consent.record_decisions AS {asset_sql('consent', 'record_decisions')}",
                    {**params, "run_id": run_id})
        restore_indexes(con, "consent.record_decisions")  # lookups read a citizen's decisions by person key
        con.execute(
            """
            CREATE OR REPLACE TABLE unified.access_grants AS
            SELECT source, source_table, record_id, person_key, source_department, viewer_department, basis
            FROM consent.record_decisions WHERE decision = 'admitted'
            """
        )
        con.execute(
            """
            INSERT INTO consent.decisions (run_id, reference_time, source_department, viewer_department, decision, rule,
                                           reason, records)
            SELECT ?, ?, source_department, viewer_department, decision,
                   CASE WHEN basis IS NULL THEN 'default_deny' WHEN basis LIKE 'samtykke:%' THEN 'samtykke' ELSE basis END,
                   reason, count(*)
            FROM consent.record_decisions GROUP BY ALL
            """,
            [run_id, ref],
        )
        opened = closed = 0
        if not fail_closed:
            opened, closed = _update_flow_intervals(con, run_id, ref)
    counts = con.execute(
        "SELECT count(*) FILTER (decision = 'admitted'), count(*) FILTER (decision = 'blocked'), "
        "count(*) FILTER (decision = 'admitted' AND viewer_department <> source_department) FROM consent.record_decisions"
    ).fetchall()[0]
    for step in _STEPS:
        con.execute(f"DROP TABLE IF EXISTS _{step}")
    return AccessResult(counts[0], counts[1], counts[2], opened, closed)


def _update_flow_intervals(con: duckdb.DuckDBPyConnection, run_id: str, ref: datetime) -> tuple[int, int]:
    """Close the flows this run no longer publishes (with the reason), open the new ones."""
    closed = con.execute(
        """
        UPDATE consent.flow_intervals f
        SET to_run = $run_id, to_time = $ref,
            stop_reason = coalesce((SELECT d.reason FROM consent.record_decisions d WHERE d.source = f.source AND d.source_table = f.source_table
                                    AND d.record_id = f.record_id AND d.viewer_department = f.viewer_department),
                                   'record_removed')
        WHERE f.to_run IS NULL AND NOT EXISTS (
            SELECT 1 FROM consent.record_decisions d WHERE d.source = f.source AND d.source_table = f.source_table
              AND d.record_id = f.record_id AND d.viewer_department = f.viewer_department AND d.basis = f.basis)
        """,
        {"run_id": run_id, "ref": ref},
    ).fetchall()[0][0]
    opened = con.execute(
        """
        INSERT INTO consent.flow_intervals (source, source_table, record_id, person_key, source_department,
                                            viewer_department, basis, from_run, from_time)
        SELECT d.source, d.source_table, d.record_id, d.person_key, d.source_department, d.viewer_department, d.basis,
               $run_id, $ref
        FROM consent.record_decisions d
        WHERE d.basis IS NOT NULL AND d.viewer_department <> d.source_department AND NOT EXISTS (
            SELECT 1 FROM consent.flow_intervals f WHERE f.to_run IS NULL AND f.source = d.source
              AND f.source_table = d.source_table AND f.record_id = d.record_id
              AND f.viewer_department = d.viewer_department AND f.basis = d.basis)
        """,
        {"run_id": run_id, "ref": ref},
    ).fetchall()[0][0]
    return opened, closed


def run_is_closed(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[bool, str | None]:
    """Whether run ``run_id`` failed closed (nothing crosses a department boundary), and why.

    Decided by run id, never by "the latest run": a run without a verdict on the consent registry is closed."""
    rows = con.execute(
        "SELECT bool_or(fail_closed), string_agg(DISTINCT reason, ',') FROM consent.run_status WHERE run_id = ?", [run_id]
    ).fetchall()
    closed, reason = rows[0] if rows else (None, None)
    if closed is None:
        return True, "no_consent_verdict"
    return bool(closed), reason


def admitted_sql(department_param: str = "$dept") -> str:
    """The (source, source_table, record_id) of every datum the department may see: the one relation every
    surface derives cross-department rows from."""
    return (
        "SELECT source, source_table, record_id, basis FROM unified.access_grants "
        f"WHERE viewer_department = {department_param}"
    )


def _tables_of(target: str) -> tuple[frozenset[tuple[str, str]], frozenset[tuple[str, str]]]:
    """The (source, table) pairs whose staging models write ``target``, and those of every staging model: which
    records are interventions, which are coordination plans (the staging layer's own declarations, read once)."""
    from samlet_overblik.sources.staging import load_sql_assets

    if target not in _TABLES:
        assets = load_sql_assets("staging")
        _TABLES[target] = (frozenset((a.source_system or "", a.source_table or "") for a in assets if a.target == target),
                           frozenset((a.source_system or "", a.source_table or "") for a in assets))
    return _TABLES[target]


_TABLES: dict[str, tuple[frozenset[tuple[str, str]], frozenset[tuple[str, str]]]] = {}


def decisions_about(con: duckdb.DuckDBPyConnection, person_key: str, department: str) -> list[tuple[str, str, str, str]]:
    """The gate's decisions of the current run about the citizen's records of other departments for ``department``:
    (source, table, id, owner). One read by person key (its index); the rest is filtered here."""
    return [(r[0], r[1], str(r[2]), r[3]) for r in con.execute(
        "SELECT source, source_table, record_id, source_department, viewer_department FROM consent.record_decisions "
        "WHERE person_key = ?", [person_key]).fetchall() if r[4] == department and r[3] != department]


def _others(con: duckdb.DuckDBPyConnection, person_key: str, department: str, target: str,
            decisions: list[tuple[str, str, str, str]] | None) -> list[tuple[str, str, str, str]]:
    """``decisions_about`` (read now unless given), limited to the records ``target`` holds
    (``staging.interventions`` or ``staging.coordination_plans``). A (source, table) no staging model declares is
    looked up in ``target`` itself."""
    mine, declared = _tables_of(target)
    rows = decisions if decisions is not None else decisions_about(con, person_key, department)
    held: dict[tuple[str, str], bool] = {}
    for source, table, _, _ in rows:
        pair = (source, table)
        if pair not in held:
            held[pair] = pair in mine or (pair not in declared and bool(con.execute(
                f"SELECT 1 FROM {target} WHERE source = ? AND source_table = ? LIMIT 1", [source, table]).fetchall()))
    return [r for r in rows if held[(r[0], r[1])]]


def hidden_count(con: duckdb.DuckDBPyConnection, person_key: str, department: str,
                 visible: set[tuple[str, str, str]], decisions: list[tuple[str, str, str, str]] | None = None) -> int:
    """How many records of other departments about the citizen the department does not see (a count only).

    The gate's decisions of the current run name every record of the citizen; what the viewer is actually shown
    (``visible``: source, table, record id) is subtracted. Counting "blocked" decisions instead would be wrong
    when the shown rows are not this run's (a run that failed closed keeps the previous exports) or when a
    withdrawal hid rows since (read-time revocations)."""
    return sum(1 for r in _others(con, person_key, department, "staging.interventions", decisions)
               if r[:3] not in visible)


def hidden_plan_departments(con: duckdb.DuckDBPyConnection, person_key: str, department: str,
                            visible: set[tuple[str, str, str]],
                            decisions: list[tuple[str, str, str, str]] | None = None) -> list[str]:
    """The departments (codes) that hold a coordination plan about the citizen the department does not see: the
    existence of a tovholder elsewhere, never the plan, the name or the goals (like ``hidden_count``)."""
    return sorted({r[3] for r in _others(con, person_key, department, "staging.coordination_plans", decisions)
                   if r[:3] not in visible})
