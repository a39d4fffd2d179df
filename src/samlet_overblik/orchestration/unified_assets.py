"""Asset factories of the unified layer (group "unified") and the analytics export.

Thin wrappers over ``samlet_overblik.unified`` and ``samlet_overblik.analytics``: open the run's building
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

from .assets import OWNERS, value_free_errors, warehouse_asset
from .resources import RunSettings, WarehouseResource

UNIFIED_INTERVENTIONS = dg.AssetKey(["unified", "interventions"])
CITIZEN_OVERVIEW = dg.AssetKey(["unified", "citizen_overview"])
FAMILY_OVERVIEW = dg.AssetKey(["unified", "family_overview"])
COORDINATION_SIGNALS = dg.AssetKey(["unified", "coordination_signals"])
PUBLISHED_ANALYTICS = dg.AssetKey(["published", "analytics"])

UNIFIED_KEYS = (UNIFIED_INTERVENTIONS, CITIZEN_OVERVIEW, FAMILY_OVERVIEW, COORDINATION_SIGNALS)


def _counts(counts: dict[str, int]) -> dict:
    return {k: int(v) for k, v in counts.items()}


def interventions_asset(deps: list[dg.AssetKey]) -> dg.AssetsDefinition:
    from .. import unified

    def compute(con, _context, run_settings) -> dict:
        thresholds = unified.load_thresholds()
        n = unified.build_interventions(con, run_settings.reference().date(), thresholds)
        by_status = dict(con.execute("SELECT status, count(*) FROM unified.interventions GROUP BY 1").fetchall())
        stale = con.execute("SELECT count(*) FROM unified.interventions WHERE data_status = 'stale'").fetchall()[0][0]
        return {"rows": n, **{f"status.{k}": v for k, v in by_status.items()}, "stale_rows": stale,
                "min_departments": thresholds.min_departments, "min_services": thresholds.min_services,
                "min_annual_cost_dkk": thresholds.min_annual_cost_dkk}

    return warehouse_asset(
        UNIFIED_INTERVENTIONS, deps, "unified",
        "Every staged intervention, benefit, service and contact with its person key, status at the reference "
        "date, caseworker, monthly cost and source freshness (unified.interventions; assets/unified/interventions.sql).",
        compute,
    )


def citizen_overview_asset() -> dg.AssetsDefinition:
    from .. import unified

    def compute(con, _context, _settings) -> dict:
        counts = unified.build_citizen_overview(con)
        flags = con.execute(
            "SELECT count(*) FILTER (flag_departments), count(*) FILTER (flag_services), count(*) FILTER (flag_cost), "
            "count(*) FILTER (complex_case) FROM unified.citizen_overview"
        ).fetchall()[0]
        return {**_counts(counts), "flag_departments": flags[0], "flag_services": flags[1], "flag_cost": flags[2],
                "complex_cases": flags[3]}

    return warehouse_asset(
        CITIZEN_OVERVIEW, [UNIFIED_INTERVENTIONS], "unified",
        "One row per citizen: departments, active interventions, 12-month cost, coordinating caseworker and "
        "Høje-Taastrup's flags explained in Danish (unified.citizen_overview; thresholds in pipelines/job.yaml).",
        compute,
    )


def family_overview_asset() -> dg.AssetsDefinition:
    from .. import unified

    def compute(con, _context, _settings) -> dict:
        counts = unified.build_family_overview(con)
        both = con.execute("SELECT count(*) FROM unified.family_overview WHERE child_case_and_adult_benefits").fetchall()[0][0]
        return {**_counts(counts), "child_case_and_adult_benefits": both}

    return warehouse_asset(
        FAMILY_OVERVIEW, [CITIZEN_OVERVIEW], "unified",
        "Families from the person register's parent and custody relations: children's measures beside the "
        "adults' benefits and social services (unified.family_overview, per member unified.family_members).",
        compute,
    )


def coordination_signals_asset() -> dg.AssetsDefinition:
    from .. import unified

    def compute(con, _context, _settings) -> dict:
        counts = unified.build_coordination_signals(con)
        for rule in unified.load_signal_rules():
            counts.setdefault(f"signals.{rule.id}", 0)
        return _counts(counts)

    return warehouse_asset(
        COORDINATION_SIGNALS, [UNIFIED_INTERVENTIONS], "unified",
        "Coordination signals, one SQL rule per file in assets/signals/ (found by convention) "
        "→ unified.coordination_signals, unified.signal_rules and a view unified.signal_<id> per rule.",
        compute,
    )


def analytics_asset() -> dg.AssetsDefinition:
    from .. import analytics

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
        started = time.perf_counter()
        demo = bool(getattr(run_settings, "analytics_demo", False))
        try:
            key = analytics.analytics_key(demo=demo)
            microdata = analytics.microdata_enabled()
        except analytics.AnalyticsNotPublished as exc:
            context.log.warning(str(exc))
            reason = "no_analytics_key" if isinstance(exc, analytics.AnalyticsKeyMissing) else "invalid_setting"
            return dg.MaterializeResult(metadata={"published": False, "reason": reason})
        with value_free_errors(PUBLISHED_ANALYTICS), warehouse.connect(context.run_id) as con:
            result = analytics.build_analytics(con, warehouse.building_exports(context.run_id), context.run_id, key,
                                                microdata=microdata)
        # counts only: how many cells were withheld, never which
        return dg.MaterializeResult(
            metadata={"published": True, "ephemeral_key": demo and not analytics.os.environ.get(analytics.KEY_ENV),
                      "microdata": result.microdata,
                      "suppressed_cells": result.suppressed_cells,
                      "suppressed.primary": result.suppressed_primary,
                      "suppressed.secondary": result.suppressed_secondary,
                      **{f"rows.{k}": v for k, v in result.tables.items()},
                      "duration_s": round(time.perf_counter() - started, 3)}
        )

    return _analytics


def unified_assets(deps: list[dg.AssetKey]) -> list[dg.AssetsDefinition]:
    """The unified layer and the analytics export; ``deps`` are what unified/interventions waits for
    (every staging asset and identity/person_links)."""
    return [
        interventions_asset(deps),
        citizen_overview_asset(),
        family_overview_asset(),
        coordination_signals_asset(),
        analytics_asset(),
    ]
