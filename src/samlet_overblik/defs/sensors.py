"""The consent sensor: the consent watcher's tick under the Dagster daemon.

Each evaluation runs ``consent.watcher.tick`` — the same logic as ``samlet-overblik watch``: read the registry whole,
judge it at *now* with the run's own rules, write the revocations every lookup honours at once — and requests a
``consent_refresh`` run (through the run queue) when the current exports no longer match the registry: a withdrawal,
a deletion, a narrowed or new version, an expiry (consents expire by date without any change in the registry).
The run key is the digest of that difference, so one change launches one refresh.
"""

from __future__ import annotations

import dagster as dg

from samlet_overblik.sources.specs import consent_registry
from samlet_overblik.core.settings import redact_url
from samlet_overblik.sources.specs import load_job_settings

SENSOR_NAME = "consent_registry_sensor"


def consent_registry_sensor(job, running: bool = True) -> dg.SensorDefinition:
    """``running``: its default status (settings.consent_sensor); an instance keeps an operator's start or stop."""
    from samlet_overblik.consent.policy import load_policy
    from samlet_overblik.consent.watcher import tick

    interval = int(load_job_settings()["consent_sensor"]["interval_seconds"])
    registry = f"source_{consent_registry().name}"

    @dg.sensor(
        name=SENSOR_NAME,
        job=job,
        minimum_interval_seconds=interval,
        default_status=dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED,
        required_resource_keys={registry, "warehouse", "run_settings"},
        description=f"Every {interval} s: hide withdrawn consents from lookups at once and launch consent_refresh "
        "when the exports no longer match the consent registry.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        warehouse, source = context.resources.warehouse, getattr(context.resources, registry)
        # One municipality, or each tenant on its own (its registry, its warehouse, its policy; a run per partition).
        tenants = sorted(warehouse.by_tenant) or [None]
        building = _being_built(context.instance, list(warehouse.by_tenant)) if warehouse.by_tenant else set()
        requests, skipped = [], []
        for tenant in tenants:
            url = source.connection_url(tenant)
            policy = load_policy(context.resources.run_settings.policy(tenant) or None)
            result = tick(warehouse.published_of(tenant), url, policy)
            rev = result.revocations
            who = f"{tenant}: " if tenant else ""
            if rev.reason == "registry_unreachable":
                skipped.append(f"{who}consent registry not reachable at {redact_url(url)}: every consent basis hidden "
                               "from lookups")
            elif result.refresh_needed and tenant in building:
                # A run of a group of municipalities has no partition tag for the queue to hold this one back by;
                # the next tick asks again (the withdrawal is hidden from lookups meanwhile).
                skipped.append(f"{who}a run is building it: the refresh waits for it")
            elif not result.refresh_needed:
                skipped.append(who + (f"all consent bases hidden ({rev.reason})" if rev.all_consents
                                      else "exports match the registry"))
            else:
                requests.append(dg.RunRequest(
                    run_key=f"consent-{tenant + '-' if tenant else ''}{result.digest}", partition_key=tenant,
                    tags={"trigger": SENSOR_NAME, "revoked_bases": str(len(rev.entries)),
                          "new_grants": str(result.granted_not_published)},
                ))
        if not requests:
            return dg.SkipReason("; ".join(skipped))
        return requests

    return _sensor


def _being_built(instance: dg.DagsterInstance, ordered: list[str]) -> set[str]:
    """The municipalities that a queued or running run is for (its partition, or its group's range)."""
    from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES, RunsFilter

    from samlet_overblik.defs.resources import run_tenants

    runs = instance.get_runs(filters=RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED, *IN_PROGRESS_RUN_STATUSES]))
    return {code for run in runs for code in run_tenants(run.tags, ordered)}
