"""A staging asset gives its raw row as the row itself (``r AS _raw_row``), and only the rejected rows are turned into
JSON; an asset written with the JSON already made (``to_json(r) AS _raw_row``, as a new source's SQL may be) must
stage exactly the same. Every staging asset is run both ways on the same warehouse, with extraction marks on some raw
rows, and the staged rows and the quarantine must be identical."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import datetime

import duckdb

from pipeline_helpers import run
from samlet_overblik.sources.ingest import raw_table_name
from samlet_overblik.sources.staging import load_sql_assets, run_staging_asset


def _outcome(con: duckdb.DuckDBPyConnection, asset) -> tuple[list, list]:
    staged = con.execute(f"SELECT * FROM {asset.target} ORDER BY ALL").fetchall()
    rejected = con.execute(
        "SELECT source, source_table, record_id, reason, raw_row FROM quarantine.rejected_rows WHERE asset = ? "
        "ORDER BY ALL", [asset.name]).fetchall()
    return staged, rejected


def test_the_raw_row_as_a_row_stages_as_the_raw_row_as_json(small_municipality, tmp_path):
    warehouse = tmp_path / "wh" / "samlet_overblik.duckdb"
    run(small_municipality, warehouse)
    copy = tmp_path / "copy.duckdb"
    shutil.copy(warehouse.resolve(), copy)
    assets = load_sql_assets("staging")
    assert all("r AS _raw_row" in a.sql() for a in assets)
    with duckdb.connect(str(copy)) as con:
        # Every seventh raw row as if extraction had marked it: the mark must win over whatever the SQL decided.
        for raw in {raw_table_name(a.source_system, a.source_table) for a in assets}:
            con.execute(f"UPDATE {raw} SET _problem = 'invalid_integer' WHERE rowid % 7 = 3")
        quarantined = 0
        for asset in assets:
            as_json = tmp_path / f"{asset.name}.sql"
            as_json.write_text(asset.sql().replace("r AS _raw_row", "to_json(r) AS _raw_row"), encoding="utf-8")
            run_staging_asset(con, replace(asset, path=as_json), "r-json", datetime(2026, 11, 2), restage=True)
            expected = _outcome(con, asset)
            run_staging_asset(con, asset, "r-json", datetime(2026, 11, 2), restage=True)
            assert _outcome(con, asset) == expected, asset.name
            _, rejected = expected
            assert all(raw_row is not None for *_, raw_row in rejected), asset.name
            marked = [r for r in rejected if r[3] == "invalid_integer"]
            assert marked, asset.name
            quarantined += len(rejected)
        assert quarantined > 0
