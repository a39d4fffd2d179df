"""Synthetic source systems of one Danish municipality, with ground truth and a noise log.

``generate(citizens, seed, out_dir, ...)`` writes the six sources of ``pipelines/*.yaml``
(``cpr``, ``boern_familie``, ``beskaeftigelse``, ``social_voksen``, ``sundhed_aeldre``, ``samtykke``)
with exactly the tables and columns of their specs, plus

- ``out_dir/ground_truth.parquet``: ``source, table, record_id, person_id`` (strings), one row per
  record of every ``person_table`` (for ``samtykke``: ``<samtykke_id>@<version>``, the person the
  consent concerns); ``person_id`` (``P0000123``) is the true person, also for people without a CPR;
- ``out_dir/noise_log.parquet``: ``source, table, record_id, kind``, one row per noise applied
  (kinds in :mod:`samlet_overblik.generator.noise`).

Module map: ``population`` (households, people, CPR register), ``departments`` (who is known where
and the departmental tables), ``consent`` (the consent registry), ``noise`` (noise and source
quirks), ``writer`` (databases and parquet), ``vocab`` (value vocabularies).

The output is deterministic for (seed, as_of, citizens, noise, chunk_size): every date derives from
``as_of`` (default: today - pass it explicitly for reproducible files) and all randomness from
numpy generators seeded by ``seed``. ``citizens`` is the number of people in the CPR register;
with noise, about 0.1% more people without a CPR number (replacement IDs) appear in
``sundhed_aeldre`` / ``social_voksen``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from samlet_overblik.core import cpr as cprlib
from samlet_overblik.sources.specs import load_source_specs
from samlet_overblik.synthetic import noise as noiselib
from samlet_overblik.synthetic._util import Counters, make_staff
from samlet_overblik.synthetic.consent import build_samtykke
from samlet_overblik.synthetic.departments import (
    STAFF_TABLES, Context, assign_departments, build_beskaeftigelse, build_boern_familie, build_social_voksen,
    build_sundhed_aeldre, staff_directory,
)
from samlet_overblik.synthetic.population import Streets, build_population, register_tables
from samlet_overblik.synthetic.writer import ParquetOut, SourceWriter

__all__ = ["generate", "NOISE_LEVELS", "GROUND_TRUTH_COLUMNS", "NOISE_LOG_COLUMNS"]

NOISE_LEVELS = tuple(noiselib.LEVELS)
GROUND_TRUTH_COLUMNS = ["source", "table", "record_id", "person_id"]
NOISE_LOG_COLUMNS = ["source", "table", "record_id", "kind"]
DEPARTMENT_SOURCES = ("boern_familie", "beskaeftigelse", "social_voksen", "sundhed_aeldre")
SOURCE_ORDER = ("cpr", "boern_familie", "beskaeftigelse", "social_voksen", "sundhed_aeldre", "samtykke")
DEFAULT_CHUNK = 50_000


def generate(citizens: int, seed: int, out_dir: Path, noise: str = "default",
             targets: dict[str, str] | None = None, as_of: dt.date | None = None,
             progress: Callable[[str], None] | None = None, chunk_size: int = DEFAULT_CHUNK) -> dict:
    """Generate all sources; return a summary (rows per ``source.table``, elapsed seconds, files).

    ``targets`` maps a source name to an SQLAlchemy URL to write that source there (its tables are
    dropped and recreated) instead of ``out_dir/<source>.sqlite``.
    """
    started = time.perf_counter()
    if not isinstance(citizens, (int, np.integer)) or isinstance(citizens, bool) or citizens < 1:
        raise ValueError("citizens must be a positive whole number")
    if noise not in noiselib.LEVELS:
        raise ValueError(f"unknown noise level {noise!r}; choose one of {', '.join(noiselib.LEVELS)}")
    if chunk_size < 1000:
        raise ValueError("chunk_size must be at least 1000")
    specs = load_source_specs()
    missing = [s for s in SOURCE_ORDER if s not in specs]
    if missing:
        raise ValueError(f"source specs missing for {', '.join(missing)}")
    targets = dict(targets or {})
    unknown = sorted(set(targets) - set(SOURCE_ORDER))
    if unknown:
        raise ValueError(f"unknown target source(s) {', '.join(unknown)}; known: {', '.join(SOURCE_ORDER)}")
    as_of = as_of or dt.date.today()
    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _msg: None)
    rates = noiselib.rates(noise)

    as_of64 = np.datetime64(as_of, "D")
    # The moment of the extract: 16:00 on the day the data is as of, but never after the moment of generating (to the
    # minute) — an update stamp in the future makes a source look fresher than it is, and the freshness checks flag it.
    generating = np.datetime64(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, second=0, microsecond=0), "s")
    now = min(as_of64.astype("datetime64[s]") + np.timedelta64(16 * 3600, "s"), generating)
    root = np.random.SeedSequence(int(seed))
    run_rng = np.random.default_rng(root.spawn(1)[0])
    streets = Streets.make(run_rng, int(min(1500, max(150, citizens // 300))))
    n_staff = int(max(12, citizens // 2500))
    staff = {d: make_staff(run_rng, n_staff) for d in DEPARTMENT_SOURCES}
    staff["sundhed_aeldre_visit"] = make_staff(run_rng, n_staff * 3)
    staff["samtykke"] = np.concatenate([staff[d] for d in DEPARTMENT_SOURCES])
    directories = {d: staff_directory(d, staff[d], run_rng, now) for d in DEPARTMENT_SOURCES}

    writers: dict[str, SourceWriter] = {}
    files: dict[str, str] = {}
    gt = noise_out = None
    try:
        for name in SOURCE_ORDER:
            spec = specs[name]
            if name in targets:
                writers[name] = SourceWriter(spec, url=targets[name])
                files[name] = writers[name].engine.url.render_as_string(hide_password=True)
            else:
                path = out_dir / spec.default_file
                writers[name] = SourceWriter(spec, path=path)
                files[name] = str(path)
        gt = ParquetOut(out_dir / "ground_truth.parquet", GROUND_TRUTH_COLUMNS)
        noise_out = ParquetOut(out_dir / "noise_log.parquet", NOISE_LOG_COLUMNS)
        files["ground_truth"] = str(gt.path)
        files["noise_log"] = str(noise_out.path)

        counters = Counters()
        allocator = cprlib.CprAllocator()
        n_chunks = -(-citizens // chunk_size)
        base, extra = divmod(citizens, n_chunks)
        sizes = [base + (1 if i < extra else 0) for i in range(n_chunks)]
        pid_offset = 0
        without_cpr = 0
        for ci, n_c in enumerate(sizes):
            seeds = np.random.SeedSequence(int(seed), spawn_key=(1, ci)).spawn(3)
            rng = np.random.default_rng(seeds[0])
            noise_rng = np.random.default_rng(seeds[1])
            n_foreign = int(noise_rng.binomial(n_c, rates["foreigners"])) if rates["foreigners"] > 0 else 0
            pop = build_population(n_c, n_foreign, rng, as_of64, pid_offset, streets, allocator)
            pid_offset += len(pop.people)
            without_cpr += n_foreign
            ms = assign_departments(pop.people, rng)
            ctx = Context(rng=rng, as_of=as_of64, now=now, counters=counters, staff=staff,
                          plans=np.random.default_rng(seeds[2]))
            out: dict[str, dict[str, pd.DataFrame]] = {}
            out["boern_familie"], bf_info = build_boern_familie(pop, ms, ctx)
            out["beskaeftigelse"], _ = build_beskaeftigelse(pop, ms, ctx)
            out["social_voksen"], _ = build_social_voksen(pop, ms, ctx)
            out["sundhed_aeldre"], _ = build_sundhed_aeldre(pop, ms, ctx)
            out["samtykke"], _ = build_samtykke(pop, ms, ctx, bf_info)
            out["cpr"] = register_tables(pop, counters, rng, now)  # after the placements ended custody

            log = noiselib.NoiseLog()
            for source in DEPARTMENT_SOURCES:
                out[source] = noiselib.apply_noise(source, out[source], pop.people, rates, noise_rng, counters, log)
                out[source] = noiselib.source_quirks(source, out[source], noise_rng, log)

            for source in DEPARTMENT_SOURCES:  # the staff directories, once (in the first chunk)
                directory = directories[source]
                out[source][STAFF_TABLES[source][0]] = directory if ci == 0 else directory.iloc[0:0]
            gt.write(_ground_truth(specs, out, pop.people))
            noise_out.write(log.frame())
            for name in SOURCE_ORDER:
                writers[name].write({t: out[name][t] for t in specs[name].tables})
            elapsed = time.perf_counter() - started
            say(f"chunk {ci + 1}/{n_chunks}: {pid_offset:,} people written ({elapsed:.1f} s, "
                f"{pid_offset / max(elapsed, 1e-9):,.0f} people/s)")
    finally:
        for w in writers.values():
            w.close()
        for p in (gt, noise_out):
            if p is not None:
                p.close()

    rows = {f"{s}.{t}": n for s in SOURCE_ORDER for t, n in writers[s].rows.items()}
    return {
        "citizens": citizens,
        "people_without_cpr": without_cpr,
        "seed": int(seed),
        "as_of": as_of.isoformat(),
        "noise": noise,
        "rows": rows,
        "ground_truth_rows": gt.rows,
        "noise_log_rows": noise_out.rows,
        "files": files,
        "elapsed_seconds": round(time.perf_counter() - started, 2),
    }


def _ground_truth(specs, out: dict[str, dict[str, pd.DataFrame]], people: pd.DataFrame) -> pd.DataFrame:
    person_ids = people["person_id"].to_numpy()
    frames = []
    for source in SOURCE_ORDER:
        for tname, tspec in specs[source].tables.items():
            if not tspec.person_table:
                continue
            df = out[source][tname]
            if source == "samtykke" and tname == "samtykke":
                rid = (df["samtykke_id"].astype(str) + "@" + df["version"].astype(str)).to_numpy()
            else:
                if len(tspec.primary_key) != 1:
                    raise ValueError(f"{source}.{tname}: person table needs a one-column primary key")
                rid = df[tspec.primary_key[0]].astype(str).to_numpy()
            frames.append(pd.DataFrame({"source": source, "table": tname, "record_id": rid,
                                        "person_id": person_ids[df["_idx"].to_numpy()]}))
    return pd.concat(frames, ignore_index=True)
