"""The unified assets wired into the nightly job (as proposed for build.py) on a generated municipality:
published tables, department exports with overviews, CPR lookup, and readers during publishing."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import duckdb
import pytest

from samlet_overblik.sources.specs import departments
from samlet_overblik.runner import run_job

from pipeline_helpers import query, settings_for
from test_unified_helpers import wired_defs

DEPARTMENTS = departments()


@pytest.fixture(scope="module")
def published(small_municipality, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("SAMLET_ANALYTICS_KEY", "pipeline-test-secret-123")
    warehouse = tmp_path_factory.mktemp("wired") / "samlet_overblik.duckdb"
    settings = settings_for(small_municipality, warehouse)
    outcome = run_job(settings, "nightly", defs=wired_defs(settings))
    assert outcome.success, outcome.failure
    return warehouse


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_unified_tables_are_published(published):
    for table in ("interventions", "citizen_overview", "family_overview", "family_members", "coordination_signals", "signal_rules"):
        assert query(published, f"SELECT count(*) FROM unified.{table}")[0][0] > 0, table
    n_staged = query(published, "SELECT count(*) FROM staging.interventions")[0][0]
    assert query(published, "SELECT count(*) FROM unified.interventions")[0][0] == n_staged
    assert query(published, "SELECT count(*) FROM unified.citizen_overview WHERE complex_case AND flags_explained IS NULL")[0][0] == 0
    assert query(published, "SELECT count(*) FROM unified.family_overview WHERE child_case_and_adult_benefits")[0][0] > 0
    assert (published.parent / "exports" / "analytics.duckdb").exists()


def test_exports_carry_overviews_within_consent(published):
    for dept in DEPARTMENTS:
        path = published.parent / "exports" / f"{dept}.duckdb"
        with duckdb.connect(str(path), read_only=True) as ex:
            visible = {tuple(r) for r in ex.execute(
                "SELECT source, source_table, record_id FROM interventions UNION ALL "
                "SELECT source, source_table, record_id FROM home_visits").fetchall()}
            for (records,) in ex.execute("SELECT records FROM coordination_signals").fetchall():
                assert all((r["source"], r["source_table"], r["record_id"]) in visible for r in records), dept
            # every citizen in the overview has a visible record; the overview counts only those
            assert ex.execute("SELECT count(*) FROM citizen_overview o WHERE NOT EXISTS "
                              "(SELECT 1 FROM interventions i WHERE i.person_key = o.person_key)").fetchall()[0][0] == 0
            cpr = ex.execute("SELECT cpr FROM citizen_overview WHERE cpr IS NOT NULL LIMIT 1").fetchall()[0][0]
            assert ex.execute("SELECT count(*) FROM citizen_overview WHERE cpr = ?", [cpr]).fetchall()[0][0] == 1
            # ART indexes for the lookups (DuckDB uses them once a table is large enough; see bench/unified.py)
            indexed = {r[0] for r in ex.execute("SELECT index_name FROM duckdb_indexes()").fetchall()}
            assert {"citizen_overview_cpr", "citizen_overview_person", "interventions_cpr"} <= indexed


def test_exports_carry_the_unified_layers_comments(published):
    """A department's tables read with the same table and column comments as the warehouse's unified layer (the data
    dictionary of an export), besides their own (the CPR column the export adds)."""
    from samlet_overblik.unified import view

    tables = (*view.SCOPED_TABLES, view.SIGNALS_TABLE, "signal_rules")
    with duckdb.connect(str(published), read_only=True) as con:
        unified = _comments(con, "unified", tables)
    assert len(unified) > len(tables)  # tables and columns
    for dept in DEPARTMENTS:
        with duckdb.connect(str(published.parent / "exports" / f"{dept}.duckdb"), read_only=True) as ex:
            carried = _comments(ex, "main", tables)
        assert {k: v for k, v in carried.items() if k in unified} == unified, dept
        assert carried[("citizen_overview", "cpr")].startswith("CPR number"), dept


def _comments(con, schema: str, tables) -> dict[tuple[str, str | None], str]:
    where = "database_name = current_database() AND schema_name = ? AND list_contains(?, table_name) AND comment IS NOT NULL"
    found: dict[tuple[str, str | None], str] = {
        (t, None): c for t, c in con.execute(f"SELECT table_name, comment FROM duckdb_tables() WHERE {where}",
                                             [schema, list(tables)]).fetchall()}
    found.update({(t, col): c for t, col, c in con.execute(
        f"SELECT table_name, column_name, comment FROM duckdb_columns() WHERE {where}", [schema, list(tables)]).fetchall()})
    return found


READER = textwrap.dedent(
    """
    import signal, sys, time, duckdb
    path, seconds = sys.argv[1], float(sys.argv[2])
    ok = errors = 0
    end = time.time() + seconds
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    while time.time() < end and not stop:
        try:
            with duckdb.connect(path, read_only=True) as con:
                con.execute("SELECT count(*) FROM interventions").fetchall()
                con.execute("SELECT count(*) FROM citizen_overview").fetchall()
            ok += 1
        except Exception as exc:
            errors += 1
            print(type(exc).__name__, str(exc)[:200], file=sys.stderr)
    print(ok, errors)
    """
)


def test_export_readable_from_another_process_while_publishing(published, small_municipality):
    """Another process reads an export through the documented path in a loop while two runs publish new sets."""
    target = published.parent / "exports" / "beskaeftigelse.duckdb"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(target), "600"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        settings = settings_for(small_municipality, published)
        for _ in range(2):
            outcome = run_job(settings, "consent_refresh", defs=wired_defs(settings))
            assert outcome.success, outcome.failure
        reader.send_signal(signal.SIGINT)
        out, err = reader.communicate(timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()
    ok, errors = map(int, out.split())
    assert ok > 0 and errors == 0, err


def test_other_tools_open_the_files_read_only(published):
    """The warehouse and exports are plain DuckDB files: the duckdb client, pandas, polars and SQLAlchemy
    (duckdb-engine) read them read-only."""
    import polars as pl
    import sqlalchemy as sa

    export = published.parent / "exports" / "social_voksen.duckdb"
    with duckdb.connect(str(export), read_only=True) as con:
        n = con.execute("SELECT count(*) FROM interventions").fetchall()[0][0]
        frame = con.execute("SELECT person_key, basis FROM interventions").df()  # pandas
        polars_frame = con.sql("SELECT person_key, basis FROM interventions").pl()
    assert n > 0 and len(frame) == n and polars_frame.height == n
    assert polars_frame.filter(pl.col("basis").is_null()).height == 0
    engine = sa.create_engine(f"duckdb:///{export}", connect_args={"read_only": True})
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM citizen_overview")).scalar() > 0
    engine.dispose()
    with duckdb.connect(str(published), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM unified.citizen_overview").fetchall()[0][0] > 0
