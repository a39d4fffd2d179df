"""The whole first nightly run against its floor, in one run of this script.

The floor is what any tool must do at least with the same sources, written with bare DuckDB:

* every table of every source copied ``sqlite3`` -> Arrow -> DuckDB;
* every departmental event joined to its person record (the source's person table, by its key) and to the CPR
  register on a normalised CPR number (digits only, a lost leading zero put back);
* one export file per department with the joined events, an index on ``cpr``;
* no checks, no consent, no identity beyond that join, no history.

Then the real first nightly run (``samlet-overblik run``) on the same sources into a fresh warehouse, and the next
night's run on the same, unchanged sources into the same warehouse. Each runs in a process of its own, so each peak
memory is its own. Printed: seconds and peak resident memory of each, the ratios first run/floor and the ratio
second run/first run.

    .venv/bin/python bench/nightly.py --citizens 1000000 [--work DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _cpr_column(table) -> str | None:
    """The person table's CPR column (the health system calls it ``ssn``)."""
    return next((c for c in table.columns if ("cpr" in c or c == "ssn") and not c.startswith("relateret")), None)


def floor(sources: Path, out: Path) -> dict:
    """The bare-DuckDB floor (runs in its own process; see the module doc)."""
    import sqlite3

    import duckdb
    import pyarrow as pa

    from samlet_overblik.sources.specs import load_source_specs, person_register

    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(out / "floor.duckdb"))
    specs = load_source_specs()
    rows = 0
    for spec in specs.values():
        path = sources / spec.default_file
        if not path.exists():
            continue
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {spec.name}")
        with sqlite3.connect(path) as src:
            for name in spec.tables:
                cur = src.execute(f'SELECT * FROM "{name}"')
                names = [d[0] for d in cur.description]
                data = cur.fetchall()
                arrow = pa.table({n: pa.array([r[i] for r in data]) for i, n in enumerate(names)}) if data else None
                if arrow is None:
                    continue
                con.register("arrow_in", arrow)
                con.execute(f"CREATE TABLE {spec.name}.{name} AS SELECT * FROM arrow_in")
                con.unregister("arrow_in")
                rows += arrow.num_rows
    register = person_register()
    norm = "lpad(regexp_replace(CAST({} AS VARCHAR), '[^0-9]', '', 'g'), 10, '0')"
    con.execute(f"""CREATE TABLE register AS SELECT {norm.format('cpr')} AS cpr, * EXCLUDE (cpr)
                    FROM {register.name}.{register.person_table}""")
    exported = 0
    for spec in specs.values():
        person = spec.person_table
        if spec.role or person is None or not (sources / spec.default_file).exists():
            continue
        key = spec.tables[person].primary_key[0]
        cpr = _cpr_column(spec.tables[person])
        events = [t for t, ts in spec.tables.items() if t != person and key in ts.columns]
        parts = [f"""SELECT '{t}' AS event_table, e.{ts.primary_key[0]}::VARCHAR AS event_id, p.{key}::VARCHAR AS person_id,
                            {norm.format('p.' + cpr)} AS cpr, r.fornavn, r.efternavn, r.foedselsdato
                     FROM {spec.name}.{t} e JOIN {spec.name}.{person} p USING ({key})
                     LEFT JOIN register r ON r.cpr = {norm.format('p.' + cpr)}"""
                 for t, ts in ((t, spec.tables[t]) for t in events)]
        if not parts:
            continue
        target = out / f"{spec.department}.duckdb"
        target.unlink(missing_ok=True)
        con.execute(f"ATTACH '{target}' AS ex")
        con.execute(f"CREATE TABLE ex.events AS {' UNION ALL '.join(parts)}")
        con.execute("CREATE INDEX events_cpr ON ex.events (cpr)")
        exported += con.execute("SELECT count(*) FROM ex.events").fetchall()[0][0]
        con.execute("DETACH ex")
    con.close()
    return {"rows_copied": rows, "events_exported": exported}


def _timed(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd``: its wall time, output and peak resident memory (this process alone, from ``wait4``)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd[:4])} ...: {(stderr.strip().splitlines() or ['?'])[-1][:300]}")
    return {"seconds": seconds, "peak_mib": usage.ru_maxrss / 1024, "stdout": stdout}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--citizens", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--work", type=Path, default=None, help="where the generated sources are kept between runs")
    ap.add_argument("--floor", type=Path, nargs=2, metavar=("SOURCES", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.floor:
        print(json.dumps(floor(*args.floor)))
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="samlet-bench-nightly-"))
    sources = work / f"sources_{args.citizens}"
    if not (sources / "cpr.sqlite").exists():
        from samlet_overblik.synthetic import generate

        t = time.perf_counter()
        generate(args.citizens, args.seed, sources)
        print(f"generated {args.citizens:,} citizens in {time.perf_counter() - t:.1f} s", flush=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        base = _timed([sys.executable, __file__, "--floor", str(sources), str(Path(tmp) / "floor")])
        info = json.loads(base["stdout"].strip().splitlines()[-1])
        print(f"floor (bare DuckDB):   {base['seconds']:7.1f} s  peak {base['peak_mib']:7.0f} MiB  "
              f"({info['rows_copied']:,} source rows copied, {info['events_exported']:,} events exported)", flush=True)
        env = {**os.environ, "SAMLET_ANALYTICS_KEY": os.environ.get("SAMLET_ANALYTICS_KEY", "bench-" + "k" * 40)}
        nightly = [sys.executable, "-m", "samlet_overblik.cli", "run", "--sources", str(sources),
                   "--warehouse", str(Path(tmp) / "wh" / "samlet_overblik.duckdb")]
        real = _timed(nightly, env)
        print(f"first nightly (real):  {real['seconds']:7.1f} s  peak {real['peak_mib']:7.0f} MiB", flush=True)
        print(f"ratio real/floor: time {real['seconds'] / base['seconds']:.2f}x (target <= 3), "
              f"peak memory {real['peak_mib'] / base['peak_mib']:.2f}x; real peak {real['peak_mib'] / 1024:.2f} GiB "
              f"(target <= 3 GB)", flush=True)
        again = _timed(nightly, env)
        print(f"next nightly, no source changed: {again['seconds']:7.1f} s  peak {again['peak_mib']:7.0f} MiB; "
              f"ratio next/first {again['seconds'] / real['seconds']:.2f}x (target <= 0.4)")


if __name__ == "__main__":
    main()
