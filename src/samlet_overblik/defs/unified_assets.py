"""Asset factories of the unified layer (group "unified") and the analytics export.

Thin wrappers over ``samlet_overblik.unified.view`` and ``samlet_overblik.unified.analytics``: open the run's building
copy, call a plain function, report counts (never row data or CPR) as metadata.

    unified/interventions        deps: the ``deps`` given (staging assets + identity/person_links)
    unified/citizen_overview     deps: unified/interventions
    unified/family_overview      deps: unified/citizen_overview   (also fills unified.family_members)
    unified/coordination_signals deps: unified/interventions
    published/analytics          deps: the three above            (exports/analytics.duckdb)

published/exports must depend on citizen_overview, family_overview and coordination_signals (each export
carries that department's copy), and published/warehouse on all five (they read the building copy, which
publishing renames away).
"""


import time

import dagster as dg

from samlet_overblik import changes
from samlet_overblik.unified import view as unified
from samlet_overblik.defs.assets import OWNERS, each_tenant, value_free_errors, warehouse_asset
from samlet_overblik.defs.resources import RunSettings, WarehouseResource

UNIFIED_INTERVENTIONS = dg.AssetKey(["unified", "interventions"])
CITIZEN_OVERVIEW = dg.AssetKey(["unified", "citizen_overview"])
FAMILY_OVERVIEW = dg.AssetKey(["unified", "family_overview"])
COORDINATION_SIGNALS = dg.AssetKey(["unified", "coordination_signals"])
PUBLISHED_ANALYTICS = dg.AssetKey(["published", "analytics"])

UNIFIED_KEYS = (UNIFIED_INTERVENTIONS, CITIZEN_OVERVIEW, FAMILY_OVERVIEW, COORDINATION_SIGNALS)


def _counts(counts: dict[str, int]) -> dict:
    return {k: int(v) for k, v in counts.items()}


def interventions_asset(deps: list[dg.AssetKey]) -> dg.AssetsDefinition:
    def compute(con, _context, run_settings) -> dict:
        thresholds = unified.load_thresholds()
        n = unified.build_interventions(con, run_settings.reference().date(), thresholds)
        return {"rows": n, **unified.interventions_counts(con), "min_departments": thresholds.min_departments,
                "min_services": thresholds.min_services, "min_annual_cost_dkk": thresholds.min_annual_cost_dkk}

    return warehouse_asset(
        UNIFIED_INTERVENTIONS, deps, "unified",
        "Every staged intervention, benefit, service and contact with its person key, status at the reference "
        "date, caseworker, monthly cost and source freshness (unified.interventions; assets/unified/interventions.sql).",
        compute,
    )


def _unified_table(key: dg.AssetKey, after: dg.AssetKey, description: str, build) -> dg.AssetsDefinition:
    """An asset that rebuilds one part of the unified layer with ``build(con)`` (which returns its counts)."""
    return warehouse_asset(key, [after], "unified", description, lambda con, _context, _settings: _counts(build(con)))


# The rest of the unified layer: (asset, the asset it follows, description, the function that builds it).
_TABLES = (
    (CITIZEN_OVERVIEW, UNIFIED_INTERVENTIONS,
     "One row per citizen: departments, active interventions, 12-month cost, coordinating caseworker and "
     "Høje-Taastrup's flags explained in Danish (unified.citizen_overview; thresholds in pipelines/job.yaml).",
     unified.build_citizen_overview),
    (FAMILY_OVERVIEW, CITIZEN_OVERVIEW,
     "Families from the person register's parent and custody relations: children's measures beside the "
     "adults' benefits and social services (unified.family_overview, per member unified.family_members).",
     unified.build_family_overview),
    (COORDINATION_SIGNALS, UNIFIED_INTERVENTIONS,
     "Coordination signals, one SQL rule per file in assets/signals/ (found by convention) "
     "→ unified.coordination_signals, unified.signal_rules and a view unified.signal_<id> per rule.",
     unified.build_coordination_signals),
)


def analytics_asset() -> dg.AssetsDefinition:
    from samlet_overblik.unified import analytics

    @dg.asset(
        key=PUBLISHED_ANALYTICS,
        deps=[CITIZEN_OVERVIEW, FAMILY_OVERVIEW, COORDINATION_SIGNALS],
        group_name="published",
        description="exports/analytics.duckdb for management information: aggregates by department, flag, age band "
        "and district, signals by rule, cost per pathway, each with its totals; every count of citizens is 0 or at "
        "least 5, with secondary suppression so that no suppressed count can be worked out. Per-person rows (keyed "
        "hashes, HMAC-SHA256 with SAMLET_ANALYTICS_KEY) only with SAMLET_ANALYTICS_MICRODATA=1. Not published "
        "without a secret (except in the demo).",
        owners=OWNERS,
        kinds={"duckdb"},
    )
    def _analytics(context: dg.AssetExecutionContext, warehouse: WarehouseResource, run_settings: RunSettings) -> dg.MaterializeResult:
        return each_tenant(context, warehouse, lambda: publish(context, warehouse, run_settings))

    def publish(context: dg.AssetExecutionContext, warehouse: WarehouseResource, run_settings: RunSettings) -> dict:
        started = time.perf_counter()
        demo = bool(getattr(run_settings, "analytics_demo", False))
        with warehouse.connect(context.run_id) as con:  # before the key is used (changes.py)
            changes.record(con, context.run_id, changes.ANALYTICS, changes.analytics_input(warehouse.tenant, demo))
        try:
            key = analytics.analytics_key(demo=demo, tenant=warehouse.tenant)
            microdata = analytics.microdata_enabled()
        except analytics.AnalyticsNotPublished as exc:
            context.log.warning(f"{warehouse.who}{exc}")
            reason = "no_analytics_key" if isinstance(exc, analytics.AnalyticsKeyMissing) else "invalid_setting"
            return {"published": False, "reason": reason}
        with value_free_errors(PUBLISHED_ANALYTICS), warehouse.connect(context.run_id) as con:
            result = analytics.build_analytics(con, warehouse.building_exports(context.run_id), context.run_id, key,
                                                microdata=microdata)
        # counts only: how many cells were withheld, never which
        return {"published": True,
                "ephemeral_key": demo and not analytics.os.environ.get(analytics.key_variable(warehouse.tenant)),
                "microdata": result.microdata,
                "suppressed_cells": result.suppressed_cells,
                "suppressed.primary": result.suppressed_primary,
                "suppressed.secondary": result.suppressed_secondary,
                **{f"rows.{k}": v for k, v in result.tables.items()},
                "duration_s": round(time.perf_counter() - started, 3)}

    return _analytics


def unified_assets(deps: list[dg.AssetKey]) -> list[dg.AssetsDefinition]:
    """The unified layer and the analytics export; ``deps`` are what unified/interventions waits for
    (every staging asset and identity/person_links)."""
    return [interventions_asset(deps), *[_unified_table(*table) for table in _TABLES], analytics_asset()]
