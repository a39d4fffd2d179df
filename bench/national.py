"""All of Denmark on one installation: every municipality generated at --scale, then the all-tenants nightly through
Dagster's run queue and daemon (an asset backfill, --workers runs at once), then the same again with nothing changed;
with --baseline-per-run, both once more with that many municipalities a run (the baseline: 1, a run each), on the
same sources, and the ratios of the two.

    .venv/bin/python bench/national.py --scale 0.002 --tenants-per-run 10 [--baseline-per-run 1] [--workers 2] [--next-day]
        [--sources DIR] [--keep]

Prints generation time, the nightly's wall time, the sum of the runs' own times (as the Dagster instance recorded
them), the fan-out overhead against that sum shared by the workers (the ideal: wall = sum / workers), the largest
process's peak memory, the steady-state run with nothing changed (the same day: every municipality is current, none
is built), the disk the warehouses take, and with --next-day the next day's with no source changed (a new reference date: every municipality is
built again, incrementally).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.002)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tenants-per-run", type=int, default=1,
                    help="municipalities one run may build (the assets' backfill policy)")
    ap.add_argument("--baseline-per-run", type=int, help="measure this setting too (e.g. 1) and print the ratios")
    ap.add_argument("--next-day", action="store_true",
                    help="also the next day's nightly with no source changed (as long as the nightly itself)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/samlet-bench-national"))
    ap.add_argument("--sources", type=Path,
                    help="generate the sources here once and reuse them on later calls (Denmark at scale 1.0 takes "
                         "minutes to generate); default: in --workdir")
    ap.add_argument("--keep", action="store_true",
                    help="keep --workdir afterwards (default: removed; at scale 1.0 it holds tens of GB)")
    args = ap.parse_args()

    from samlet_overblik.core.municipalities import municipalities
    from samlet_overblik.core.settings import load_settings
    from samlet_overblik.core.tenants import tenant_variable
    from samlet_overblik.fanout import UNCHANGED, run_all_tenants, run_seconds
    from samlet_overblik.synthetic.denmark import generate_municipalities

    shutil.rmtree(args.workdir, ignore_errors=True)
    sources = args.sources or args.workdir / "sources"
    for code in municipalities():  # each municipality its own analytics key (the installation's is never used)
        os.environ.setdefault(tenant_variable(code, "analytics_key"), f"bench-{code}-" + "k" * 40)
    os.environ.pop("DAGSTER_HOME", None)  # a temporary instance with --workers runs at once
    if args.sources and (args.sources / "municipalities.csv").exists():
        print(f"sources reused from {args.sources} (generated earlier: check their scale)", flush=True)
    else:
        t = time.perf_counter()
        written = generate_municipalities(None, args.scale, args.seed, sources)
        generated = time.perf_counter() - t
        time.sleep(2)  # a SQLite file's fingerprint is trusted once it has been still a moment (changes.py)
        citizens = sum(w["borgere"] for w in written)
        print(f"generated {len(written)} municipalities, {citizens:,} citizens (scale {args.scale:g}) in "
              f"{generated:.1f} s", flush=True)

    def measure(per_run: int) -> dict[str, float]:
        settings = load_settings(None, sources_dir=sources, env={})
        settings.warehouse_root = args.workdir / f"warehouses-{per_run}"
        settings.tenants_per_run = per_run
        walls = {}
        today = datetime.now(timezone.utc).replace(tzinfo=None)
        # The nightly; again at once with nothing changed (every municipality current: no run); and again the next
        # day with nothing changed in any source (a new reference date: every municipality is built, incrementally).
        passes = [("nightly", today), ("nothing changed", today)]
        if args.next_day:
            passes.append(("next day, no source changed", today + timedelta(days=1)))
        for label, reference in passes:
            settings.reference_time = reference
            t = time.perf_counter()
            runs = run_all_tenants(settings, workers=args.workers)
            wall = walls[label] = time.perf_counter() - t
            own = list(run_seconds(runs).values())
            failed = [r.code for r in runs if not r.published]
            unchanged = sum(r.status == UNCHANGED for r in runs)
            line = f"{per_run} a run, {label}: {len(runs)} municipalities, {unchanged} unchanged, in {len(own)} runs, " \
                   f"wall {wall:.1f} s"
            if own:
                ideal = sum(own) / args.workers
                line += (f"; the runs together {sum(own):.1f} s (median {statistics.median(own):.1f} s, max "
                         f"{max(own):.1f} s); with {args.workers} workers the ideal is {ideal:.1f} s: fan-out overhead "
                         f"{wall / ideal - 1:+.0%}")
            print(f"{line}; failed {failed or 'none'}", flush=True)
        taken = sum(f.stat().st_size for f in settings.warehouse_root.rglob("*") if f.is_file())
        print(f"{per_run} a run: the warehouses, their exports and kept sets take {taken / 2**30:.2f} GiB on disk",
              flush=True)
        return walls

    measured = measure(args.tenants_per_run)
    if args.baseline_per_run is not None:
        baseline = measure(args.baseline_per_run)
        for label, wall in measured.items():
            print(f"{label}: {args.tenants_per_run} a run takes {wall / baseline[label]:.2f}x the wall time of "
                  f"{args.baseline_per_run} a run ({wall:.1f} s against {baseline[label]:.1f} s)")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"largest process's peak memory (the daemon, the runs): {peak:.0f} MiB")
    if not args.keep:
        shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
