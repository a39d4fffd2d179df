"""All of Denmark on one installation: every municipality generated at --scale, then the all-tenants nightly through
Dagster's run queue and daemon (a run per municipality, --workers at once), then the same again with nothing changed.

    .venv/bin/python bench/national.py --scale 0.002 [--workers 2] [--workdir /tmp/samlet-bench-national]

Prints generation time, the nightly's wall time, the sum of the municipalities' own run times (as the Dagster
instance recorded them), the fan-out overhead against that sum shared by the workers (the ideal: wall = sum /
workers), the largest process's peak memory, and the steady-state run with nothing changed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.002)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/samlet-bench-national"))
    args = ap.parse_args()

    from samlet_overblik.core.settings import load_settings
    from samlet_overblik.fanout import run_all_tenants
    from samlet_overblik.synthetic.denmark import generate_municipalities

    shutil.rmtree(args.workdir, ignore_errors=True)
    sources, root = args.workdir / "sources", args.workdir / "warehouses"
    os.environ.setdefault("SAMLET_ANALYTICS_KEY", "bench-" + "k" * 40)
    os.environ.pop("DAGSTER_HOME", None)  # a temporary instance with --workers runs at once
    t = time.perf_counter()
    written = generate_municipalities(None, args.scale, args.seed, sources)
    generated = time.perf_counter() - t
    citizens = sum(w["borgere"] for w in written)
    print(f"generated {len(written)} municipalities, {citizens:,} citizens (scale {args.scale:g}) in {generated:.1f} s",
          flush=True)
    settings = load_settings(None, sources_dir=sources, env={})
    settings.warehouse_root = root
    for label in ("nightly", "nothing changed"):
        t = time.perf_counter()
        runs = run_all_tenants(settings, workers=args.workers)
        wall = time.perf_counter() - t
        own = [r.seconds or 0.0 for r in runs]
        failed = [r.code for r in runs if r.status != "SUCCESS"]
        ideal = sum(own) / args.workers
        print(f"{label}: {len(runs)} municipalities, wall {wall:.1f} s; their runs together {sum(own):.1f} s "
              f"(median {statistics.median(own):.1f} s, max {max(own):.1f} s); with {args.workers} workers the "
              f"ideal is {ideal:.1f} s: fan-out overhead {wall / ideal - 1:+.0%}; failed {failed or 'none'}",
              flush=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"largest process's peak memory (the daemon, the runs): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
