"""Assemble the Definitions from the specs in ``pipelines/`` and the SQL in ``assets/``.

``build_defs(resource_overrides=...)`` is the seam for tests: real resources, other paths.
"""

from __future__ import annotations

import dagster as dg

from samlet_overblik.consent import state as consent
from samlet_overblik.defs import assets as a
from samlet_overblik.defs import publish_assets as p
from samlet_overblik import changes
from samlet_overblik.sources.specs import load_job_settings, load_source_specs
from samlet_overblik.defs.jobs import abandon_build_on_failure, consent_refresh_job, nightly_job, nightly_schedule
from samlet_overblik.defs.sensors import consent_registry_sensor
from samlet_overblik.defs.unified_assets import UNIFIED_KEYS, unified_assets
from samlet_overblik.core.settings import load_settings
from samlet_overblik.defs.resources import resources_for


def tenant_partitions(tenants: tuple[str, ...]) -> dg.StaticPartitionsDefinition | None:
    """A partition per tenant (kommunekode); none for one municipality."""
    return dg.StaticPartitionsDefinition(list(tenants)) if tenants else None


def build_defs(resource_overrides: dict | None = None, tenants: tuple[str, ...] | None = None) -> dg.Definitions:
    """``tenants``: the kommunekoder served (default: the settings'); each becomes a partition of every asset.
    The code location's resources and tenants come from ``SAMLET_CONFIG`` and ``SAMLET_*`` variables."""
    settings = load_settings()
    changes.code_version()  # the code these definitions are made of, taken before anything they load is used
    raws, stagings = a.source_assets()
    # Identity reads the person records and the register: it waits for every staging asset.
    identity = a.identity_asset([s.key for s in stagings])
    # The consent state waits for the staging assets that write what it reads (from their SQL headers).
    consent_stagings = [s.key for s in stagings if s.metadata_by_key[s.key]["target"] in consent.READS]
    state = a.consent_state_asset(consent_stagings)
    grants = a.access_grants_asset([state.key, identity.key, *[s.key for s in stagings]])
    unified = unified_assets([identity.key, *[s.key for s in stagings]])
    exports = p.exports_asset([grants.key, *UNIFIED_KEYS])
    # Publishing renames the building copy away: it waits for every asset that reads it.
    published = p.published_warehouse_asset(
        [s.key for s in stagings] + [identity.key, grants.key, exports.key, *[u.key for u in unified]]
    )
    all_assets = [*raws, *stagings, identity, state, grants, *unified, exports, published]
    if tenants is None:
        tenants = settings.tenants
    partitions = tenant_partitions(tenants)
    if partitions is not None:  # one policy at the root: every asset is partitioned by tenant, none decides it
        all_assets = list(dg.map_asset_specs(lambda spec: spec.replace_attributes(partitions_def=partitions),
                                             all_assets))
        # A backfill of many municipalities runs up to tenants_per_run of them in one run (each step works through
        # them one by one); a run of a backfill is a run of Dagster's asset job, so it gets the failure hook here
        # (the jobs have it too: it is idempotent).
        policy = dg.BackfillPolicy.multi_run(settings.tenants_per_run)
        all_assets = [a.with_attributes(backfill_policy=policy, hook_defs={abandon_build_on_failure})
                      for a in all_assets]
    checks = a.quality_checks(stagings)
    freshness = load_job_settings().get("freshness_hours", {})
    specs = load_source_specs()  # every name in freshness_hours is a source (load_job_settings checks)
    checks += [a.freshness_check(specs[name], float(hours)) for name, hours in freshness.items()]
    checks.append(p.run_status_check())
    nightly = nightly_job()
    refresh = consent_refresh_job()
    resources = resources_for(settings)
    resources.update(resource_overrides or {})
    return dg.Definitions(
        assets=all_assets,
        asset_checks=checks,
        jobs=[nightly, refresh],
        schedules=[nightly_schedule(nightly, tenants, settings.tenants_per_run)],
        sensors=[consent_registry_sensor(refresh, running=settings.consent_sensor)],
        resources=resources,
        # Every run in one process, step after step (a backfill's runs too): the steps share the run's DuckDB file.
        executor=dg.in_process_executor,
    )
