"""Benchmark: how fast a withdrawal takes effect, and consent_refresh against a full nightly run.

    python bench/consent_refresh.py --citizens 100000 --withdrawals 3

1. Generates a municipality and runs the nightly job (timed: the baseline).
2. Runs consent_refresh once with no change (timed).
3. For each of N citizens with consent-based flows: writes a withdrawal into the registry at a random
   moment of the sensor's cycle, then ticks the real consent sensor every `interval_seconds` (from
   pipelines/job.yaml, as the Dagster daemon does), runs consent_refresh on its run request, and stops the
   clock when no export holds the citizen's cross-department rows any more.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import duckdb
import sqlalchemy as sa

from samlet_overblik import DEPARTMENTS
from samlet_overblik.orchestration.build import build_defs
from samlet_overblik.orchestration.jobs import job_settings
from samlet_overblik.runner import resources_for, run_job
from samlet_overblik.settings import load_settings


def crossing_rows(exports: Path, person_key: str) -> int:
    n = 0
    for d in DEPARTMENTS:
        with duckdb.connect(str(exports / f"{d}.duckdb"), read_only=True) as con:
            n += con.execute("SELECT count(*) FROM interventions WHERE person_key = ? AND source_department <> ?",
                             [person_key, d]).fetchall()[0][0]
    return n


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--citizens", type=int, default=100_000)
    p.add_argument("--withdrawals", type=int, default=3)
    p.add_argument("--seed", type=int, default=2)
    args = p.parse_args()
    interval = int(job_settings()["consent_sensor"]["interval_seconds"])
    from samlet_overblik.generator import generate

    with tempfile.TemporaryDirectory(prefix="bench-consent-") as tmp:
        sources, warehouse = Path(tmp) / "sources", Path(tmp) / "wh" / "samlet_overblik.duckdb"
        generate(args.citizens, args.seed, sources, as_of=date(2026, 11, 1))
        settings = load_settings(None, sources_dir=sources, warehouse=warehouse, env={})
        t = time.perf_counter()
        assert run_job(settings, "nightly").success
        nightly_s = time.perf_counter() - t
        t = time.perf_counter()
        assert run_job(settings, "consent_refresh").success
        refresh_s = time.perf_counter() - t

        defs = build_defs(resource_overrides=resources_for(settings))
        sensor = defs.resolve_sensor_def("consent_registry_sensor")
        sensor_resources = {"source_samtykke": resources_for(settings)["source_samtykke"]}
        with dg.build_sensor_context(resources=sensor_resources) as ctx:
            cursor = sensor.evaluate_tick(ctx).cursor

        with duckdb.connect(str(warehouse), read_only=True) as con:
            candidates = con.execute(
                "SELECT g.person_key, k.cpr FROM unified.access_grants g JOIN identity.person_keys k USING (person_key) "
                "WHERE g.basis LIKE 'samtykke:%' GROUP BY ALL ORDER BY g.person_key LIMIT ?", [args.withdrawals]
            ).fetchall()
        registry = sa.create_engine(f"sqlite:///{sources / 'samtykke.sqlite'}")
        latencies, refreshes = [], []
        rng = random.Random(args.seed)
        for person_key, cpr in candidates:
            # The withdrawal lands at a random point of the sensor's cycle.
            next_tick = time.perf_counter() + rng.uniform(0, interval)
            now = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=1)
            with registry.begin() as conn:
                conn.execute(sa.text("UPDATE samtykke SET tilbagekaldt_tid = :t, opdateret_tid = :t "
                                     "WHERE cpr = :cpr AND tilbagekaldt_tid IS NULL"), {"t": now.isoformat(sep=" "), "cpr": cpr})
            written = time.perf_counter()
            while True:
                time.sleep(max(0.0, next_tick - time.perf_counter()))
                next_tick += interval
                with dg.build_sensor_context(cursor=cursor, resources=sensor_resources) as ctx:
                    result = sensor.evaluate_tick(ctx)
                cursor = result.cursor or cursor
                if result.run_requests:
                    r0 = time.perf_counter()
                    assert run_job(settings, "consent_refresh").success
                    refreshes.append(time.perf_counter() - r0)
                    break
            assert crossing_rows(warehouse.parent / "exports", person_key) == 0
            latencies.append(time.perf_counter() - written)
        registry.dispose()

    print(f"citizens                          {args.citizens:,}")
    print(f"nightly run                       {nightly_s:8.1f} s")
    print(f"consent_refresh (no change)       {refresh_s:8.1f} s   ratio to nightly {refresh_s / nightly_s:.2f}")
    print(f"consent_refresh after withdrawal  median {statistics.median(refreshes):.1f} s")
    print(f"sensor interval                   {interval} s")
    print(f"withdrawal → gone from exports    median {statistics.median(latencies):.1f} s, max {max(latencies):.1f} s "
          f"over {len(latencies)} withdrawals (bound: interval + refresh = {interval + max(refreshes):.1f} s)")


if __name__ == "__main__":
    main()
