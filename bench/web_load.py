"""Lookups under load: N concurrent logged-in caseworkers each opening the search page and looking a citizen up
(POST /soeg by CPR, the redirect, the overview page), against an N-citizen warehouse on loopback.

    .venv/bin/python bench/web_load.py --citizens 1000000 [--users 50] [--lookups 20] [--think 2.0] [--workers 2]

Generates the municipality and runs the nightly job once (kept in --workdir), adds the users, starts
`samlet-overblik serve` with --workers processes on 127.0.0.1 and drives it with one asyncio client per user
(httpx). Every user logs in (all at once, timed apart), then each repeats: search page, lookup, overview page, a pause of --think seconds on average
(exponential; 0 = back to back, the server's capacity). Prints p50/p95/max of a lookup round (search page +
lookup + overview), lookups per second, errors, and the baseline measured in the same run: the bare DuckDB query of
the same citizen's rows in the export (open, query, close) — the part of a lookup no server can avoid.
"""

from __future__ import annotations

import argparse
import asyncio
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

PASSWORD = "bench-password-1"
PURPOSE = "Opfølgning på indsats"


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def prepare(citizens: int, seed: int, workdir: Path, users: int) -> tuple[Path, Path, list[str]]:
    from samlet_overblik.access.users import add_user
    from samlet_overblik.core.settings import load_settings
    from samlet_overblik.runner import run_job
    from samlet_overblik.synthetic import generate

    sources, warehouse = workdir / f"sources-{citizens}", workdir / f"wh-{citizens}" / "samlet_overblik.duckdb"
    if not warehouse.is_file():
        t = time.perf_counter()
        generate(citizens, seed, sources)
        print(f"generated {citizens:,} citizens in {time.perf_counter() - t:.1f} s", flush=True)
        t = time.perf_counter()
        outcome = run_job(load_settings(None, sources_dir=sources, warehouse=warehouse, env={}), "nightly")
        assert outcome.success, outcome.failure
        print(f"nightly run in {time.perf_counter() - t:.1f} s", flush=True)
    users_file = warehouse.parent / "users.yaml"
    for i in range(users):
        add_user(users_file, f"bench{i}", f"Bench {i}", "sagsbehandler", "beskaeftigelse", PASSWORD)
    export = warehouse.parent / "exports" / "beskaeftigelse.duckdb"
    with duckdb.connect(str(export), read_only=True) as con:
        cprs = [r[0] for r in con.execute("SELECT DISTINCT cpr FROM citizen_overview WHERE cpr IS NOT NULL").fetchall()]
    print(f"warehouse {warehouse.stat().st_size / 1e6:.0f} MB, export {export.stat().st_size / 1e6:.0f} MB, "
          f"{len(cprs):,} citizens visible to beskaeftigelse", flush=True)
    return warehouse, users_file, cprs


async def one_user(base: str, i: int, sample: list[str], think: float, logged_in: asyncio.Barrier,
                   logins: list[float], rounds: list[float], errors: list[str], ends: list[float], done: list[float]):
    rng = random.Random(i)
    # The session cookie is Secure; httpx only returns it over https, so it is carried by hand on loopback.
    # Idle connections are dropped before the server's keep-alive timeout (5 s) would close them under a request.
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=httpx.Limits(keepalive_expiry=4)) as c:
        t = time.perf_counter()
        r = await c.get("/login")
        jar = {"cookie": r.headers["set-cookie"].split(";")[0]}
        token = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
        r = await c.post("/login", data={"csrf": token, "brugernavn": f"bench{i}", "adgangskode": PASSWORD},
                         headers=jar)
        logins.append((time.perf_counter() - t) * 1000)
        # Every user logs in first (each login hashes a password on purpose, about 0.1 s of CPU): lookups are
        # measured once all are in, not behind a storm of 50 logins at the same second.
        await logged_in.wait()
        if r.status_code != 303:
            errors.append(f"login {r.status_code}")
            return
        jar = {"cookie": r.headers["set-cookie"].split(";")[0]}
        await asyncio.sleep(rng.random() * max(think, 0.05))  # users do not all start at the same instant
        for cpr in sample:
            t = time.perf_counter()
            try:
                page = await c.get("/soeg", headers=jar)
                token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
                r = await c.post("/soeg", data={"csrf": token, "soegning": cpr, "formaal": PURPOSE}, headers=jar)
                if r.status_code != 303:
                    errors.append(f"lookup {r.status_code}")
                    continue
                shown = await c.get(r.headers["location"], headers=jar)
            except httpx.TransportError as exc:
                errors.append(type(exc).__name__)
                continue
            rounds.append((time.perf_counter() - t) * 1000)
            ends.append(time.perf_counter())
            if shown.status_code != 200 or "tidslinje" not in shown.text:
                errors.append(f"overview {shown.status_code}")
            if think:
                await asyncio.sleep(rng.expovariate(1 / think))
        done.append(time.perf_counter())


