"""Asset factories: one raw asset per source spec, one asset per SQL file, and the publishing steps.

Each asset is a thin wrapper: it opens the run's building copy of the warehouse and calls a plain
function of the domain modules. Metadata carries counts and durations, never row data or CPR.
"""


import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import duckdb

from samlet_overblik.quality import openlineage
from samlet_overblik import changes
from samlet_overblik.sources import ingest, staging
from samlet_overblik.sources.specs import SourceSpec, load_source_specs
from samlet_overblik.defs.resources import RunSettings, ValidationResource, WarehouseResource, serving

OWNERS = ["team:data-engineering"]


def raw_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", source])


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def each_tenant(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                work: Callable[[], dict]) -> dg.MaterializeResult:
    """``work()`` once for each municipality of the run, the resources pointed at it, and its metadata (counts only)
    as that partition's. One municipality, or one partition: once. A run of a backfill may cover several small
    municipalities (the backfill policy, ``tenants_per_run``); a failure names the one it happened in."""
    tenants = warehouse.tenants
    if len(tenants) == 1:
        with serving(tenants[0]):
            return dg.MaterializeResult(metadata=work())
    for tenant in tenants:
        with serving(tenant), naming(tenant):
            context.add_asset_metadata(work(), partition_key=tenant)
    return dg.MaterializeResult()


def each_tenant_check(warehouse: WarehouseResource, check: Callable[[], dg.AssetCheckResult]) -> dg.AssetCheckResult:
    """An asset check once for each municipality of the run: passed only if it passed for every one; an error if it
    is one for any (a blocking check then stops the group's publishing); each one's metadata under its kommunekode."""
    tenants = warehouse.tenants
    if len(tenants) == 1:
        with serving(tenants[0]):
            return check()
    results = {}
    for tenant in tenants:
        with serving(tenant), naming(tenant):
            results[tenant] = check()
    failed = [r for r in results.values() if not r.passed]
    error = any(r.severity == dg.AssetCheckSeverity.ERROR for r in failed)
    return dg.AssetCheckResult(
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR if error else dg.AssetCheckSeverity.WARN,
        metadata={"failed_in": ", ".join(str(t) for t, r in results.items() if not r.passed) or "none",
                  **{f"{t}.{k}": v for t, r in results.items() for k, v in (r.metadata or {}).items()}},
    )


@contextmanager
def naming(tenant: str | None) -> Iterator[None]:
    """A failure in a run of several municipalities says whose it is (a kommunekode, never a value)."""
    try:
        yield
    except dg.Failure as exc:
        raise dg.Failure(description=f"kommune {tenant}: {exc.description}") from None


def _source_retry_policy() -> dg.RetryPolicy:
    """job.yaml ``retries``: how often a source read that failed is tried again, the first delay (then doubled)."""
    from samlet_overblik.sources.specs import load_job_settings

    cfg = load_job_settings().get("retries") or {}
    return dg.RetryPolicy(max_retries=int(cfg.get("max_retries", 2)), delay=float(cfg.get("delay_seconds", 1)),
                          backoff=dg.Backoff.EXPONENTIAL)


