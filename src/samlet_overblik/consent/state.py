"""Consent state and enforcement of the sharing rule, set-based in DuckDB.

Default deny. A department always sees its own records; a record of department S reaches a viewer
department V != S only when, at the run's reference time, a consent in force covers (S -> V, category)
for the citizen, or an enabled legal-basis rule of the policy allows it. Every admitted pair carries
its basis (``samtykke:<id>@<version>`` or ``lov:<rule id>``); every blocked pair its reason.
When the registry cannot be trusted (unreachable, emptied, shrunk by deletions, too many unreadable rows) the run
fails closed: nothing crosses a department boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

import duckdb

from samlet_overblik.sources.specs import consent_registry
from samlet_overblik.consent.policy import Policy
from samlet_overblik.core.sql import asset_sql

# The staged tables the consent state is computed from (the registry's versions and scopes, and the custody
# relations of the person register): the staging assets that write them are the consent state's inputs.
READS = ("staging.consents", "staging.consent_scopes", "staging.cpr_relations")


def consent_staging_asset() -> str:
    """The staging asset that stages the registry's consent versions (target ``staging.consents``): its quarantined
    rows are consent versions that could not be read."""
    from samlet_overblik.core.paths import data_dir

    return _staging_asset_of("staging.consents", data_dir("assets") / "staging")


@cache
def _staging_asset_of(target: str, folder: Path) -> str:
    from samlet_overblik.sources.staging import load_sql_assets

    names = [a.name for a in load_sql_assets("staging", folder) if a.target == target]
    if len(names) != 1:
        raise ValueError(f"exactly one staging asset must target {target} (found {len(names)})")
    return names[0]


@dataclass
class ConsentState:
    consent_rows: int
    quarantined_rows: int
    in_force: int
    by_status: dict[str, int]
    fail_closed: bool
    reason: str | None
    lost_versions: int = 0


def record_history(con: duckdb.DuckDBPyConnection, run_id: str, ref: datetime) -> None:
    """Append consent versions whose content this run sees for the first time; stamp the rest as seen."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _seen AS {asset_sql('consent', 'seen_versions')}")
    con.execute(
        "UPDATE consent.history h SET last_seen_run = ?, last_seen_at = ? "
        "WHERE EXISTS (SELECT 1 FROM _seen s WHERE s.content_hash = h.content_hash)",
        [run_id, ref],
    )
    con.execute(
        """
        INSERT INTO consent.history (samtykke_id, version, cpr, given_by_cpr, purpose, given_at, valid_until, withdrawn_at,
               channel, registered_by, updated_at, scope, content_hash, first_seen_run, first_seen_at, last_seen_run,
               last_seen_at)
        SELECT samtykke_id, version, cpr, given_by_cpr, purpose, given_at, valid_until, withdrawn_at, channel,
               registered_by, updated_at, scope, content_hash, ?, ?, ?, ?
        FROM _seen s WHERE NOT EXISTS (SELECT 1 FROM consent.history h WHERE h.content_hash = s.content_hash)
        """,
        [run_id, ref, run_id, ref],
    )
    con.execute("DROP TABLE _seen")


def evaluate_consents(con: duckdb.DuckDBPyConnection, policy: Policy, ref: datetime) -> None:
    """Judge every consent version at the reference time (DESIGN.md's definition) and derive the grants."""
    con.execute(f"CREATE OR REPLACE TABLE consent.evaluated AS {asset_sql('consent', 'evaluated')}",
                {"ref": ref, "purposes": list(policy.purposes), "custody": policy.require_custody_for_proxy,
                 "consent_asset": consent_staging_asset()})
    con.execute(f"CREATE OR REPLACE TABLE consent.effective_grants AS {asset_sql('consent', 'effective_grants')}")


