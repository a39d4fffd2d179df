"""Consent state and enforcement of the sharing rule, set-based in DuckDB.

Default deny. A department always sees its own records; a record of department S reaches a viewer
department V != S only when, at the run's reference time, a consent in force covers (S -> V, category)
for the citizen, or an enabled legal-basis rule of the policy allows it. Every admitted pair carries
its basis (``samtykke:<id>@<version>`` or ``lov:<rule id>``); every blocked pair its reason.
When the registry cannot be trusted the run fails closed: nothing crosses a department boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from . import DEPARTMENTS
from .policy import Policy
from .warehouse import transaction

CONSENT_STAGING_ASSET = "samtykke__samtykke"


@dataclass
class ConsentState:
    consent_rows: int
    quarantined_rows: int
    in_force: int
    by_status: dict[str, int]
    fail_closed: bool
    reason: str | None


@dataclass
class AccessResult:
    admitted: int
    blocked: int
    cross_department_admitted: int
    flows_opened: int
    flows_closed: int


def record_history(con: duckdb.DuckDBPyConnection, run_id: str, ref: datetime) -> None:
    """Append consent versions whose content this run sees for the first time; stamp the rest as seen."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _seen AS
        SELECT c.*, coalesce(s.scope, '') AS scope,
               md5(concat_ws('|', c.samtykke_id, c.version, c.cpr, c.given_by_cpr, c.purpose, c.given_at,
                             c.valid_until, c.withdrawn_at, c.channel, c.registered_by, coalesce(s.scope, ''))) AS content_hash
        FROM staging.consents c
        LEFT JOIN (
            SELECT samtykke_id, version,
                   string_agg(from_department || '>' || to_department || ':' || category, ','
                              ORDER BY from_department, to_department, category) AS scope
            FROM staging.consent_scopes GROUP BY ALL
        ) s USING (samtykke_id, version)
        """
    )
    con.execute(
        "UPDATE consent.history h SET last_seen_run = ?, last_seen_at = ? "
        "WHERE EXISTS (SELECT 1 FROM _seen s WHERE s.content_hash = h.content_hash)",
        [run_id, ref],
    )
    con.execute(
        """
        INSERT INTO consent.history
        SELECT samtykke_id, version, cpr, given_by_cpr, purpose, given_at, valid_until, withdrawn_at, channel,
               registered_by, updated_at, scope, content_hash, ?, ?, ?, ?
        FROM _seen s WHERE NOT EXISTS (SELECT 1 FROM consent.history h WHERE h.content_hash = s.content_hash)
        """,
        [run_id, ref, run_id, ref],
    )
    con.execute("DROP TABLE _seen")


def evaluate_consents(con: duckdb.DuckDBPyConnection, policy: Policy, ref: datetime) -> None:
    """Judge every consent version at the reference time (DESIGN.md's definition) and derive the grants."""
    con.execute(
        f"""
        CREATE OR REPLACE TABLE consent.evaluated AS
        WITH invalid_ids AS (
            -- A consent with a version that could not be read is not used at all: an older, broader
            -- version must not come back to life because its replacement was malformed.
            SELECT DISTINCT json_extract_string(raw_row, '$.samtykke_id') AS samtykke_id
            FROM quarantine.rejected_rows WHERE asset = '{CONSENT_STAGING_ASSET}'
        ),
        ranked AS (
            SELECT c.*,
                   c.given_at <= $ref AS given,
                   row_number() OVER (PARTITION BY c.samtykke_id ORDER BY (c.given_at <= $ref) DESC, c.version DESC) AS rn
            FROM staging.consents c
        ),
        custody AS (
            SELECT DISTINCT c.samtykke_id, c.version
            FROM staging.consents c JOIN staging.cpr_relations r
              ON r.child_cpr = c.cpr AND r.related_cpr = c.given_by_cpr AND r.relation = 'foraeldremyndighed'
             AND (r.valid_from IS NULL OR r.valid_from <= CAST(c.given_at AS DATE))
             AND (r.valid_to IS NULL OR r.valid_to >= CAST(c.given_at AS DATE))
        )
        SELECT r.samtykke_id, r.version, r.cpr,
            CASE
                WHEN i.samtykke_id IS NOT NULL THEN 'invalid_version'
                WHEN NOT r.given THEN 'not_yet_given'
                WHEN r.rn > 1 THEN 'superseded'
                WHEN r.withdrawn_at IS NOT NULL AND r.withdrawn_at <= $ref THEN 'withdrawn'
                WHEN r.valid_until IS NOT NULL AND r.valid_until < CAST($ref AS DATE) THEN 'expired'
                WHEN NOT list_contains($purposes, r.purpose) THEN 'purpose_not_covered'
                WHEN $custody AND r.given_by_cpr IS NOT NULL AND r.given_by_cpr <> r.cpr AND cu.samtykke_id IS NULL
                    THEN 'giver_without_custody'
                ELSE 'in_force'
            END AS status,
            CASE
                WHEN i.samtykke_id IS NOT NULL THEN 'En version af samtykket kunne ikke læses (karantæne)'
                WHEN NOT r.given THEN 'Givet efter kørslens referencetid'
                WHEN r.rn > 1 THEN 'Erstattet af en nyere version'
                WHEN r.withdrawn_at IS NOT NULL AND r.withdrawn_at <= $ref THEN 'Tilbagekaldt ' || strftime(r.withdrawn_at, '%Y-%m-%d %H:%M')
                WHEN r.valid_until IS NOT NULL AND r.valid_until < CAST($ref AS DATE) THEN 'Udløbet ' || strftime(r.valid_until, '%Y-%m-%d')
                WHEN NOT list_contains($purposes, r.purpose) THEN 'Formålet er ikke omfattet af politikken'
                WHEN $custody AND r.given_by_cpr IS NOT NULL AND r.given_by_cpr <> r.cpr AND cu.samtykke_id IS NULL
                    THEN 'Givet af en person uden forældremyndighed på tidspunktet'
            END AS reason
        FROM ranked r
        LEFT JOIN invalid_ids i ON i.samtykke_id = r.samtykke_id
        LEFT JOIN custody cu ON cu.samtykke_id = r.samtykke_id AND cu.version = r.version
        """,
        {"ref": ref, "purposes": list(policy.purposes), "custody": policy.require_custody_for_proxy},
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE consent.effective_grants AS
        SELECT e.cpr, s.samtykke_id, s.version, s.from_department, s.to_department, s.category
        FROM consent.evaluated e JOIN staging.consent_scopes s USING (samtykke_id, version)
        WHERE e.status = 'in_force' AND s.from_department <> s.to_department
        """
    )


def check_registry(con: duckdb.DuckDBPyConnection, policy: Policy, run_id: str, ref: datetime) -> ConsentState:
    """Decide whether the registry can be trusted in this run; record the verdict in consent.run_status."""
    unreachable = con.execute(
        "SELECT count(*) FROM meta.source_loads WHERE run_id = ? AND source = 'samtykke' AND status <> 'ok'", [run_id]
    ).fetchall()[0][0]
    rows = con.execute("SELECT count(*) FROM staging.consents").fetchall()[0][0]
    quarantined = con.execute(
        "SELECT count(*) FROM quarantine.rejected_rows WHERE asset = ?", [CONSENT_STAGING_ASSET]
    ).fetchall()[0][0]
    previous = con.execute(
        "SELECT consent_rows FROM consent.run_status WHERE run_id <> ? AND NOT fail_closed "
        "ORDER BY reference_time DESC LIMIT 1",
        [run_id],
    ).fetchall()
    reason = None
    if unreachable:
        reason = "registry_unreachable"
    elif rows == 0 and previous and previous[0][0] > 0:
        reason = "registry_empty"
    elif rows + quarantined > 0 and quarantined / (rows + quarantined) > policy.registry_max_invalid_share:
        reason = "registry_invalid"
    con.execute("DELETE FROM consent.run_status WHERE run_id = ?", [run_id])
    con.execute(
        "INSERT INTO consent.run_status VALUES (?, ?, ?, ?, ?, ?, ?)",
        [run_id, ref, policy.version, rows, quarantined, reason is not None, reason],
    )
    by_status = dict(con.execute("SELECT status, count(*) FROM consent.evaluated GROUP BY 1").fetchall())
    return ConsentState(rows, quarantined, by_status.get("in_force", 0), by_status, reason is not None, reason)


def refresh_consent_state(con: duckdb.DuckDBPyConnection, policy: Policy, run_id: str, ref: datetime) -> ConsentState:
    record_history(con, run_id, ref)
    evaluate_consents(con, policy, ref)
    _write_policy_rules(con, policy)
    return check_registry(con, policy, run_id, ref)


def _write_policy_rules(con: duckdb.DuckDBPyConnection, policy: Policy) -> None:
    con.execute("DELETE FROM consent.policy_rules")
    rows = [
        (r.id, policy.version, "legal_rule", r.reference, f, t, c, r.condition)
        for r in policy.enabled_rules
        for f in r.from_departments
        for t in r.to_departments
        for c in r.categories
        if f != t
    ]
    rows.append((policy.own_rule_id, policy.version, "own_department", policy.own_reference, None, None, None, None))
    con.executemany("INSERT INTO consent.policy_rules VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def decide_access(con: duckdb.DuckDBPyConnection, policy: Policy, run_id: str, ref: datetime) -> AccessResult:
    """For every staged record and every department: admitted with a basis, or blocked with a reason."""
    fail_closed = con.execute(
        "SELECT coalesce(bool_or(fail_closed), TRUE) FROM consent.run_status WHERE run_id = ?", [run_id]
    ).fetchall()[0][0]
    params = {"own": f"lov:{policy.own_rule_id}", "fail_closed": fail_closed, "departments": list(DEPARTMENTS)}
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _records AS
        SELECT i.source, i.source_table, i.record_id, i.department AS source_department, i.category,
               l.person_key, k.cpr
        FROM staging.interventions i
        LEFT JOIN identity.person_links l
          ON l.source = i.source AND l."table" = i.person_table AND l.record_id = i.person_record_id
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
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _decided AS
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
        """,
        params,
    )
    with transaction(con):
        con.execute(
            """
            CREATE OR REPLACE TABLE consent.record_decisions AS
            SELECT $run_id AS run_id, source, source_table, record_id, person_key, source_department, category,
                   viewer_department, CASE WHEN basis IS NULL THEN 'blocked' ELSE 'admitted' END AS decision, basis, reason
            FROM _decided
            """,
            {"run_id": run_id},
        )
        con.execute(
            """
            CREATE OR REPLACE TABLE unified.access_grants AS
            SELECT source, source_table, record_id, person_key, source_department, viewer_department, basis
            FROM _decided WHERE basis IS NOT NULL
            """
        )
        con.execute(
            """
            INSERT INTO consent.decisions
            SELECT ?, ?, source_department, viewer_department,
                   CASE WHEN basis IS NULL THEN 'blocked' ELSE 'admitted' END,
                   CASE WHEN basis IS NULL THEN 'default_deny' WHEN basis LIKE 'samtykke:%' THEN 'samtykke' ELSE basis END,
                   reason, count(*)
            FROM _decided GROUP BY ALL
            """,
            [run_id, ref],
        )
        opened = closed = 0
        if not fail_closed:
            opened, closed = _update_flow_intervals(con, run_id, ref)
    counts = con.execute(
        "SELECT count(*) FILTER (basis IS NOT NULL), count(*) FILTER (basis IS NULL), "
        "count(*) FILTER (basis IS NOT NULL AND viewer_department <> source_department) FROM _decided"
    ).fetchall()[0]
    for t in ("_records", "_person_facts", "_consent_basis", "_legal_basis", "_not_in_force", "_decided"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    return AccessResult(counts[0], counts[1], counts[2], opened, closed)


def _update_flow_intervals(con: duckdb.DuckDBPyConnection, run_id: str, ref: datetime) -> tuple[int, int]:
    """Close the flows this run no longer publishes (with the reason), open the new ones."""
    closed = con.execute(
        """
        UPDATE consent.flow_intervals f
        SET to_run = $run_id, to_time = $ref,
            stop_reason = coalesce((SELECT d.reason FROM _decided d WHERE d.source = f.source AND d.source_table = f.source_table
                                    AND d.record_id = f.record_id AND d.viewer_department = f.viewer_department),
                                   'record_removed')
        WHERE f.to_run IS NULL AND NOT EXISTS (
            SELECT 1 FROM _decided d WHERE d.source = f.source AND d.source_table = f.source_table
              AND d.record_id = f.record_id AND d.viewer_department = f.viewer_department AND d.basis = f.basis)
        """,
        {"run_id": run_id, "ref": ref},
    ).fetchall()[0][0]
    opened = con.execute(
        """
        INSERT INTO consent.flow_intervals
        SELECT d.source, d.source_table, d.record_id, d.person_key, d.source_department, d.viewer_department, d.basis,
               $run_id, $ref, NULL, NULL, NULL
        FROM _decided d
        WHERE d.basis IS NOT NULL AND d.viewer_department <> d.source_department AND NOT EXISTS (
            SELECT 1 FROM consent.flow_intervals f WHERE f.to_run IS NULL AND f.source = d.source
              AND f.source_table = d.source_table AND f.record_id = d.record_id
              AND f.viewer_department = d.viewer_department AND f.basis = d.basis)
        """,
        {"run_id": run_id, "ref": ref},
    ).fetchall()[0][0]
    return opened, closed
