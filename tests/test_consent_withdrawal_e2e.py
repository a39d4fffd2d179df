"""End to end: withdraw a consent in a PostgreSQL-hosted registry, run consent_refresh, and the citizen's
cross-department rows are gone from every export; the lineage report shows when they stopped flowing."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from samlet_overblik.sources.specs import departments
from samlet_overblik.synthetic import generate
from samlet_overblik.consent.lineage import lineage_report

from pipeline_helpers import query, run

DEPARTMENTS = departments()

pytestmark = pytest.mark.integration


def test_withdrawal_in_postgres_registry_removes_rows_from_every_export(pg_url, tmp_path):
    sources = tmp_path / "sources"
    generate(1500, 5, sources, as_of=date(2026, 11, 1), targets={"samtykke": pg_url})
    warehouse = tmp_path / "wh" / "w.duckdb"
    nightly = run(sources, warehouse, samtykke=pg_url)

    # A citizen whose records flow across departments on consent.
    person_key, cpr = query(
        warehouse,
        "SELECT g.person_key, k.cpr FROM unified.access_grants g JOIN identity.person_keys k USING (person_key) "
        "WHERE g.basis LIKE 'samtykke:%' GROUP BY ALL ORDER BY count(*) DESC LIMIT 1",
    )[0]
    exports = {d: warehouse.parent / "exports" / f"{d}.duckdb" for d in DEPARTMENTS}
    crossing = sum(
        query(path, "SELECT count(*) FROM interventions WHERE person_key = ? AND source_department <> ?", [person_key, d])[0][0]
        for d, path in exports.items()
    )
    assert crossing > 0

    # The citizen withdraws every consent (written into the registry as the registry's own client would).
    withdrawn_at = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=1)
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE samtykke SET tilbagekaldt_tid = :t, opdateret_tid = :t WHERE cpr = :cpr AND tilbagekaldt_tid IS NULL"),
            {"t": withdrawn_at, "cpr": cpr},
        )
    engine.dispose()

    refresh = run(sources, warehouse, "consent_refresh", samtykke=pg_url)
    for d, path in exports.items():
        assert query(path, "SELECT count(*) FROM interventions WHERE person_key = ? AND source_department <> ?",
                     [person_key, d])[0][0] == 0, d
        assert query(path, "SELECT count(*) FROM interventions WHERE person_key = ? AND source_department = ?",
                     [person_key, d]) == query(warehouse, "SELECT count(*) FROM staging.interventions i JOIN identity.person_links l "
                     "ON l.source = i.source AND l.\"table\" = i.person_table AND l.record_id = i.person_record_id "
                     "WHERE l.person_key = ? AND i.department = ?", [person_key, d])  # own records stay
    assert query(warehouse, "SELECT job FROM meta.runs WHERE run_id = ?", [refresh.run_id]) == [("consent_refresh",)]

    report = lineage_report(warehouse, cpr)
    stopped = [f for f in report.flows if f.to_run == refresh.run_id]
    assert stopped and all(f.from_run == nightly.run_id for f in stopped)
    assert all(f.stop_reason == "samtykket er tilbagekaldt" for f in stopped)
    assert not [f for f in report.flows if f.to_run is None]
    assert any(v.status == "tilbagekaldt" for v in report.consent_versions)
    assert cpr not in repr(report)  # the report masks CPR numbers