def raw_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    """Copy every table of one source into ``raw``; a source that is down reuses its last good copy."""

    @dg.asset(
        key=raw_key(spec.name),
        group_name="raw",
        description=f"Exact copies of {spec.name}'s tables ({', '.join(spec.tables)}): {spec.description}",
        owners=OWNERS,
        kinds={"duckdb", "sqlalchemy"},
        required_resource_keys={"warehouse", "run_settings", f"source_{spec.name}"},
        retry_policy=_source_retry_policy(),
    )
    def _raw(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse: WarehouseResource = context.resources.warehouse
        return each_tenant(context, warehouse, lambda: read(context, warehouse))

    def read(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dict:
        settings: RunSettings = context.resources.run_settings
        url = getattr(context.resources, f"source_{spec.name}").connection_url()
        started = time.perf_counter()
        loaded_at = _now()
        with warehouse.connect(context.run_id) as con:
            # Before the read: a change committed meanwhile makes the next check build again (changes.py).
            changes.record(con, context.run_id, changes.source_input(spec.name), changes.source_fingerprint(spec, url))
            openlineage.record_location(con, context.run_id, spec.name, url)
            try:
                read = ingest.read_source(con, spec, url, context.run_id, loaded_at, full_refresh=settings.full_refresh)
            except ingest.SourceUnavailable as exc:
                raise dg.Failure(description=str(exc)) from None
        if read.stale:
            # The message names the source and table only (ingest never passes a driver's text on).
            context.log.warning(f"{warehouse.who}{read.reason}; reusing the last good snapshot (department data marked "
                                "stale)")
            return {"status": "stale", "tables": len(read.stale)}
        results = read.tables
        # Counts only: never a value from a row.
        meta: dict = {"status": "ok"}
        for r in results:
            meta.update({f"rows.{r.table}": r.rows_total, f"read.{r.table}": r.rows_read})
            if r.rows_deleted:
                meta[f"deleted.{r.table}"] = r.rows_deleted
            if r.future_stamped_rows:
                meta[f"future_stamped.{r.table}"] = r.future_stamped_rows
            if r.problem_rows:
                meta[f"marked_for_quarantine.{r.table}"] = r.problem_rows
        meta["duration_s"] = round(time.perf_counter() - started, 3)
        future = sum(r.future_stamped_rows for r in results)
        if future:
            context.log.warning(f"{warehouse.who}{spec.name}: {future} row(s) with an update stamp in the future (read "
                                "again every run until it has passed; see meta.source_reads)")
        return meta

    return _raw


def staging_asset(sql_asset: staging.SqlAsset) -> dg.AssetsDefinition:
    source_system = sql_asset.source_system
    if source_system is None:
        raise ValueError(f"{sql_asset.path.name}: a staging asset's header needs '-- source: system.table'")

    @dg.asset(
        key=dg.AssetKey(["staging", sql_asset.name]),
        deps=[raw_key(source_system)],
        metadata={"target": sql_asset.target, "source_system": source_system},
        group_name="staging",
        description=f"{sql_asset.description} → {sql_asset.target} (rejected rows → quarantine.rejected_rows)",
        owners=OWNERS,
        kinds={"duckdb", "sql"},
    )
    def _staging(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                 run_settings: RunSettings) -> dg.MaterializeResult:
        def stage() -> dict:
            started = time.perf_counter()
            with warehouse.connect(context.run_id) as con:
                staging.refresh_code_map(con, load_source_specs()[source_system])
                result = staging.run_staging_asset(con, sql_asset, context.run_id, _now(),
                                                   restage=run_settings.full_refresh)
            return {
                "rows": result.rows,
                "quarantined": sum(result.rejected.values()),
                **{f"quarantined.{k}": v for k, v in result.rejected.items()},
                **({"unchanged_since_run": result.unchanged_since} if result.unchanged_since else {}),
                "duration_s": round(time.perf_counter() - started, 3),
            }

        return each_tenant(context, warehouse, stage)

    return _staging


def source_assets() -> tuple[list[dg.AssetsDefinition], list[dg.AssetsDefinition]]:
    specs = load_source_specs()
    raws = [raw_asset(s) for s in specs.values()]
    stagings = [staging_asset(a) for a in staging.load_sql_assets("staging")]
    return raws, stagings


@contextmanager
def value_free_errors(key: dg.AssetKey) -> Iterator[None]:
    """DuckDB's messages can quote a row's value: a failure event gets the error kind and a value-free line only."""
    try:
        yield
    except duckdb.Error as exc:
        raise dg.Failure(description=f"{key.to_user_string()} failed ({type(exc).__name__}: "
                                     f"{ingest.value_free(str(exc))})") from None


def warehouse_asset(
    key: dg.AssetKey,
    deps: list[dg.AssetKey],
    group: str,
    description: str,
    compute: Callable[[duckdb.DuckDBPyConnection, dg.AssetExecutionContext, RunSettings], dict],
) -> dg.AssetsDefinition:
    """A thin asset over the run's building copy: ``compute(con, context, run_settings)`` does the work with a
    plain domain function and returns the metadata (counts only, never row data or CPR)."""

    @dg.asset(key=key, deps=deps, group_name=group, description=description, owners=OWNERS, kinds={"duckdb", "sql"})
    def _asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource, run_settings: RunSettings) -> dg.MaterializeResult:
        def build() -> dict:
            started = time.perf_counter()
            with value_free_errors(key), warehouse.connect(context.run_id) as con:
                metadata = compute(con, context, run_settings)
            return {**metadata, "duration_s": round(time.perf_counter() - started, 3)}

        return each_tenant(context, warehouse, build)

    return _asset


def identity_asset(deps: list[dg.AssetKey]) -> dg.AssetsDefinition:
    from samlet_overblik.access import audit
    from samlet_overblik.identity.linking import link_person_records

    def compute(con, context, settings: RunSettings) -> dict:
        # The stewards' decisions since the last run, from the review desk's store beside the access log.
        warehouse = context.resources.warehouse
        decisions = audit.steward_decisions(audit.audit_url(warehouse.published.parent, warehouse.tenant))
        changes.record(con, context.run_id, changes.STEWARD_DECISIONS, changes.decisions_fingerprint(decisions))
        result = link_person_records(con, context.run_id, _now(), full_relink=settings.full_relink,
                                     decisions=decisions)
        return {"records": result.records, "new_person_keys": result.new_keys, "mode": result.mode,
                "relinked": result.relinked,
                **{f"method.{k}": v for k, v in result.by_method.items()}}

    return warehouse_asset(
        dg.AssetKey(["identity", "person_links"]), deps, "identity",
        "Every person-identifying record linked to a stable person key (identity.person_links, identity.person_keys).",
        compute,
    )


CONSENT_STATE = dg.AssetKey(["consent", "state"])
ACCESS_GRANTS = dg.AssetKey(["unified", "access_grants"])


def _policy(run_settings: RunSettings):
    from samlet_overblik.consent.policy import load_policy

    return load_policy(Path(run_settings.policy()) if run_settings.policy() else None)


def consent_state_asset(deps: list[dg.AssetKey]) -> dg.AssetsDefinition:
    from samlet_overblik import consent

    def compute(con, context, run_settings) -> dict:
        changes.record(con, context.run_id, changes.POLICY, changes.policy_fingerprint(run_settings.policy() or None))
        policy = _policy(run_settings)
        state = consent.refresh_consent_state(con, policy, context.run_id, run_settings.reference())
        if state.fail_closed:
            context.log.warning(f"{context.resources.warehouse.who}consent registry not usable ({state.reason}): "
                                "failing closed, nothing crosses a department boundary")
        return {
            "policy_version": policy.version, "consent_versions": state.consent_rows, "quarantined": state.quarantined_rows,
            "in_force": state.in_force, "lost_versions": state.lost_versions,
            "fail_closed": state.fail_closed, "fail_closed_reason": state.reason or "",
            **{f"status.{k}": v for k, v in state.by_status.items()},
        }

    return warehouse_asset(
        CONSENT_STATE, deps, "consent",
        "Consent history as seen (consent.history), every version judged at the reference time "
        "(consent.evaluated), the grants in force (consent.effective_grants) and whether the registry can be trusted "
        "(consent.run_status; fail closed otherwise).",
        compute,
    )


def access_grants_asset(deps: list[dg.AssetKey]) -> dg.AssetsDefinition:
    from samlet_overblik import consent

    def compute(con, context, run_settings) -> dict:
        r = consent.decide_access(con, _policy(run_settings), context.run_id, run_settings.reference())
        return {"admitted": r.admitted, "blocked": r.blocked, "cross_department_admitted": r.cross_department_admitted,
                "flows_opened": r.flows_opened, "flows_closed": r.flows_closed}

    return warehouse_asset(
        ACCESS_GRANTS, deps, "consent",
        "For every staged record and every department: admitted with its basis (unified.access_grants) "
        "or blocked with its reason (consent.record_decisions); counts per run in consent.decisions; flow history in "
        "consent.flow_intervals.",
        compute,
    )


def quality_checks(stagings: list[dg.AssetsDefinition]) -> list[dg.AssetChecksDefinition]:
    """One blocking asset check per Great Expectations suite: a failed critical expectation stops publishing."""
    from samlet_overblik.quality import checks as quality

    source_of = {s.key: s.metadata_by_key[s.key]["source_system"] for s in stagings}
    checks = []
    for suite in quality.load_suites():
        target = dg.AssetKey(suite.attach_to.split("/"))
        # A source's suite reads all of that source's staged tables: run it after every one of them.
        siblings = [k for k, system in source_of.items() if system == source_of.get(target) and k != target]

        def _make(suite=suite, target=target, siblings=siblings):
            @dg.asset_check(
                asset=target,
                additional_deps=siblings,
                name=f"ge_{suite.name}",
                description=f"Great Expectations suite expectations/{suite.path.name}: {suite.description}",
                blocking=True,
            )
            def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                       validation: ValidationResource) -> dg.AssetCheckResult:
                return each_tenant_check(warehouse, lambda: validate(context.run.run_id, warehouse, validation))

            def validate(run_id: str, warehouse: WarehouseResource,
                         validation: ValidationResource) -> dg.AssetCheckResult:
                with warehouse.connect(run_id) as con:
                    outcome = validation.run_suite(con, suite, run_id)
                critical, warnings = outcome.critical_failures, outcome.warnings
                return dg.AssetCheckResult(
                    passed=not critical and not warnings,
                    severity=dg.AssetCheckSeverity.ERROR if critical else dg.AssetCheckSeverity.WARN,
                    metadata={
                        "expectations": len(outcome.outcomes),
                        "critical_failures": len(critical),
                        "warnings": len(warnings),
                        "failing": dg.MetadataValue.md(
                            "\n".join(f"- {quality.describe(o)}" for o in critical + warnings) or "none"
                        ),
                    },
                )

            return _check

        checks.append(_make())
    return checks


def freshness_check(spec: SourceSpec, limit_hours: float) -> dg.AssetChecksDefinition:
    """Warn when a source's data is old by its own time (its newest update stamp not in the future, older than its
    limit in pipelines/job.yaml), or when rows carry update stamps in the future (they are not counted as fresh)."""
    @dg.asset_check(
        asset=raw_key(spec.name),
        name="freshness",
        description=f"{spec.name}: newest update stamp no older than {limit_hours:g} hours, and none in the future.",
    )
    def _fresh(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        return each_tenant_check(warehouse, lambda: fresh(context.run.run_id, warehouse))

    def fresh(run_id: str, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        now = _now()
        with warehouse.connect(run_id) as con:
            newest, future = ingest.stamp_state(con, spec, now)
        # Counts and ages only (no stamp from a row).
        metadata = {"limit_hours": limit_hours, "future_stamped_rows": future}
        if newest is None:
            return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                       metadata={"age_hours": -1, **metadata})
        age_h = (now - newest).total_seconds() / 3600
        return dg.AssetCheckResult(passed=age_h <= limit_hours and not future, severity=dg.AssetCheckSeverity.WARN,
                                   metadata={"age_hours": round(age_h, 1), **metadata})

    return _fresh
