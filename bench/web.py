"""p50/p95 latency of the citizen overview page (POST /soeg by CPR, logged) on loopback, for an N-citizen warehouse.

    .venv/bin/python bench/web.py --citizens 100000 [--requests 300] [--workdir /tmp/samlet-bench]

Generates the municipality, runs the nightly job, adds a caseworker, starts `samlet-overblik serve` on 127.0.0.1
and times sequential requests over keep-alive HTTP (httpx) for random citizens the job centre can see.
Baseline in the same run: the bare DuckDB query of the same citizen's rows in the export (open, query, close).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--citizens", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/samlet-bench-web"))
    args = ap.parse_args()

    from samlet_overblik.synthetic import generate
    from samlet_overblik.runner import run_job
    from samlet_overblik.core.settings import load_settings
    from samlet_overblik.access.users import add_user

    sources, warehouse = args.workdir / f"sources-{args.citizens}", args.workdir / f"wh-{args.citizens}" / "samlet_overblik.duckdb"
    if not warehouse.is_file():
        t = time.perf_counter()
        generate(args.citizens, args.seed, sources)
        print(f"generated {args.citizens:,} citizens in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        outcome = run_job(load_settings(None, sources_dir=sources, warehouse=warehouse, env={}), "nightly")
        assert outcome.success, outcome.failure
        print(f"nightly run in {time.perf_counter() - t:.1f} s")
    users = warehouse.parent / "users.yaml"
    add_user(users, "bench", "Bench Caseworker", "sagsbehandler", "beskaeftigelse", "bench-password")
    export = warehouse.parent / "exports" / "beskaeftigelse.duckdb"
    with duckdb.connect(str(export), read_only=True) as con:
        cprs = [r[0] for r in con.execute("SELECT DISTINCT cpr FROM citizen_overview WHERE cpr IS NOT NULL").fetchall()]
    random.seed(1)
    sample = [random.choice(cprs) for _ in range(args.requests)]
    print(f"warehouse {warehouse.stat().st_size / 1e6:.0f} MB, export {export.stat().st_size / 1e6:.0f} MB, "
          f"{len(cprs):,} citizens visible to beskaeftigelse")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SAMLET_WAREHOUSE": str(warehouse), "SAMLET_USERS_FILE": str(users),
           "SAMLET_SESSION_SECRET": "bench-" + "s" * 40, "SAMLET_AUDIT_URL": f"sqlite:///{args.workdir / 'audit.sqlite'}"}

    def restore():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    proc = subprocess.Popen([sys.executable, "-m", "samlet_overblik.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=restore)
    try:
        base = f"http://localhost:{port}"
        with httpx.Client(base_url=base, timeout=30) as c:
            for _ in range(100):
                try:
                    c.get("/login")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            # The session cookie is Secure; httpx only returns it over https, so carry it by hand on loopback.
            token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
            cookie = c.get("/login").headers.get("set-cookie")
            jar = {"cookie": cookie.split(";")[0]} if cookie else {}
            r = c.get("/login", headers=jar)
            token = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
            r = c.post("/login", data={"csrf": token, "brugernavn": "bench", "adgangskode": "bench-password"}, headers=jar)
            jar = {"cookie": r.headers["set-cookie"].split(";")[0]}
            token = re.search(r'name="csrf" value="([^"]+)"', c.get("/soeg", headers=jar).text).group(1)
            for cpr in sample[:10]:  # warm-up
                c.post("/soeg", data={"csrf": token, "soegning": cpr, "formaal": "Opfølgning på indsats"}, headers=jar)
            times = []
            for cpr in sample:
                t = time.perf_counter()
                r = c.post("/soeg", data={"csrf": token, "soegning": cpr, "formaal": "Opfølgning på indsats"}, headers=jar)
                times.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200 and "tidslinje" in r.text, r.status_code
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    base_t = []
    for cpr in sample:
        t = time.perf_counter()
        with duckdb.connect(str(export), read_only=True) as con:
            con.execute("SELECT * FROM interventions WHERE cpr = ?", [cpr]).fetchall()
        base_t.append((time.perf_counter() - t) * 1000)
    p50, p95 = statistics.median(times), pct(times, 95)
    b50, b95 = statistics.median(base_t), pct(base_t, 95)
    print(f"overview page (POST /soeg by CPR, {len(times)} sequential requests, {args.citizens:,} citizens): "
          f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(times):.1f} ms")
    print(f"baseline bare DuckDB (open export, select the citizen's rows, close): p50 {b50:.1f} ms, p95 {b95:.1f} ms")
    print(f"ratio page/baseline: p50 {p50 / b50:.1f}x, p95 {p95 / b95:.1f}x")


if __name__ == "__main__":
    main()