async def drive(base: str, users: int, samples: list[list[str]], think: float):
    logins: list[float] = []
    rounds: list[float] = []
    errors: list[str] = []
    ends: list[float] = []
    done: list[float] = []
    logged_in = asyncio.Barrier(users + 1)
    tasks = [asyncio.create_task(one_user(base, i, samples[i], think, logged_in, logins, rounds, errors, ends, done))
             for i in range(users)]
    await logged_in.wait()
    t = time.perf_counter()
    await asyncio.gather(*tasks)
    # The rate while every user was at it (until the first one finished): afterwards fewer users send lookups.
    first_done = min(done, default=time.perf_counter())
    rate = sum(1 for e in ends if e <= first_done) / max(first_done - t, 1e-9)
    return logins, rounds, errors, rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--citizens", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--lookups", type=int, default=20, help="lookups per user")
    ap.add_argument("--think", type=float, default=2.0, help="mean seconds between a user's lookups (0: none)")
    ap.add_argument("--workers", type=int, default=2, help="serve processes")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/samlet-bench-web"))
    ap.add_argument("--server-log", type=Path, help="keep the server's log (one line per request, with its time)")
    args = ap.parse_args()

    warehouse, users_file, cprs = prepare(args.citizens, args.seed, args.workdir, args.users)
    rnd = random.Random(1)
    samples = [[rnd.choice(cprs) for _ in range(args.lookups)] for _ in range(args.users)]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    audit_db = args.workdir / "audit.sqlite"
    audit_db.unlink(missing_ok=True)
    env = {**os.environ, "SAMLET_WAREHOUSE": str(warehouse), "SAMLET_USERS_FILE": str(users_file),
           "SAMLET_SESSION_SECRET": "bench-" + "s" * 40, "SAMLET_AUDIT_URL": f"sqlite:///{audit_db}"}

    def restore():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    proc = subprocess.Popen([sys.executable, "-m", "samlet_overblik.cli", "serve", "--port", str(port), "--workers",
                             str(args.workers)], env=env, stdout=subprocess.DEVNULL,
                            stderr=open(args.server_log, "w") if args.server_log else subprocess.DEVNULL,
                            preexec_fn=restore)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(base + "/login", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        asyncio.run(drive(base, 1, [samples[0][:5]], 0))  # warm-up: every worker's first files and templates
        logins, rounds, errors, rate = asyncio.run(drive(base, args.users, samples, args.think))
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    export = warehouse.parent / "exports" / "beskaeftigelse.duckdb"
    base_t = []
    for cpr in samples[0]:
        t = time.perf_counter()
        with duckdb.connect(str(export), read_only=True) as con:
            con.execute("SELECT * FROM interventions WHERE cpr = ?", [cpr]).fetchall()
        base_t.append((time.perf_counter() - t) * 1000)
    p50, p95 = statistics.median(rounds), pct(rounds, 95)
    b50 = statistics.median(base_t)
    print(f"{args.users} users x {args.lookups} lookups, think {args.think:g} s, {args.workers} worker(s), "
          f"{args.citizens:,} citizens: p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {max(rounds):.0f} ms, "
          f"{rate:.1f} lookups/s (while all users were at it), {len(errors)} errors {sorted(set(errors))[:5]}")
    print(f"logins ({args.users} at once, before the lookups): p50 {statistics.median(logins):.0f} ms, "
          f"max {max(logins):.0f} ms")
    print(f"baseline bare DuckDB (open export, select the citizen's rows, close): p50 {b50:.1f} ms; "
          f"ratio lookup round / baseline: p50 {p50 / b50:.1f}x, p95 {p95 / b50:.1f}x")


if __name__ == "__main__":
    main()
