"""A staging refill sets the target's indexes aside and builds them again after the commit (deleting through an index
costs ~10x more); they are back after a refill that succeeded and after one that failed, and the rows are the
refill's or, on failure, the earlier ones."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import datetime

import duckdb
import pytest

from pipeline_helpers import run
from samlet_overblik.core.warehouse import declared_indexes
from samlet_overblik.sources.staging import StagingFailed, load_sql_assets, run_staging_asset


def _indexes(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    schema, name = table.split(".")
    return {r[0] for r in con.execute(
        "SELECT index_name FROM duckdb_indexes() WHERE schema_name = ? AND table_name = ?", [schema, name]).fetchall()}


def test_the_indexes_are_back_after_a_refill_and_after_a_failed_one(small_municipality, tmp_path):
    warehouse = tmp_path / "wh" / "samlet_overblik.duckdb"
    run(small_municipality, warehouse)
    copy = tmp_path / "copy.duckdb"
    shutil.copy(warehouse.resolve(), copy)
    asset = next(a for a in load_sql_assets("staging") if a.name == "cpr__personer")
    declared = {s.split()[5] for s in declared_indexes(asset.target)}
    assert declared == {"cpr_persons_cpr", "cpr_persons_address"}
    with duckdb.connect(str(copy)) as con:
        before = con.execute(f"SELECT count(*), sum(hash(cpr)) FROM {asset.target}").fetchall()
        assert _indexes(con, asset.target) == declared

        result = run_staging_asset(con, asset, "r-again", datetime(2026, 11, 2), restage=True)
        assert result.rows == before[0][0] and result.unchanged_since is None
        assert con.execute(f"SELECT count(*), sum(hash(cpr)) FROM {asset.target}").fetchall() == before
        assert _indexes(con, asset.target) == declared
        broken = tmp_path / "cpr__personer.sql"
        broken.write_text(asset.sql().replace("FROM raw.", "FROM raw.no_such_table_", 1), encoding="utf-8")
        with pytest.raises(StagingFailed):
            run_staging_asset(con, replace(asset, path=broken), "r-broken", datetime(2026, 11, 3), restage=True)
        assert con.execute(f"SELECT count(*), sum(hash(cpr)) FROM {asset.target}").fetchall() == before
        assert _indexes(con, asset.target) == declared
