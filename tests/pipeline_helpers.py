"""Run the real Dagster jobs in-process against generated sources."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from samlet_overblik.runner import run_job
from samlet_overblik.core.settings import load_settings


def settings_for(sources: Path, warehouse: Path, **source_urls: str):
    s = load_settings(None, sources_dir=sources, warehouse=warehouse, env={})
    s.source_urls.update(source_urls)
    return s


def run(sources: Path, warehouse: Path, job: str = "nightly", **source_urls: str):
    outcome = run_job(settings_for(sources, warehouse, **source_urls), job)
    assert outcome.success, outcome.failure
    return outcome


def copy_sources(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def query(path: Path, sql: str, params=None):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()
