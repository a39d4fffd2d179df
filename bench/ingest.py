"""Benchmark: generation, then ingest (source → raw → staging) against a bare copy of the same SQLite files.

    python bench/ingest.py --citizens 100000

Prints generation time, our ingest time and rows/s, peak memory (RSS) of each phase, and the ratio of our
source→staging time to the baseline measured in the same run. The baseline is the barest copy of the
same SQLite tables into DuckDB tables: DuckDB's sqlite_scanner when it can be loaded, else Python's
sqlite3 cursor → Arrow → ``CREATE TABLE AS`` (sqlite_scanner is a downloaded extension, and this machine
has no route to DuckDB's extension repository).
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline_copy(sources: Path, target: Path) -> tuple[float, int, str]:
    started = time.perf_counter()
    rows = 0
    con = duckdb.connect(str(target))
    try:
        con.execute(f"ATTACH '{sources / 'cpr.sqlite'}' AS probe (TYPE sqlite)")
        con.execute("DETACH probe")
        method = "duckdb sqlite_scanner"
        for db in sorted(sources.glob("*.sqlite")):
            con.execute(f"ATTACH '{db}' AS s (TYPE sqlite, READ_ONLY)")
            for (t,) in con.execute("SELECT table_name FROM information_schema.tables WHERE table_catalog = 's'").fetchall():
                con.execute(f"CREATE TABLE {db.stem}__{t} AS SELECT * FROM s.{t}")
                rows += con.execute(f"SELECT count(*) FROM {db.stem}__{t}").fetchall()[0][0]
            con.execute("DETACH s")
    except duckdb.Error:
        method = "sqlite3 cursor → Arrow → CREATE TABLE AS (sqlite_scanner not installable offline)"
        for db in sorted(sources.glob("*.sqlite")):
            src = sqlite3.connect(db)
            for (t,) in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                cur = src.execute(f"SELECT * FROM {t}")
                names = [d[0] for d in cur.description]
                data = cur.fetchall()
                table = pa.table({n: pa.array([r[i] for r in data]) for i, n in enumerate(names)}) if data else None
                if table is not None:
                    con.register("_t", table)
                    con.execute(f"CREATE TABLE {db.stem}__{t} AS SELECT * FROM _t")
                    con.unregister("_t")
                rows += len(data)
            src.close()
    con.close()
    return time.perf_counter() - started, rows, method


def our_ingest(sources: Path, warehouse: Path) -> tuple[float, dict]:
    from samlet_overblik.runner import run_job
    from samlet_overblik.core.settings import load_settings

    # The nightly job also links, applies consent and publishes: the ingest share is read off the step timings
    # (steps run one after another in-process).
    steps: dict[str, float] = {}
    last = [time.perf_counter()]

    def on_step(step: str, kind: str) -> None:
        now = time.perf_counter()
        steps[step] = now - last[0]
        last[0] = now

    started = time.perf_counter()
    outcome = run_job(load_settings(None, sources_dir=sources, warehouse=warehouse, env={}), "nightly", on_step=on_step)
    if not outcome.success:
        sys.exit(f"run failed: {outcome.failure}")
    return time.perf_counter() - started, steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--citizens", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", type=Path, default=None, help="Keep the generated files here (default: a temp folder).")
    args = p.parse_args()
    from samlet_overblik.synthetic import generate

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = args.workdir or Path(tmp)
        sources = work / "sources"
        t0 = time.perf_counter()
        generate(args.citizens, args.seed, sources, as_of=date(2026, 11, 1))
        gen_s = time.perf_counter() - t0
        gen_rss = peak_rss_mb()

        base_s, rows, method = baseline_copy(sources, work / "baseline.duckdb")
        base_rss = peak_rss_mb()

        total_s, steps = our_ingest(sources, work / "wh" / "samlet_overblik.duckdb")
        # Only the asset steps of raw and staging (not the quality checks that run between them).
        from samlet_overblik.sources.specs import load_source_specs
        from samlet_overblik.sources.staging import load_sql_assets

        ingest_steps = {f"raw__{name}" for name in load_source_specs()} | {f"staging__{a.name}" for a in load_sql_assets("staging")}
        ingest_s = sum(v for k, v in steps.items() if k in ingest_steps)
        checks_s = sum(v for k, v in steps.items() if k.endswith("_freshness") or "_ge_" in k)
        run_rss = peak_rss_mb()

    print(f"citizens                 {args.citizens:>12,}")
    print(f"source rows              {rows:>12,}")
    print(f"generation               {gen_s:>10.1f} s   (peak RSS so far {gen_rss:,.0f} MB)")
    print(f"baseline copy            {base_s:>10.1f} s   {rows / base_s:>12,.0f} rows/s   [{method}] (peak RSS so far {base_rss:,.0f} MB)")
    print(f"our source → staging     {ingest_s:>10.1f} s   {rows / ingest_s:>12,.0f} rows/s   (raw + staging + quarantine)")
    print(f"quality checks (GE, freshness) {checks_s:>5.1f} s")
    print(f"whole nightly run        {total_s:>10.1f} s   (incl. identity, consent, exports, publish)")
    print(f"peak RSS (whole process) {run_rss:>10,.0f} MB")
    print(f"ratio ours / baseline    {ingest_s / base_s:>10.2f}x")


if __name__ == "__main__":
    main()
