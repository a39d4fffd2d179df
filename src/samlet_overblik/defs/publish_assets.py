"""The publishing assets: the run's warehouse and department exports become current (published/*).

Thin wrappers: the decisions (run status, fail-closed, which files form a set) live in the domain modules.
"""

from datetime import datetime, timezone

import dagster as dg

from samlet_overblik import changes
from samlet_overblik.defs.assets import OWNERS, _now, each_tenant, each_tenant_check, value_free_errors
from samlet_overblik.defs.resources import LineageResource, RunSettings, WarehouseResource
from samlet_overblik.quality import openlineage

PUBLISHED_WAREHOUSE = dg.AssetKey(["published", "warehouse"])
PUBLISHED_EXPORTS = dg.AssetKey(["published", "exports"])


def _publishing(key: dg.AssetKey, deps: list[dg.AssetKey], description: str):
    return dg.asset(key=key, deps=deps, group_name="published", description=description, owners=OWNERS, kinds={"duckdb"})


def published_warehouse_asset(deps: list[dg.AssetKey]) -> dg.AssetsDefinition:
    from samlet_overblik.unified import exports as publish
    from samlet_overblik.core import warehouse as wh

    @_publishing(PUBLISHED_WAREHOUSE, deps,
                 "Publishes the run's set — warehouse/samlet_overblik.duckdb and every export — as one: a single "
                 "atomic switch of <warehouse dir>/current (owner-only files; earlier sets kept for rollback).")
    def _published(context: dg.AssetExecutionContext, warehouse: WarehouseResource, run_settings: RunSettings,
                   lineage: LineageResource) -> dg.MaterializeResult:
        started = _run_start(context)
        job = openlineage.job_name(context.dagster_run.job_name, context.dagster_run.tags)

        def publish_set() -> dict:
            with value_free_errors(PUBLISHED_WAREHOUSE), warehouse.connect(context.run_id) as con:
                # The code this process loaded its definitions with (taken then: changes.py).
                changes.record(con, context.run_id, changes.CODE, changes.code_version())
                status, message = publish.record_run(
                    con, context.run_id, context.job_name, started, _now(), run_settings.reference()
                )
            warehouse.let_go(context.run_id)
            wh.publish(warehouse.published, context.run_id, status=status, keep=warehouse.keep_sets,
                       export_group=warehouse.export_group or None)
            openlineage.completed(context.run_id, job, warehouse.tenant, warehouse.published)
            if status != "ok":
                context.log.warning(f"{warehouse.who}run published as {status}" + (f" ({message})" if message else ""))
            return {"status": status}

        return each_tenant(context, warehouse, publish_set)

    return _published


def _run_start(context: dg.AssetExecutionContext) -> datetime | None:
    stats = context.instance.get_run_stats(context.run_id)
    if stats and stats.start_time:
        return datetime.fromtimestamp(stats.start_time, timezone.utc).replace(tzinfo=None)
    return None


def exports_asset(deps: list[dg.AssetKey]) -> dg.AssetsDefinition:
    from samlet_overblik.unified import exports as publish
    from samlet_overblik.core import warehouse as wh
    from samlet_overblik.consent import gate

    @_publishing(PUBLISHED_EXPORTS, deps,
                 "exports/<department>.duckdb: only what each department may see, each row with its basis; "
                 "swapped in atomically. Not republished when the run failed closed.")
    def _exports(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        return each_tenant(context, warehouse, lambda: export(context, warehouse))

    def export(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dict:
        with value_free_errors(PUBLISHED_EXPORTS), warehouse.connect(context.run_id) as con:
            closed, reason = gate.run_is_closed(con, context.run_id)
            if closed:
                context.log.warning(f"{warehouse.who}consent failed closed ({reason}): the published exports stay as "
                                    "they were")
                return {"published": False, "reason": reason or ""}
            results = publish.build_exports(con, warehouse.building_exports(context.run_id), context.run_id,
                                            reuse_from=wh.published_set(warehouse.published).exports_dir)
        return {"published": True, **{f"rows.{r.department}": r.rows for r in results},
                "rebuilt": dg.MetadataValue.int(sum(not r.reused for r in results)),
                "reused_unchanged": dg.MetadataValue.int(sum(r.reused for r in results))}

    return _exports


def run_status_check() -> dg.AssetChecksDefinition:
    """A run's published set as it came out: never a plain success when a source was stale (WARN) or consent failed
    closed (ERROR). A check rather than a failed run: the set is published (the stale sources' last good snapshots,
    nothing shared on consent), and a failed run would abandon it and be retried; the check shows it on the run,
    on the asset, and to Dagster's alerts."""
    from samlet_overblik.unified import exports as publish
    from samlet_overblik.core import warehouse as wh

    @dg.asset_check(asset=PUBLISHED_WAREHOUSE, name="run_status",
                    description="The published set is whole: no source stale (else WARN), consent not failed closed "
                                "(else ERROR).")
    def _status(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        return each_tenant_check(warehouse, lambda: status(context.run.run_id, warehouse))

    def status(run_id: str, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        run = publish.published_run(wh.published_set(warehouse.published).warehouse, run_id)
        return dg.AssetCheckResult(
            passed=run.severity is None,
            severity=dg.AssetCheckSeverity.WARN if run.severity == "WARN" else dg.AssetCheckSeverity.ERROR,
            # Source names and reason codes only.
            metadata={"status": run.status or "not_published", "stale_sources": ", ".join(run.stale_sources) or "none",
                      "stale_count": len(run.stale_sources), "fail_closed_reason": run.fail_closed_reason or "none"})

    return _status
