"""The publishing assets: the run's warehouse and department exports become current (published/*).

Thin wrappers: the decisions (run status, fail-closed, which files form a set) live in the domain modules.
"""

from datetime import datetime, timezone

import dagster as dg

from .assets import OWNERS, _now
from .resources import RunSettings, WarehouseResource

PUBLISHED_WAREHOUSE = dg.AssetKey(["published", "warehouse"])
PUBLISHED_EXPORTS = dg.AssetKey(["published", "exports"])


def published_warehouse_asset(deps: list[dg.AssetKey]) -> dg.AssetsDefinition:
    from .. import warehouse as wh

    @dg.asset(
        key=PUBLISHED_WAREHOUSE,
        deps=deps,
        group_name="published",
        description="Swaps the run's building copy in as warehouse/samlet_overblik.duckdb (atomic rename, mode 0600).",
        owners=OWNERS,
        kinds={"duckdb"},
    )
    def _published(context: dg.AssetExecutionContext, warehouse: WarehouseResource, run_settings: RunSettings) -> dg.MaterializeResult:
        with warehouse.connect(context.run_id) as con:
            stale = con.execute(
                "SELECT DISTINCT source FROM meta.source_loads WHERE run_id = ? AND status = 'stale' ORDER BY 1",
                [context.run_id],
            ).fetchall()
            failed_closed = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'consent' AND table_name = 'run_status'"
            ).fetchall()[0][0] and con.execute(
                "SELECT count(*) FROM consent.run_status WHERE run_id = ? AND fail_closed", [context.run_id]
            ).fetchall()[0][0]
            status = "consent_fail_closed" if failed_closed else ("degraded" if stale else "ok")
            message = ("stale sources: " + ", ".join(s for (s,) in stale)) if stale else None
            con.execute(
                "INSERT OR REPLACE INTO meta.runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                [context.run_id, context.job_name, _run_start(context), _now(), run_settings.reference(), status, message],
            )
        wh.publish(warehouse.published, context.run_id)
        if status != "ok":
            context.log.warning(f"run published as {status}" + (f" ({message})" if message else ""))
        return dg.MaterializeResult(metadata={"status": status})

    return _published


def _run_start(context: dg.AssetExecutionContext) -> datetime | None:
    stats = context.instance.get_run_stats(context.run_id)
    if stats and stats.start_time:
        return datetime.fromtimestamp(stats.start_time, timezone.utc).replace(tzinfo=None)
    return None


def exports_asset(deps: list[dg.AssetKey]) -> dg.AssetsDefinition:
    from .. import publish

    @dg.asset(
        key=PUBLISHED_EXPORTS,
        deps=deps,
        group_name="published",
        description="exports/<department>.duckdb: only what each department may see, each row with its basis; "
        "swapped in atomically. Not republished when the run failed closed.",
        owners=OWNERS,
        kinds={"duckdb"},
    )
    def _exports(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.connect(context.run_id) as con:
            failed = con.execute(
                "SELECT coalesce(bool_or(fail_closed), FALSE), any_value(reason) FROM consent.run_status WHERE run_id = ?",
                [context.run_id],
            ).fetchall()[0]
            if failed[0]:
                context.log.warning(f"consent failed closed ({failed[1]}): the published exports stay as they were")
                return dg.MaterializeResult(metadata={"published": False, "reason": failed[1]})
            results = publish.build_exports(con, warehouse.exports_dir, context.run_id)
        return dg.MaterializeResult(
            metadata={"published": True, **{f"rows.{r.department}": r.rows for r in results}}
        )

    return _exports


