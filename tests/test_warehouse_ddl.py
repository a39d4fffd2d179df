"""The warehouse DDL is applied once per DDL text: a warehouse that has it is left as it is, one with an older DDL
gets what is new, and a first build starts from a copy of an empty warehouse made once per process."""

from __future__ import annotations

import shutil
import stat

import duckdb

from samlet_overblik.core import warehouse as wh
from samlet_overblik.core.paths import data_dir
from samlet_overblik.core.sql import table_exists


def _applied(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("SELECT digest FROM meta.ddl_applied").fetchall()]


def test_the_same_ddl_is_applied_once_and_a_changed_ddl_again(tmp_path, monkeypatch):
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        wh.apply_ddl(con)
        assert _applied(con) == [wh.ddl_digest()]
        # Applied again, it would recreate a table dropped since: skipped, the table stays away.
        con.execute("DROP TABLE meta.source_locations")
        wh.apply_ddl(con)
        assert not table_exists(con, "meta.source_locations")

    # Another DDL text (a new release's): applied, and what it adds is there.
    changed = tmp_path / "warehouse"
    shutil.copytree(data_dir("warehouse"), changed)
    (changed / "95_added.sql").write_text("CREATE TABLE IF NOT EXISTS meta.added_by_a_release (x INTEGER);\n")
    monkeypatch.setenv("SAMLET_WAREHOUSE_DIR", str(changed))
    with duckdb.connect(str(path)) as con:
        wh.apply_ddl(con)
        assert table_exists(con, "meta.added_by_a_release")
        assert table_exists(con, "meta.source_locations")  # the whole DDL ran again
        assert _applied(con) == [wh.ddl_digest()]


def test_a_first_build_starts_from_the_empty_warehouse_even_after_it_was_deleted(tmp_path):
    first = wh.start_build(tmp_path / "a" / "samlet_overblik.duckdb", "run-a")
    template = wh.empty_warehouse()
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    with duckdb.connect(str(first)) as con:
        assert _applied(con) == [wh.ddl_digest()]
        assert table_exists(con, "staging.interventions")
        assert con.execute("SELECT count(*) FROM staging.interventions").fetchall() == [(0,)]

    # Someone cleans /tmp under a running server: the next first build makes the empty warehouse again.
    shutil.rmtree(template.parent)
    second = wh.start_build(tmp_path / "b" / "samlet_overblik.duckdb", "run-b")
    assert wh.empty_warehouse().is_file()
    with duckdb.connect(str(second)) as con:
        assert _applied(con) == [wh.ddl_digest()]
        assert table_exists(con, "unified.access_grants")
    wh.abandon(tmp_path / "a" / "samlet_overblik.duckdb", "run-a")
    wh.abandon(tmp_path / "b" / "samlet_overblik.duckdb", "run-b")


def test_a_sources_code_map_is_written_only_when_it_differs(tmp_path):
    from samlet_overblik.sources.specs import load_source_specs
    from samlet_overblik.sources.staging import refresh_code_map

    spec = next(s for s in load_source_specs().values() if s.code_rows())
    expected = sorted(spec.code_rows(), key=str)

    def stored():
        return con.execute("SELECT rowid, * FROM staging.code_map WHERE source = ? ORDER BY rowid", [spec.name]).fetchall()

    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        wh.apply_ddl(con)
        refresh_code_map(con, spec)
        first = stored()
        assert sorted((r[1:] for r in first), key=str) == expected
        refresh_code_map(con, spec)  # the source's next staging asset: the same rows, nothing written
        assert stored() == first
        con.execute("UPDATE staging.code_map SET category = 'tampered' WHERE rowid = ?", [first[0][0]])
        con.execute("INSERT INTO staging.code_map (source, field, code, title, category, legal_paragraph) VALUES (?, 'x.y', 'extra', NULL, 'c', NULL)", [spec.name])
        refresh_code_map(con, spec)
        assert sorted((r[1:] for r in stored()), key=str) == expected


CATALOG = (
    "SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database()",
    "SELECT schema_name, table_name, comment FROM duckdb_tables() WHERE database_name = current_database()",
    "SELECT schema_name, table_name, column_index, column_name, data_type, column_default, is_nullable, comment "
    "FROM duckdb_columns() WHERE database_name = current_database()",
    "SELECT schema_name, table_name, index_name, sql FROM duckdb_indexes() WHERE database_name = current_database()",
    "SELECT schema_name, table_name, constraint_type, constraint_text FROM duckdb_constraints() "
    "WHERE database_name = current_database()",
    "SELECT schema_name, view_name, sql FROM duckdb_views() WHERE database_name = current_database()",
    "SELECT schema_name, function_name, macro_definition FROM duckdb_functions() "
    "WHERE database_name = current_database() AND NOT internal",
)


def test_an_empty_database_gets_the_same_catalog_as_the_ddl_makes():
    """In memory (the consent watcher's scratch database) the catalog is copied from the empty warehouse: every
    schema, table, column, comment, index, constraint and macro is what running the DDL itself makes."""
    by_copy, by_ddl = duckdb.connect(), duckdb.connect()
    try:
        wh.apply_ddl(by_copy)
        wh._run_ddl(by_ddl, wh.ddl_text(), wh.ddl_digest())
        for query in CATALOG:
            made = sorted(by_ddl.execute(query).fetchall(), key=str)
            assert made or "duckdb_views" in query, query  # the DDL declares no view today
            assert sorted(by_copy.execute(query).fetchall(), key=str) == made, query
        # And it works: the CPR macros and a staging table the watcher fills.
        assert by_copy.execute("SELECT normalise_cpr('010203-1234')").fetchall() == [("0102031234",)]
    finally:
        by_copy.close()
        by_ddl.close()
