"""Jobs, schedules and the failure hook that drops a failed run's building copy."""

from __future__ import annotations

import dagster as dg

from samlet_overblik.core import warehouse as wh
from samlet_overblik.defs.resources import serving
from samlet_overblik.quality import openlineage
from samlet_overblik.sources.specs import load_job_settings


@dg.failure_hook(required_resource_keys={"warehouse"})
def abandon_build_on_failure(context: dg.HookContext) -> None:
    """A failed run never publishes: drop its building copies (one per municipality of the run) so the published
    files stay as they were."""
    warehouse = context.resources.warehouse
    run = context.instance.get_run_by_id(context.run_id)
    job = openlineage.job_name(context.job_name, run.tags if run else {})
    for tenant in warehouse.tenants:
        with serving(tenant):
            warehouse.let_go(context.run_id)
            wh.abandon(warehouse.published, context.run_id)
        # The step's name only: an exception's text may quote a row.
        openlineage.failed(context.run_id, job, tenant, f"step {context.step_key} failed")


def nightly_job() -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        "nightly",
        selection=dg.AssetSelection.all(),
        description="Ingest every source, stage, reconcile identities, apply consent, build the unified view and publish.",
        executor_def=dg.in_process_executor,
        hooks={abandon_build_on_failure},
    )


def consent_refresh_job() -> dg.UnresolvedAssetJobDefinition:
    """Consent state -> grants -> exports, re-reading only the consent registry (no departmental system)."""
    from samlet_overblik.sources.specs import consent_registry
    from samlet_overblik.defs.assets import ACCESS_GRANTS, CONSENT_STATE, raw_key
    from samlet_overblik.defs.publish_assets import PUBLISHED_EXPORTS, PUBLISHED_WAREHOUSE

    return dg.define_asset_job(
        "consent_refresh",
        # The registry's raw copy and its staging children, then the consent layer and publishing.
        selection=dg.AssetSelection.assets(raw_key(consent_registry().name)).downstream(depth=1)
        | dg.AssetSelection.assets(CONSENT_STATE, ACCESS_GRANTS, PUBLISHED_EXPORTS, PUBLISHED_WAREHOUSE),
        description="Apply consent changes fast: re-read the consent registry, recompute grants, republish the exports.",
        executor_def=dg.in_process_executor,
        hooks={abandon_build_on_failure},
    )


def nightly_schedule(job, tenants: tuple[str, ...] = (), per_run: int = 1) -> dg.ScheduleDefinition:
    """The nightly at 02:00 Copenhagen time; with tenants, a run per tenant, or per group of ``per_run`` tenants in
    the partitions' order (a run of a range of partitions, as a backfill's), the run queue's limits applying."""
    cfg = load_job_settings()["nightly"]
    if not tenants:
        return dg.ScheduleDefinition(
            name="nightly_schedule",
            job=job,
            cron_schedule=cfg["cron"],
            execution_timezone=cfg["timezone"],
            description="The nightly run at 02:00 Copenhagen time.",
        )

    from samlet_overblik.defs.resources import RANGE_END_TAG, RANGE_START_TAG

    groups = [tenants[i:i + per_run] for i in range(0, len(tenants), per_run)]
    each = f"one run per {per_run} municipalities" if per_run > 1 else "one run per municipality"

    @dg.schedule(name="nightly_schedule", job=job, cron_schedule=cfg["cron"], execution_timezone=cfg["timezone"],
                 description=f"The nightly run at 02:00 Copenhagen time, {each}.")
    def _nightly(context: dg.ScheduleEvaluationContext):
        night = context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else "now"
        return [dg.RunRequest(run_key=f"nightly-{group[0]}-{night}", partition_key=group[0]) if len(group) == 1 else
                dg.RunRequest(run_key=f"nightly-{group[0]}-{group[-1]}-{night}",
                              tags={RANGE_START_TAG: group[0], RANGE_END_TAG: group[-1]})
                for group in groups]

    return _nightly
