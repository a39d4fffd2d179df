"""Benchmark identity reconciliation against a plain Splink baseline, in the same run.

For each size (citizens) it generates the sources (default noise), stages them once with the
nightly job's ingestion and staging SQL, and then — each in a fresh process, so peak memory is its
own — runs

* ``ours``:   ``samlet_overblik.identity.linking.link_person_records`` on a copy of the staged warehouse (a full
  link), then two incremental runs in the same process: nothing changed, and 1 % of the person records changed;
* ``splink``: Splink 5 (DuckDB backend) with default-style settings: dedupe of all person records,
  name/date/postcode/ID comparisons, u by random sampling, m by EM on two blocking rules,
  clusters at match probability 0.999.

Both are scored with the same code (``samlet_overblik.identity.evaluate``) against the ground truth.
Printed: seconds, peak resident memory, pairwise F1 (all / no CPR) and the ratios ours/splink.

    .venv/bin/python bench/identity.py --sizes 10000,100000 [--work DIR] [--skip-splink-above N]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_ours(db: Path, sources: Path) -> dict:
    import duckdb
    import pandas as pd

    from samlet_overblik.core.warehouse import apply_ddl
    from samlet_overblik.identity.evaluate import evaluate_warehouse
    from samlet_overblik.identity.linking import link_person_records

    con = duckdb.connect(str(db))
    apply_ddl(con)  # as every run does: a staged copy kept in --work may predate the current DDL
    started = time.perf_counter()
    link_person_records(con, "bench", datetime.now())
    seconds = time.perf_counter() - started
    peak = _peak_mib()
    result = evaluate_warehouse(con, pd.read_parquet(sources / "ground_truth.parquet"))
    # The next nights: nothing changed, then 1 % of the person records changed (a family name and an address each).
    started = time.perf_counter()
    unchanged = link_person_records(con, "bench-2", datetime.now())
    unchanged_s = time.perf_counter() - started
    # 1 % of all person records, the register's own included (and its register rows with them, as a register
    # change would come).
    con.execute(
        """UPDATE staging.person_records SET family_name = family_name || 'sen', address = 'Nyvej ' || record_id
           WHERE hash(source || record_id) % 100 = 0""")
    con.execute(
        """UPDATE staging.cpr_persons SET family_name = family_name || 'sen', address = 'Nyvej ' || cpr
           WHERE hash('cpr' || cpr) % 100 = 0""")
    started = time.perf_counter()
    changed = link_person_records(con, "bench-3", datetime.now())
    changed_s = time.perf_counter() - started
    con.close()
    return {"seconds": seconds, "peak_mib": peak, "eval": result,
            "incremental": {"unchanged_s": unchanged_s, "unchanged_relinked": unchanged.relinked,
                            "changed_s": changed_s, "changed_relinked": changed.relinked,
                            "records": changed.records, "modes": [unchanged.mode, changed.mode]}}


def worker_splink(db: Path, sources: Path) -> dict:
    import duckdb
    import pandas as pd
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    from samlet_overblik.identity.evaluate import evaluate_warehouse

    con = duckdb.connect(str(db))
    df = con.execute(
        """SELECT row_number() OVER () AS unique_id, source, source_table, record_id, national_id,
                  lower(given_name) AS given_name, lower(family_name) AS family_name,
                  CAST(birth_date AS VARCHAR) AS birth_date, sex, lower(address) AS address, postcode
           FROM staging.person_records"""
    ).df()
    started = time.perf_counter()
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("family_name").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("birth_date", input_is_string=True),
            cl.ExactMatch("sex"),
            cl.LevenshteinAtThresholds("address", 2),
            cl.ExactMatch("postcode"),
            cl.DamerauLevenshteinAtThresholds("national_id", [1, 2]),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("national_id"),
            block_on("birth_date"),
            block_on("family_name", "substr(given_name, 1, 2)"),
            block_on("address", "postcode"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    db_api = DuckDBAPI()
    sdf = db_api.register(df)
    linker = Linker(sdf, settings, log_level=40)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("national_id")], recall=0.9
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_date"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("family_name", "given_name"))
    pred = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, 0.999).as_pandas_dataframe()
    seconds = time.perf_counter() - started
    peak = _peak_mib()
    out = clusters[["source", "source_table", "record_id", "cluster_id"]].copy()
    out["cluster_id"] = out["cluster_id"].astype(str)
    con.register("splink_out", out)
    con.execute("DELETE FROM identity.person_links")
    con.execute(
        """INSERT INTO identity.person_links (source, "table", record_id, person_key, method, score, run_id)
           SELECT source, source_table, record_id, 's' || cluster_id, 'splink', 1.0, 'bench' FROM splink_out"""
    )
    con.execute("DELETE FROM identity.review_queue")
    result = evaluate_warehouse(con, pd.read_parquet(sources / "ground_truth.parquet"))
    con.close()
    return {"seconds": seconds, "peak_mib": peak, "eval": result}


def _prepare(size: int, work: Path, seed: int) -> tuple[Path, Path, dict]:
    import duckdb

    from samlet_overblik.synthetic import generate
    from samlet_overblik.identity.staged import stage_sources

    src = work / f"src_{size}"
    staged = work / f"staged_{size}.duckdb"
    info = {}
    if not (src / "ground_truth.parquet").exists():
        t = time.perf_counter()
        generate(size, seed, src)
        info["generate_s"] = time.perf_counter() - t
    if not staged.exists():
        t = time.perf_counter()
        con = duckdb.connect(str(staged))
        stage_sources(src, con)
        con.close()
        info["stage_s"] = time.perf_counter() - t
    return src, staged, info


def _run_worker(kind: str, staged: Path, src: Path, tmp: Path) -> dict:
    db = tmp / f"{kind}.duckdb"
    shutil.copyfile(staged, db)
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", kind, "--db", str(db), "--sources", str(src)],
        capture_output=True, text=True,
    )
    db.unlink(missing_ok=True)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["failed"]
        return {"error": tail[0][:300]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fmt(kind: str, r: dict) -> str:
    if "error" in r:
        return f"  {kind:<7} error: {r['error']}"
    pw = r["eval"]["pairwise"]
    return (
        f"  {kind:<7} {r['seconds']:>8.1f} s {r['peak_mib']:>8.0f} MiB   F1 all {pw['all']['f1']:.4f}"
        f" (P {pw['all']['precision']:.4f} R {pw['all']['recall']:.4f})   F1 no-CPR {pw['no_cpr']['f1']:.4f}"
        f" (P {pw['no_cpr']['precision']:.4f} R {pw['no_cpr']['recall']:.4f})   F1 wrong-CPR {pw['wrong_cpr']['f1']:.4f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000", help="comma-separated citizen counts (e.g. 10000,100000,1000000)")
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--work", type=Path, default=None, help="where generated sources and staged warehouses are kept")
    ap.add_argument("--skip-splink-above", type=int, default=10**9, help="run the Splink baseline only up to this size")
    ap.add_argument("--worker", choices=["ours", "splink"], help=argparse.SUPPRESS)
    ap.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--sources", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        fn = worker_ours if args.worker == "ours" else worker_splink
        print(json.dumps(fn(args.db, args.sources), default=str))
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="samlet-bench-identity-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"identity benchmark (work dir {work}); time and peak memory of linking only, staging excluded")
    for size in [int(s) for s in args.sizes.split(",")]:
        src, staged, info = _prepare(size, work, args.seed)
        prep = ", ".join(f"{k} {v:.1f} s" for k, v in info.items())
        print(f"{size:,} citizens" + (f" ({prep})" if prep else ""), flush=True)
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            ours = _run_worker("ours", staged, src, Path(tmp))
            print(_fmt("ours", ours), flush=True)
            if "incremental" in ours:
                inc = ours["incremental"]
                print(f"  incremental, nothing changed: {inc['unchanged_s']:.1f} s ({inc['unchanged_relinked']:,} of "
                      f"{inc['records']:,} records linked), {inc['unchanged_s'] / ours['seconds']:.2f}x the full link", flush=True)
                print(f"  incremental, 1 % changed:     {inc['changed_s']:.1f} s ({inc['changed_relinked']:,} records "
                      f"linked), {inc['changed_s'] / ours['seconds']:.2f}x the full link (target <= 0.10x)", flush=True)
            if size <= args.skip_splink_above:
                base = _run_worker("splink", staged, src, Path(tmp))
                print(_fmt("splink", base), flush=True)
                if "error" not in ours and "error" not in base:
                    f_o = ours["eval"]["pairwise"]["all"]["f1"]
                    f_b = base["eval"]["pairwise"]["all"]["f1"]
                    print(
                        f"  ratio ours/splink: time {ours['seconds'] / base['seconds']:.2f}x, "
                        f"memory {ours['peak_mib'] / base['peak_mib']:.2f}x, F1 all {f_o:.4f} vs {f_b:.4f}",
                        flush=True,
                    )
            else:
                print("  splink  skipped at this size (--skip-splink-above)")


if __name__ == "__main__":
    main()
