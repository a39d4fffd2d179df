"""Many municipalities at once: one folder of sources per kommunekode, sized from the real populations.

``generate_municipalities(codes, scale, seed, out_dir)`` writes ``out_dir/<kommunekode>/`` exactly as ``generate``
writes one municipality (the six sources and the ground truth) for each code, with ``round(population * scale)``
citizens (at least ``MIN_CITIZENS``) and a seed of its own derived from ``seed`` and the code, so one municipality
can be generated again alone (``generate --kommune``) and comes out the same. ``out_dir/municipalities.csv`` lists
what was written.
"""

from __future__ import annotations

import csv
import datetime as dt
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from samlet_overblik.core.municipalities import Municipality, municipalities, municipality
from samlet_overblik.synthetic import generate

# Below this a municipality has too few households for families across departments (the smallest, Læsø, has
# 1,683 inhabitants: at scale 0.002 that would be 3 people).
MIN_CITIZENS = 50


def citizens_of(place: Municipality, scale: float) -> int:
    if not scale > 0:
        raise ValueError("scale must be a positive number")
    return max(MIN_CITIZENS, round(place.population * scale))


def seed_of(seed: int, code: str) -> int:
    """The municipality's own seed: the same for (seed, code) whichever other municipalities are generated."""
    return int(np.random.SeedSequence([seed, int(code)]).generate_state(1)[0])


def generate_municipalities(codes: Iterable[str] | None, scale: float, seed: int, out_dir: Path, *,
                            noise: str = "default", as_of: dt.date | None = None,
                            progress: Callable[[str], None] | None = None) -> list[dict]:
    """Generate ``codes`` (every municipality of the list when None) under ``out_dir/<kommunekode>/``; return one
    summary row per municipality (code, name, citizens, seed, seconds), also written to ``municipalities.csv``."""
    places = list(municipalities().values()) if codes is None else [municipality(c) for c in codes]
    as_of = as_of or dt.date.today()  # one date for all: the municipalities of one run are generated as of one day
    say = progress or (lambda _msg: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for i, place in enumerate(places, 1):
        n, own_seed = citizens_of(place, scale), seed_of(seed, place.code)
        say(f"{place.name} ({place.code}): {n:,} borgere, {i}/{len(places)}")
        started = time.perf_counter()
        generate(n, own_seed, out_dir / place.code, noise=noise, as_of=as_of)
        written.append({"kommunekode": place.code, "navn": place.name, "borgere": n, "seed": own_seed,
                        "sekunder": round(time.perf_counter() - started, 2)})
    with open(out_dir / "municipalities.csv", "w", encoding="utf-8", newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=["kommunekode", "navn", "borgere", "seed", "sekunder"])
        out.writeheader()
        out.writerows(written)
    return written
