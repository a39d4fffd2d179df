"""Integration: the same municipality ingested from SQLite, PostgreSQL and MariaDB stages identically."""

from __future__ import annotations

from datetime import date

import pytest

from samlet_overblik.synthetic import generate

from pipeline_helpers import query, run

pytestmark = pytest.mark.integration
AS_OF = date(2026, 11, 1)
TABLES = ["staging.person_records", "staging.interventions", "staging.home_visits", "staging.coordination_plans",
          "staging.consents", "staging.consent_scopes", "staging.cpr_persons", "staging.cpr_relations"]


def _snapshot(warehouse):
    snap = {}
    for t in TABLES:
        cols = [c for (c,) in query(warehouse, f"SELECT column_name FROM information_schema.columns WHERE table_schema || '.' || table_name = '{t}' ORDER BY ordinal_position")]
        snap[t] = sorted(query(warehouse, f"SELECT {', '.join(cols)} FROM {t}"), key=repr)
    snap["quarantine"] = sorted(query(warehouse, "SELECT asset, record_id, reason FROM quarantine.rejected_rows"), key=repr)
    return snap


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_same_staging_from_every_dialect(server, request, tmp_path):
    url = request.getfixturevalue("pg_url" if server == "postgresql" else "mariadb_url")
    on_sqlite, on_server = tmp_path / "sqlite", tmp_path / "server"
    generate(400, 11, on_sqlite, as_of=AS_OF)
    # Departmental systems and the consent registry in the server; the CPR register stays a file.
    targets = {s: url for s in ("boern_familie", "beskaeftigelse", "social_voksen", "sundhed_aeldre", "samtykke")}
    generate(400, 11, on_server, as_of=AS_OF, targets=targets)

    run(on_sqlite, tmp_path / "a" / "w.duckdb")
    run(on_server, tmp_path / "b" / "w.duckdb", **targets)
    a, b = _snapshot(tmp_path / "a" / "w.duckdb"), _snapshot(tmp_path / "b" / "w.duckdb")
    for key in a:
        assert a[key] == b[key], key
    assert a["staging.interventions"] and a["quarantine"]
    # Danish characters survived the trip.
    assert query(tmp_path / "b" / "w.duckdb", "SELECT count(*) FROM staging.interventions WHERE title LIKE '%æ%' OR title LIKE '%ø%'")[0][0] > 0
