"""All 98 municipalities on one installation (issue 14's done-when), at a small scale: generated in proportion to
their populations, run through one Dagster backfill (several small municipalities a run), each published in its own
folder holding its own citizens only. The scale is SAMLET_NATIONAL_SCALE (0.002 in CI: 12,319 citizens)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd

from samlet_overblik.core.municipalities import municipalities
from samlet_overblik.synthetic.denmark import generate_municipalities

SCALE = float(os.environ.get("SAMLET_NATIONAL_SCALE", "0.002"))
PER_RUN = 10


def register_of(sources: Path, code: str) -> set[str]:
    """The oracle: the CPR numbers of the municipality's own person register, from the generator's ground truth."""
    truth = pd.read_parquet(sources / code / "ground_truth.parquet")
    return set(truth.loc[truth["source"] == "cpr", "record_id"].astype(str))


def cprs(path: Path, sql: str) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {r[0] for r in con.execute(sql).fetchall() if r[0]}


def test_all_98_municipalities_publish_each_with_its_own_citizens_only(tmp_path):
    sources, root = tmp_path / "sources", tmp_path / "kommuner"
    written = generate_municipalities(None, SCALE, 1, sources, as_of=dt.date(2026, 11, 1))
    codes = list(municipalities())
    assert len(written) == len(codes) == 98
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAMLET_", "DAGSTER_"))}
    env.update(SAMLET_REFERENCE_TIME="2026-11-01T12:00:00", COLUMNS="200")
    out = subprocess.run([sys.executable, "-m", "samlet_overblik.cli", "run", "--all-tenants", "--sources", str(sources),
                          "--warehouse-root", str(root), "--workers", "2", "--tenants-per-run", str(PER_RUN)],
                         capture_output=True, text=True, timeout=1800, env=env)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert "98 of 98 municipalities published" in out.stdout and f"({98 // PER_RUN + 1} runs," in out.stdout

    registers = {code: register_of(sources, code) for code in codes}
    everyone = set().union(*registers.values())
    for code in codes:
        own = registers[code]
        foreign = everyone - own  # citizens of other municipalities only
        folder = root / code
        assert cprs(folder / "samlet_overblik.duckdb", "SELECT cpr FROM staging.cpr_persons") <= own, code
        exported = set()
        for export in (folder / "exports").glob("*.duckdb"):
            exported |= cprs(export, "SELECT cpr FROM interventions")
        assert exported and not exported & foreign, code
    # Nothing was written outside the municipalities' folders but the installation's own files.
    assert {p.name for p in root.iterdir()} == set(codes)