def _registry_keys(con: duckdb.DuckDBPyConnection) -> None:
    """``_registry_now``: the key of every consent version the registry holds in this run, valid or quarantined."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _registry_now AS {asset_sql('consent', 'registry_keys')}",
                {"consent_asset": consent_staging_asset()})


def check_registry(con: duckdb.DuckDBPyConnection, policy: Policy, run_id: str, ref: datetime,
                   max_lost_share: float | None = None) -> ConsentState:
    """Decide whether the registry can be trusted in this run; record the verdict in consent.run_status.

    Fails closed when the registry could not be read (``registry_unreachable``), is empty after a run that had
    consents (``registry_empty``), lost more than ``max_lost_share`` (job.yaml ``consent_registry.max_lost_share``)
    of the consent versions the last trusted run saw (``registry_shrunk``: compared with ``consent.registry_keys``,
    so a shrunken registry stays closed run after run until the versions are back or the share is raised), or
    holds too many rows that could not be read (``registry_invalid``)."""
    if max_lost_share is None:
        from samlet_overblik.sources.specs import load_ingest_settings

        max_lost_share = load_ingest_settings().registry_max_lost_share
    unreachable = con.execute(
        "SELECT count(*) FROM meta.source_loads WHERE run_id = ? AND source = ? AND status <> 'ok'",
        [run_id, consent_registry().name]
    ).fetchall()[0][0]
    rows = con.execute("SELECT count(*) FROM staging.consents").fetchall()[0][0]
    quarantined = con.execute(
        "SELECT count(*) FROM quarantine.rejected_rows WHERE asset = ?", [consent_staging_asset()]
    ).fetchall()[0][0]
    previous = con.execute(
        "SELECT consent_rows FROM consent.run_status WHERE run_id <> ? AND NOT fail_closed "
        "ORDER BY reference_time DESC LIMIT 1",
        [run_id],
    ).fetchall()
    _registry_keys(con)
    baseline, lost = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM _registry_now n "
        "WHERE n.samtykke_id IS NOT DISTINCT FROM b.samtykke_id AND n.version IS NOT DISTINCT FROM b.version)) "
        "FROM consent.registry_keys b"
    ).fetchall()[0]
    reason = None
    if unreachable:
        reason = "registry_unreachable"
    elif rows == 0 and previous and previous[0][0] > 0:
        reason = "registry_empty"
    elif baseline and lost / baseline > max_lost_share:
        reason = "registry_shrunk"
    elif rows + quarantined > 0 and quarantined / (rows + quarantined) > policy.registry_max_invalid_share:
        reason = "registry_invalid"
    if reason is None:
        # Trusted: this run's registry becomes the baseline the next run is compared with.
        con.execute("DELETE FROM consent.registry_keys")
        con.execute("INSERT INTO consent.registry_keys (samtykke_id, version, run_id) "
                    "SELECT samtykke_id, version, ? FROM _registry_now", [run_id])
    con.execute("DROP TABLE _registry_now")
    con.execute("DELETE FROM consent.run_status WHERE run_id = ?", [run_id])
    con.execute(
        "INSERT INTO consent.run_status (run_id, reference_time, policy_version, consent_rows, quarantined_rows, "
        "fail_closed, reason, lost_versions) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [run_id, ref, policy.version, rows, quarantined, reason is not None, reason, lost],
    )
    by_status = dict(con.execute("SELECT status, count(*) FROM consent.evaluated GROUP BY 1").fetchall())
    return ConsentState(rows, quarantined, by_status.get("in_force", 0), by_status, reason is not None, reason, lost)


def refresh_consent_state(con: duckdb.DuckDBPyConnection, policy: Policy, run_id: str, ref: datetime) -> ConsentState:
    record_history(con, run_id, ref)
    evaluate_consents(con, policy, ref)
    _write_policy_rules(con, policy)
    return check_registry(con, policy, run_id, ref)


def _write_policy_rules(con: duckdb.DuckDBPyConnection, policy: Policy) -> None:
    con.execute("DELETE FROM consent.policy_rules")
    rows: list[tuple[str, str, str, str, str | None, str | None, str | None, str | None]] = [
        (r.id, policy.version, "legal_rule", r.reference, f, t, c, r.condition)
        for r in policy.enabled_rules
        for f in r.from_departments
        for t in r.to_departments
        for c in r.categories
        if f != t
    ]
    rows.append((policy.own_rule_id, policy.version, "own_department", policy.own_reference, None, None, None, None))
    con.executemany("INSERT INTO consent.policy_rules (rule_id, policy_version, kind, reference, from_department, "
                    "to_department, category, condition) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
