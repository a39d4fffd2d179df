"""exports/analytics.duckdb: keyed hashes, no direct identifiers, no small cells, no publication without a key."""

from __future__ import annotations

import hashlib
import hmac

import duckdb
import pytest

from samlet_overblik import analytics, unified
from samlet_overblik.warehouse import apply_ddl

from pipeline_helpers import settings_for
from samlet_overblik.runner import run_job
from test_unified_helpers import wired_defs

KEY = b"test-secret-0123456789"


@pytest.fixture(scope="module")
def built(small_municipality, tmp_path_factory):
    """The real nightly on the small municipality, then the unified layer and analytics on a copy."""
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
    result = analytics.build_analytics(con, tmp / "exports", "run-a", KEY)
    yield con, result
    con.close()


def test_no_direct_identifiers(built):
    con, result = built
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


def test_person_hash_is_hmac_sha256_of_the_person_key(built):
    con, result = built
    keys = [r[0] for r in con.execute("SELECT person_key FROM unified.citizen_overview ORDER BY 1 LIMIT 20").fetchall()]
    expected = {hmac.new(KEY, k.encode(), hashlib.sha256).hexdigest() for k in keys}
    with duckdb.connect(str(result.path), read_only=True) as a:
        hashes = {r[0] for r in a.execute("SELECT person_hash FROM citizen_pathways").fetchall()}
        assert len(hashes) == con.execute("SELECT count(*) FROM unified.citizen_overview").fetchall()[0][0]
    assert expected <= hashes


def test_no_small_cells(built):
    _, result = built
    with duckdb.connect(str(result.path), read_only=True) as a:
        for table in ("by_department", "by_flag", "cost_per_pathway", "signals_by_rule"):
            assert a.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] > 0 or table == "signals_by_rule"
            assert a.execute(f"SELECT coalesce(min(citizens), 5) FROM {table}").fetchall()[0][0] >= analytics.MIN_CELL
        pooled = a.execute("SELECT pathway, count(*) FROM citizen_pathways GROUP BY 1 HAVING count(*) < 5 AND pathway <> 'andet'").fetchall()
        assert pooled == []
        assert a.execute("SELECT min_cell, suppressed_cells >= 0 FROM analytics_info").fetchall() == [(5, True)]


def test_refuses_without_a_key_outside_the_demo():
    with pytest.raises(analytics.AnalyticsKeyMissing, match="refusing"):
        analytics.analytics_key(env={})
    with pytest.raises(analytics.AnalyticsKeyMissing, match="too short"):
        analytics.analytics_key(env={analytics.KEY_ENV: "short"})
    assert analytics.analytics_key(env={analytics.KEY_ENV: "x" * 20}) == b"x" * 20
    demo1, demo2 = analytics.analytics_key(env={}, demo=True), analytics.analytics_key(env={}, demo=True)
    assert len(demo1) == 32 and demo1 != demo2
