"""exports/analytics.duckdb on a generated municipality: no direct identifiers, no small cells, per-person rows
only when asked for (keyed hashes), no publication without a key. The suppression itself, on populations built to
produce small cells: test_analytics_suppression.py."""

from __future__ import annotations

import hashlib
import hmac
import stat

import duckdb
import pytest

from samlet_overblik.unified import analytics, view as unified
from samlet_overblik.core.warehouse import apply_ddl

from pipeline_helpers import settings_for
from samlet_overblik.runner import run_job
from test_unified_helpers import wired_defs

KEY = b"test-secret-0123456789"


@pytest.fixture(scope="module")
def unified_copy(small_municipality, tmp_path_factory):
    """The real nightly on the small municipality, then the unified layer on a copy."""
    import shutil

    tmp = tmp_path_factory.mktemp("analytics")
    warehouse = tmp / "samlet_overblik.duckdb"
    settings = settings_for(small_municipality, warehouse)
    outcome = run_job(settings, "nightly", defs=wired_defs(settings))
    assert outcome.success, outcome.failure
    copy = tmp / "copy.duckdb"
    shutil.copyfile(warehouse, copy)
    con = duckdb.connect(str(copy))
    apply_ddl(con)
    unified.build_unified(con)
    yield con, tmp
    con.close()


@pytest.fixture(scope="module")
def built(unified_copy):
    """Analytics with the default settings (no SAMLET_ANALYTICS_MICRODATA in the environment)."""
    con, tmp = unified_copy
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(analytics.MICRODATA_ENV, raising=False)
        result = analytics.build_analytics(con, tmp / "exports", "run-a", KEY)
    return con, result


@pytest.fixture(scope="module")
def built_with_microdata(unified_copy):
    con, tmp = unified_copy
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(analytics.MICRODATA_ENV, "1")
        result = analytics.build_analytics(con, tmp / "exports-micro", "run-b", KEY)
    return con, result


@pytest.mark.parametrize("variant", ["built", "built_with_microdata"])
def test_no_direct_identifiers(variant, request):
    con, result = request.getfixturevalue(variant)
    con.execute(f"ATTACH '{result.path}' AS a (READ_ONLY)")
    try:
        cols = con.execute("SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = 'a'").fetchall()
        names = {c[1] for c in cols}
        assert not names & {"cpr", "person_key", "given_name", "family_name", "address", "name", "caseworker", "caseworkers"}
        identifiers = {r[0] for r in con.execute(
            "SELECT cpr FROM staging.cpr_persons UNION SELECT given_name FROM staging.cpr_persons "
            "UNION SELECT family_name FROM staging.cpr_persons UNION SELECT address FROM staging.cpr_persons "
            "UNION SELECT person_key FROM identity.person_keys").fetchall() if r[0]}
        for table, column, dtype in cols:
            if dtype == "VARCHAR":
                values = {r[0] for r in con.execute(f'SELECT DISTINCT "{column}" FROM a.{table}').fetchall()}
                assert not values & identifiers, (table, column)
    finally:
        con.execute("DETACH a")


def test_person_hash_is_hmac_sha256_of_the_person_key(built_with_microdata):
    con, result = built_with_microdata
    keys = [r[0] for r in con.execute("SELECT person_key FROM unified.citizen_overview ORDER BY 1 LIMIT 20").fetchall()]
    expected = {hmac.new(KEY, k.encode(), hashlib.sha256).hexdigest() for k in keys}
    with duckdb.connect(str(result.path), read_only=True) as a:
        hashes = {r[0] for r in a.execute("SELECT person_hash FROM citizen_pathways").fetchall()}
        assert len(hashes) == con.execute("SELECT count(*) FROM unified.citizen_overview").fetchall()[0][0]
    assert expected <= hashes


def test_no_small_cells(built):
    _, result = built
    k = analytics.MIN_CELL
    with duckdb.connect(str(result.path), read_only=True) as a:
        for table in ("by_department", "by_flag", "cost_per_pathway", "signals_by_rule"):
            assert a.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] > 0 or table == "signals_by_rule"
            assert a.execute(f"SELECT count(*) FROM {table} WHERE citizens BETWEEN 1 AND {k - 1}").fetchall()[0][0] == 0, table
        assert a.execute(f"SELECT count(*) FROM cost_per_pathway WHERE complex_cases BETWEEN 1 AND {k - 1} "
                         f"OR citizens - complex_cases BETWEEN 1 AND {k - 1}").fetchall()[0][0] == 0
        info = a.execute("SELECT min_cell, suppressed_primary, suppressed_secondary, suppressed_cells, microdata "
                         "FROM analytics_info").fetchall()
        assert info == [(k, result.suppressed_primary, result.suppressed_secondary, result.suppressed_cells, False)]
        # a municipality of 1,500 has small cells (towns x age bands), and they are counted
        assert result.suppressed_primary > 0


def test_per_person_rows_only_when_asked_for(built, built_with_microdata):
    _, default = built
    with duckdb.connect(str(default.path), read_only=True) as a:
        tables = {r[0] for r in a.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert "citizen_pathways" not in tables
        assert not {c for (c,) in a.execute("SELECT column_name FROM duckdb_columns()").fetchall()} & {"person_hash"}
    assert "citizen_pathways" not in default.tables and not default.microdata
    _, micro = built_with_microdata
    with duckdb.connect(str(micro.path), read_only=True) as a:
        pooled = a.execute("SELECT pathway, count(*) FROM citizen_pathways GROUP BY 1 HAVING count(*) < 5 AND pathway <> 'andet'").fetchall()
        assert pooled == []
        assert a.execute("SELECT microdata FROM analytics_info").fetchall() == [(True,)]


def test_file_is_owner_only(built):
    _, result = built
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert not list(result.path.parent.glob("*.building-*"))


def test_microdata_setting_is_explicit():
    assert analytics.microdata_enabled(env={}) is False
    assert analytics.microdata_enabled(env={analytics.MICRODATA_ENV: "0"}) is False
    assert analytics.microdata_enabled(env={analytics.MICRODATA_ENV: "1"}) is True
    with pytest.raises(analytics.AnalyticsSettingInvalid, match=analytics.MICRODATA_ENV):
        analytics.microdata_enabled(env={analytics.MICRODATA_ENV: "ja tak"})


def test_refuses_without_a_key_outside_the_demo():
    with pytest.raises(analytics.AnalyticsKeyMissing, match="refusing"):
        analytics.analytics_key(env={})
    with pytest.raises(analytics.AnalyticsKeyMissing, match="too short"):
        analytics.analytics_key(env={analytics.KEY_ENV: "short"})
    assert analytics.analytics_key(env={analytics.KEY_ENV: "x" * 20}) == b"x" * 20
    demo1, demo2 = analytics.analytics_key(env={}, demo=True), analytics.analytics_key(env={}, demo=True)
    assert len(demo1) == 32 and demo1 != demo2
