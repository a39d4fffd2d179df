"""Build a staged warehouse (raw + staging) from generated source files without Dagster.

Used by the evaluation and the benchmark: the same ingestion and staging SQL the nightly job runs,
called as plain functions, so identity can be measured on exactly what the warehouse would hold.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import duckdb

from samlet_overblik.sources import ingest, staging
from samlet_overblik.sources.specs import load_source_specs
from samlet_overblik.core.warehouse import apply_ddl


def stage_sources(sources_dir: Path, con: duckdb.DuckDBPyConnection, run_id: str = "eval") -> None:
    """Ingest every source found in ``sources_dir`` into ``con`` and run the staging SQL."""
    sources_dir = Path(sources_dir)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    apply_ddl(con)
    specs = load_source_specs()
    present = set()
    for spec in specs.values():
        path = sources_dir / spec.default_file
        if not path.exists():
            continue
        ingest.ingest_source(con, spec, f"sqlite:///{path.resolve()}", run_id, now, full_refresh=True)
        present.add(spec.name)
    for asset in staging.load_sql_assets("staging"):
        if asset.source_system in present:
            staging.run_staging_asset(con, asset, run_id, now)
