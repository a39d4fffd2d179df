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

from samlet_overblik.core import vocabulary
from samlet_overblik.core.warehouse import transaction
from samlet_overblik.consent.policy import Policy


@dataclass
class AccessResult:
    admitted: int
    blocked: int
    cross_department_admitted: int
    flows_opened: int
    flows_closed: int


def decide_access(con: duckdb.DuckDBPyConnection, policy: Policy, run_id: str, ref: datetime) -> AccessResult:
    """For every staged record and every department: admitted with a basis, or blocked with a reason."""
    fail_closed, _reason = run_is_closed(con, run_id)
    params = {"own": f"lov:{policy.own_rule_id}", "fail_closed": fail_closed, "departments": list(vocabulary.departments())}
    # Every datum that can cross a department boundary, with the department it belongs to and its category:
    # records (interventions, benefits, contacts), coordination plans with their tovholder (contact information
    # of the lead department) and home visits (the category of the service they deliver; a visit whose service
    # is unknown counts as health data, the strictest category, so it never crosses on a general rule).
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _data AS
        SELECT source, source_table, record_id, department AS source_department, category, person_table, person_record_id
        FROM staging.interventions
        UNION ALL
        SELECT source, source_table, record_id, department, 'kontakt', person_table, person_record_id
        FROM staging.coordination_plans
        UNION ALL
        SELECT v.source, v.source_table, v.record_id, v.department, coalesce(s.category, 'helbred'), v.person_table,
               v.person_record_id
        FROM staging.home_visits v
        LEFT JOIN (SELECT source, record_id, department, min(category) AS category FROM staging.interventions GROUP BY ALL) s
          ON s.source = v.source AND s.record_id = v.service_record_id AND s.department = v.department
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _records AS
        SELECT d.source, d.source_table, d.record_id, d.source_department, d.category, l.person_key, k.cpr
        FROM _data d
        LEFT JOIN identity.person_links l
          ON l.source = d.source AND l."table" = d.person_table AND l.record_id = d.person_record_id
        LEFT JOIN identity.person_keys k ON k.person_key = l.person_key
        """
    )
    # Facts about the citizen that legal-basis conditions refer to.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _person_facts AS
        SELECT r.person_key,
               bool_or(r.source_department = 'boern_familie' AND (i.end_date IS NULL OR i.end_date >= CAST($ref AS DATE))
                       AND p.birth_date > CAST($ref AS DATE) - INTERVAL 18 YEAR) AS child_with_open_case,
               bool_or(cp.record_id IS NOT NULL) AS has_coordination_plan
        FROM _records r
        JOIN staging.interventions i USING (source, source_table, record_id)
        LEFT JOIN staging.cpr_persons p ON p.cpr = r.cpr
        LEFT JOIN (
            SELECT l.person_key, c.record_id FROM staging.coordination_plans c
            JOIN identity.person_links l ON l.source = c.source AND l."table" = c.person_table AND l.record_id = c.person_record_id
        ) cp ON cp.person_key = r.person_key
        WHERE r.person_key IS NOT NULL
        GROUP BY r.person_key
        """,
        {"ref": ref},
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _consent_basis AS
        SELECT cpr, from_department, to_department, category,
               min('samtykke:' || samtykke_id || '@' || CAST(version AS VARCHAR)) AS basis
        FROM consent.effective_grants GROUP BY ALL
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _legal_basis AS
        SELECT r.source, r.source_table, r.record_id, pr.to_department AS viewer_department,
               min('lov:' || pr.rule_id) AS basis
        FROM _records r
        JOIN consent.policy_rules pr
          ON pr.kind = 'legal_rule' AND pr.from_department = r.source_department AND pr.category = r.category
        LEFT JOIN _person_facts f ON f.person_key = r.person_key
        WHERE pr.condition IS NULL
           OR (pr.condition = 'child_with_open_case' AND coalesce(f.child_with_open_case, FALSE))
           OR (pr.condition = 'has_coordination_plan' AND coalesce(f.has_coordination_plan, FALSE))
        GROUP BY ALL
        """
    )
    # Why a pair is blocked: the most telling status among the citizen's consents that would have covered it.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _not_in_force AS
        SELECT e.cpr, s.from_department, s.to_department, s.category,
               arg_min(e.status, CASE e.status WHEN 'withdrawn' THEN 1 WHEN 'expired' THEN 2
                   WHEN 'giver_without_custody' THEN 3 WHEN 'invalid_version' THEN 4 WHEN 'not_yet_given' THEN 5
                   WHEN 'purpose_not_covered' THEN 6 ELSE 7 END) AS status
        FROM consent.evaluated e JOIN staging.consent_scopes s USING (samtykke_id, version)
        WHERE e.status <> 'in_force' GROUP BY ALL
        """
    )
    # Every (datum, viewer) pair, decided: written once, straight into consent.record_decisions (5 million rows at
    # 1,000,000 citizens); the grants, the per-run counts and the flow history are read back from it.
    with transaction(con):
        con.execute(
            """
            CREATE OR REPLACE TABLE consent.record_decisions AS
            SELECT $run_id AS run_id, source, source_table, record_id, person_key, source_department, category,
                   viewer_department, CASE WHEN basis IS NULL THEN 'blocked' ELSE 'admitted' END AS decision, basis, reason
            FROM (
                WITH pairs AS (
                    SELECT r.*, v.viewer_department FROM _records r CROSS JOIN (SELECT unnest($departments) AS viewer_department) v
                ),
                has_consent AS (SELECT DISTINCT cpr FROM consent.effective_grants)
                SELECT p.source, p.source_table, p.record_id, p.person_key, p.source_department, p.category, p.viewer_department,
                    CASE
                        WHEN p.viewer_department = p.source_department THEN $own
                        WHEN $fail_closed THEN NULL
                        ELSE coalesce(cb.basis, lb.basis)
                    END AS basis,
                    CASE
                        WHEN p.viewer_department = p.source_department THEN NULL
                        WHEN $fail_closed THEN 'fail_closed'
                        WHEN cb.basis IS NOT NULL OR lb.basis IS NOT NULL THEN NULL
                        WHEN p.cpr IS NULL THEN 'no_identified_person'
                        WHEN nf.status IN ('withdrawn', 'expired', 'giver_without_custody', 'invalid_version', 'not_yet_given', 'purpose_not_covered')
                            THEN 'consent_' || nf.status
                        WHEN hc.cpr IS NOT NULL THEN 'scope_excludes'
                        WHEN nf.status = 'superseded' THEN 'consent_superseded'
                        ELSE 'no_consent'
                    END AS reason
                FROM pairs p
                LEFT JOIN _consent_basis cb ON cb.cpr = p.cpr AND cb.from_department = p.source_department
                     AND cb.to_department = p.viewer_department AND cb.category = p.category
                LEFT JOIN _legal_basis lb ON lb.source = p.source AND lb.source_table = p.source_table
                     AND lb.record_id = p.record_id AND lb.viewer_department = p.viewer_department
                LEFT JOIN _not_in_force nf ON nf.cpr = p.cpr AND nf.from_department = p.source_department
                     AND nf.to_department = p.viewer_department AND nf.category = p.category
                LEFT JOIN has_consent hc ON hc.cpr = p.cpr
            )
            """,
            {**params, "run_id": run_id},
        )
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
    for t in ("_data", "_records", "_person_facts", "_consent_basis", "_legal_basis", "_not_in_force"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
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


def hidden_count(con: duckdb.DuckDBPyConnection, person_key: str, department: str,
                 visible: set[tuple[str, str, str]]) -> int:
    """How many records of other departments about the citizen the department does not see (a count only).

    The gate's decisions of the current run name every record of the citizen; what the viewer is actually shown
    (``visible``: source, table, record id) is subtracted. Counting "blocked" decisions instead would be wrong
    when the shown rows are not this run's (a run that failed closed keeps the previous exports) or when a
    withdrawal hid rows since (read-time revocations)."""
    rows = con.execute(
        """
        SELECT d.source, d.source_table, d.record_id FROM consent.record_decisions d
        SEMI JOIN staging.interventions i USING (source, source_table, record_id)
        WHERE d.person_key = ? AND d.viewer_department = ? AND d.source_department <> ?
        """,
        [person_key, department, department],
    ).fetchall()
    return sum(1 for r in rows if (r[0], r[1], str(r[2])) not in visible)
