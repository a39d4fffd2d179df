"""Benchmark of the unified layer: interventions, citizen/family overviews, signals, department exports, analytics.

    .venv/bin/python bench/unified.py --citizens 100000          # generate, run the nightly, then measure
    .venv/bin/python bench/unified.py --warehouse PATH           # measure on a copy of a published warehouse

Prints the time of each step, the process's peak memory, and the ratio of our unified layer (interventions +
citizen overview) against a bare DuckDB query computing the same overview joins and aggregates in the same run,
plus the p50/p95 latency of a citizen-overview lookup by CPR in a department export (ART index).
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

from samlet_overblik.unified import analytics, exports as publish, view as unified
from samlet_overblik.sources.specs import departments
from samlet_overblik.core.warehouse import apply_ddl

BASELINE = """
CREATE OR REPLACE TEMP TABLE bare_overview AS
WITH r AS (
    SELECT l.person_key, i.department, i.kind, i.monthly_cost, i.caseworker,
           (i.start_date <= $ref AND (i.end_date IS NULL OR i.end_date >= $ref)) AS active,
           greatest(0, date_diff('day', greatest(i.start_date, $ref - INTERVAL 364 DAY)::DATE,
                                 least(coalesce(i.end_date, $ref), $ref)) + 1) AS days
    FROM staging.interventions i
    JOIN identity.person_links l ON l.source = i.source AND l."table" = i.person_table AND l.record_id = i.person_record_id
),
p AS (
    SELECT person_key, count(DISTINCT department) FILTER (active) AS n_departments,
           count(*) FILTER (active) AS active_interventions,
           count(*) FILTER (active AND (kind IN ('indsats', 'ydelse') OR monthly_cost IS NOT NULL)) AS active_services,
           coalesce(sum(monthly_cost * 12 * days / 365.0), 0) AS annual_cost,
           count(DISTINCT caseworker) FILTER (active) AS n_caseworkers
    FROM r GROUP BY person_key
),
c AS (
    SELECT l.person_key, arg_max(c.coordinator, c.created_date) AS coordinator
    FROM staging.coordination_plans c
    JOIN identity.person_links l ON l.source = c.source AND l."table" = c.person_table AND l.record_id = c.person_record_id
    GROUP BY 1
)
SELECT p.*, c.coordinator, n_departments >= 2 AS f1, active_services >= 3 AS f2, annual_cost >= 150000 AS f3
FROM p LEFT JOIN c USING (person_key)
"""


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, fn, results: dict):
    t = time.perf_counter()
    out = fn()
    results[label] = time.perf_counter() - t
    print(f"  {label:<28} {results[label]:8.2f} s   (peak RSS {peak_mb():,.0f} MB)", flush=True)
    return out


def prepare(args, work: Path) -> Path:
    if args.warehouse:
        return Path(args.warehouse)
    from samlet_overblik.synthetic import generate
    from samlet_overblik.runner import run_job
    from samlet_overblik.core.settings import load_settings

    src = work / "sources"
    t = time.perf_counter()
    generate(args.citizens, args.seed, src, as_of=date(2026, 11, 1))
    print(f"generated {args.citizens:,} citizens in {time.perf_counter() - t:.1f} s", flush=True)
    wh = work / "wh" / "samlet_overblik.duckdb"
    t = time.perf_counter()
    outcome = run_job(load_settings(None, sources_dir=src, warehouse=wh, env={}), "nightly")
    if not outcome.success:
        sys.exit(f"nightly run failed: {outcome.failure}")
    print(f"nightly run in {time.perf_counter() - t:.1f} s", flush=True)
    return wh


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--citizens", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--warehouse", help="a published warehouse to measure on (a copy is used)")
    p.add_argument("--lookups", type=int, default=2000)
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-unified-") as tmp:
        work = Path(tmp)
        published = prepare(args, work)
        copy = work / "copy.duckdb"
        shutil.copyfile(published, copy)
        exports = work / "exports"
        r: dict[str, float] = {}
        with duckdb.connect(str(copy)) as con:
            apply_ddl(con)
            ref = unified.default_reference(con)
            n_people = con.execute("SELECT count(*) FROM identity.person_keys WHERE merged_into IS NULL").fetchall()[0][0]
            n_iv = con.execute("SELECT count(*) FROM staging.interventions").fetchall()[0][0]
            print(f"warehouse: {n_people:,} person keys, {n_iv:,} staged records, reference date {ref}")
            # bare DuckDB first and last, to see warm-cache effects in both directions
            timed("bare DuckDB overview (1)", lambda: con.execute(BASELINE, {"ref": ref}).fetchall(), r)
            timed("unified.interventions", lambda: unified.build_interventions(con, ref), r)
            timed("unified.citizen_overview", lambda: unified.build_citizen_overview(con), r)
            timed("unified.family_overview", lambda: unified.build_family_overview(con), r)
            timed("unified.coordination_signals", lambda: unified.build_coordination_signals(con), r)
            timed("department exports (4)", lambda: publish.build_exports(con, exports, "bench"), r)
            timed("analytics export", lambda: analytics.build_analytics(con, exports, "bench", b"bench-secret-123456"), r)
            timed("bare DuckDB overview (2)", lambda: con.execute(BASELINE, {"ref": ref}).fetchall(), r)
            counts = con.execute(
                "SELECT (SELECT count(*) FROM unified.citizen_overview), (SELECT count(*) FROM bare_overview), "
                "(SELECT count(*) FROM unified.coordination_signals), (SELECT count(*) FROM unified.family_overview)"
            ).fetchall()[0]
        bare = min(r["bare DuckDB overview (1)"], r["bare DuckDB overview (2)"])
        ours_overview = r["unified.interventions"] + r["unified.citizen_overview"]
        layer = sum(r[k] for k in ("unified.interventions", "unified.citizen_overview", "unified.family_overview",
                                   "unified.coordination_signals"))
        print(f"rows: citizen_overview {counts[0]:,} (bare {counts[1]:,}), signals {counts[2]:,}, families {counts[3]:,}")
        print(f"unified layer total {layer:.2f} s; with exports and analytics {layer + r['department exports (4)'] + r['analytics export']:.2f} s")
        print(f"ratio interventions+citizen_overview / bare DuckDB overview: {ours_overview / bare:.2f}x "
              f"({ours_overview:.2f} s vs {bare:.2f} s)")
        print(f"ratio whole unified layer / bare DuckDB overview: {layer / bare:.2f}x")

        # Lookup by CPR in the largest department export (a fresh read-only connection, as a caseworker tool would).
        sizes = {d: duckdb.connect(str(exports / f"{d}.duckdb"), read_only=True) for d in departments()}
        dept = max(sizes, key=lambda d: sizes[d].execute("SELECT count(*) FROM citizen_overview").fetchall()[0][0])
        for d, c in sizes.items():
            if d != dept:
                c.close()
        ex = sizes[dept]
        cprs = [row[0] for row in ex.execute("SELECT cpr FROM citizen_overview WHERE cpr IS NOT NULL").fetchall()]
        indexed = ex.execute("SELECT count(*) FROM duckdb_indexes() WHERE index_name = 'citizen_overview_cpr'").fetchall()[0][0]
        rnd = random.Random(1)
        lat = []
        for _ in range(args.lookups):
            cpr = rnd.choice(cprs)
            t = time.perf_counter()
            ex.execute("SELECT * FROM citizen_overview WHERE cpr = ?", [cpr]).fetchall()
            lat.append((time.perf_counter() - t) * 1000)
        ex.close()
        lat.sort()
        p95 = lat[int(0.95 * len(lat)) - 1]
        print(f"lookup by CPR in exports/{dept}.duckdb ({len(cprs):,} citizens, "
              f"{'ART index on cpr' if indexed else 'no index'}): "
              f"p50 {statistics.median(lat):.2f} ms, p95 {p95:.2f} ms over {len(lat)} lookups")
        print(f"peak RSS of the process: {peak_mb():,.0f} MB")


if __name__ == "__main__":
    main()
