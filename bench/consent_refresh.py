"""Benchmark: how fast a withdrawal takes effect — hidden from lookups, then gone from every export file.

    python bench/consent_refresh.py --citizens 1000000 --withdrawals 10 [--interval 1] [--workdir DIR]

``--workdir`` keeps the generated municipality and warehouse in DIR; a later call with the same DIR reuses them
and skips generating and the nightly run (no baseline ratio then): for repeated measurements of the latencies.

1. Generates a municipality and runs the nightly job (timed: the baseline of the ratios).
2. Runs consent_refresh once with no change (timed; printed as a ratio to the nightly run).
3. Starts the real consent watcher (`samlet-overblik watch --interval S`) as its own process.
4. For each of N citizens with consent-based flows into some department V: withdraws their consents in the
   registry at a random moment of the watcher's cycle (withdrawal time and update stamp set, as a registry
   does), then measures (a) when a caseworker's lookup in V (`borger.citizen_view`, the code behind the web app,
   the JSON API and `samlet-overblik borger`) no longer shows a row with the withdrawn basis, and (b) when no export
   file, read through the documented paths, holds a row with that basis. Measuring must not slow down what it
   measures (a lookup at 1,000,000 citizens costs about 0.3 s of CPU): (a) polls revocations.json, which every lookup
   reads, every 0.05 s and then confirms with a real lookup; (b) polls the set switch every 0.1 s and then counts
   the rows in every export.
Prints medians and p95 of both latencies against the targets (5 s and 60 s).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import sqlalchemy as sa

from samlet_overblik.access import borger
from samlet_overblik.sources.specs import departments
from samlet_overblik.core import warehouse as wh
from samlet_overblik.consent.watcher import load_revocations
from samlet_overblik.runner import run_job
from samlet_overblik.core.settings import load_settings
from samlet_overblik.access.users import User
from samlet_overblik.access.views import CitizenView

PURPOSE = "Opfølgning på indsats"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def export_rows(exports: Path, basis: str) -> int:
    n = 0
    for d in departments():
        with duckdb.connect(str(exports / f"{d}.duckdb"), read_only=True) as con:
            n += con.execute("SELECT count(*) FROM interventions WHERE basis = ?", [basis]).fetchall()[0][0]
    return n


def revoked(warehouse: Path, viewer: str, basis: str) -> bool:
    """What every lookup consults before it shows a row (read per lookup, cached by the file's identity)."""
    rev = load_revocations(warehouse)
    return rev.all_consents or any(e[0] == viewer and e[1] == basis for e in rev.entries)


def shown(stores: borger.Stores, user: User, cpr: str, basis: str) -> bool:
    view = borger.citizen_view(stores, user, cpr=cpr, purpose=PURPOSE, channel="bench")
    return bool(isinstance(view, CitizenView) and any(i.basis == basis for i in view.part.records))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--citizens", type=int, default=100_000)
    p.add_argument("--withdrawals", type=int, default=5)
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--interval", type=float, default=1.0, help="the watcher's interval (seconds)")
    p.add_argument("--workdir", type=Path, help="keep (and on a later call reuse) the municipality and warehouse here")
    args = p.parse_args()
    from samlet_overblik.synthetic import generate

    with tempfile.TemporaryDirectory(prefix="bench-consent-") as scratch:
        tmp = args.workdir or Path(scratch)
        sources, warehouse = tmp / "sources", tmp / "wh" / "samlet_overblik.duckdb"
        os.environ["SAMLET_AUDIT_URL"] = f"sqlite:///{tmp / 'audit.sqlite'}"
        settings = load_settings(None, sources_dir=sources, warehouse=warehouse, env={})
        reused = args.workdir is not None and warehouse.exists()
        generate_s = nightly_s = float("nan")
        if not reused:
            t = time.perf_counter()
            generate(args.citizens, args.seed, sources, as_of=date(2026, 11, 1))
            generate_s = time.perf_counter() - t
            t = time.perf_counter()
            assert run_job(settings, "nightly").success
            nightly_s = time.perf_counter() - t
        t = time.perf_counter()
        assert run_job(settings, "consent_refresh").success
        refresh_s = time.perf_counter() - t

        # Citizens whose records reach another department on a consent, one withdrawal each.
        with duckdb.connect(str(warehouse), read_only=True) as con:
            candidates = con.execute(
                """
                SELECT k.cpr, any_value(g.viewer_department), any_value(g.basis), split_part(any_value(g.basis), '@', 1)
                FROM unified.access_grants g JOIN identity.person_keys k USING (person_key)
                WHERE g.basis LIKE 'samtykke:%' AND k.cpr IS NOT NULL
                GROUP BY k.cpr ORDER BY hash(k.cpr) LIMIT ?
                """, [args.withdrawals]).fetchall()
        watch_log = open(tmp / "watch.log", "w")  # the watcher's own lines: ticks, hidden bases, refreshes started
        watcher = subprocess.Popen(
            [sys.executable, "-m", "samlet_overblik.cli", "watch", "--sources", str(sources), "--warehouse",
             str(warehouse), "--interval", str(args.interval)],
            stdout=watch_log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
        registry = sa.create_engine(f"sqlite:///{sources / 'samtykke.sqlite'}")
        stores = borger.Stores(warehouse)
        hidden, gone = [], []
        rng = random.Random(args.seed)
        try:
            time.sleep(args.interval * 3)  # the watcher's first ticks
            for cpr, viewer, basis, sid in candidates:
                user = User("bench", "Bench", "sagsbehandler", viewer)
                assert shown(stores, user, cpr, basis), "the flow to withdraw is not shown to begin with"
                seen_set = wh.published_set(warehouse).set_id
                time.sleep(rng.uniform(0, args.interval))  # a random point of the watcher's cycle
                stamp = (datetime.now(timezone.utc) - timedelta(seconds=1)).replace(tzinfo=None).isoformat(sep=" ")
                with registry.begin() as conn:
                    conn.execute(sa.text("UPDATE samtykke SET tilbagekaldt_tid = :t, opdateret_tid = :t "
                                         "WHERE samtykke_id = :sid AND tilbagekaldt_tid IS NULL"),
                                 {"t": stamp, "sid": sid.removeprefix("samtykke:")})
                written = time.perf_counter()
                # Measuring must not take the CPU the watcher and the refresh need (a lookup at 1,000,000 citizens
                # costs about 0.3 s of CPU: polling lookups every 0.1 s kept a core busy). Every lookup reads
                # revocations.json: poll that file (cheap), then prove with a real lookup that the row is hidden.
                # The exports change only with a new set: poll the set switch, then count rows in the exports.
                while not revoked(warehouse, viewer, basis) or shown(stores, user, cpr, basis):
                    time.sleep(0.05)
                hidden.append(time.perf_counter() - written)
                while True:
                    current = wh.published_set(warehouse).set_id
                    if current != seen_set:
                        seen_set = current
                        if not export_rows(warehouse.parent / "exports", basis):
                            break
                    time.sleep(0.1)
                gone.append(time.perf_counter() - written)
                print(f"  withdrawal {len(gone)}: hidden after {hidden[-1]:.2f} s, gone from exports after {gone[-1]:.1f} s",
                      flush=True)
        finally:
            os.killpg(watcher.pid, signal.SIGTERM)
            watcher.wait()
            watch_log.close()
            registry.dispose()
        log = (tmp / "watch.log").read_text()
        ticks = [float(t) for t in re.findall(r"tick ([0-9.]+) s", log)]
        refreshes = log.count("starting consent_refresh")

    if reused:
        print(f"municipality and warehouse          reused from {args.workdir} (no nightly baseline this time)")
    else:
        print(f"citizens                            {args.citizens:,} (generated in {generate_s:.1f} s)")
    print(f"nightly run (baseline)              {nightly_s:8.1f} s")
    print(f"consent_refresh (no change)         {refresh_s:8.1f} s   ratio to nightly {refresh_s / nightly_s:.2f}")
    print(f"watcher interval                    {args.interval:g} s; ticks median {statistics.median(ticks):.2f} s, "
          f"p95 {p95(ticks):.2f} s over {len(ticks)}; consent_refresh started {refreshes} times")
    print(f"withdrawal → hidden from lookups    median {statistics.median(hidden):.2f} s, p95 {p95(hidden):.2f} s "
          f"(target ≤ 5 s) over {len(hidden)} withdrawals")
    print(f"withdrawal → gone from every export median {statistics.median(gone):.1f} s, p95 {p95(gone):.1f} s "
          f"(target ≤ 60 s); ratio of p95 to the nightly run {p95(gone) / nightly_s:.2f}")


if __name__ == "__main__":
    main()
