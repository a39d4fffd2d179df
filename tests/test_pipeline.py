"""The nightly job materialised on a small generated municipality: layers, quarantine, exports, history."""

from __future__ import annotations

import os
import stat

from samlet_overblik.sources.specs import departments

from pipeline_helpers import query, run


def test_nightly_job_builds_and_publishes(small_municipality, tmp_path):
    warehouse = tmp_path / "wh" / "samlet_overblik.duckdb"
    run(small_municipality, warehouse)

    assert stat.S_IMODE(os.stat(warehouse).st_mode) == 0o600  # restricted: owner only
    assert not list(warehouse.parent.glob("*.building-*"))
    assert query(warehouse, "SELECT status FROM meta.runs") == [("ok",)]
    # Every person record is linked; every datum that can cross a boundary (records, coordination plans, home
    # visits) got a decision for every department.
    n_person = query(warehouse, "SELECT count(*) FROM staging.person_records")[0][0]
    assert query(warehouse, "SELECT count(*) FROM identity.person_links")[0][0] == n_person > 0
    n_data = query(warehouse, "SELECT (SELECT count(*) FROM staging.interventions) + (SELECT count(*) FROM "
                              "staging.coordination_plans) + (SELECT count(*) FROM staging.home_visits)")[0][0]
    assert query(warehouse, "SELECT count(*) FROM consent.record_decisions")[0][0] == n_data * len(departments())
    # CPR in staging is normalised to 10 digits (lost leading zeros restored).
    assert query(warehouse, "SELECT count(*) FROM staging.person_records WHERE national_id IS NOT NULL "
                            "AND NOT regexp_full_match(national_id, '[0-9]{10}')")[0][0] == 0
    # Bad rows are quarantined with a reason and the raw row, never dropped silently.
    reasons = dict(query(warehouse, "SELECT reason, count(*) FROM quarantine.rejected_rows GROUP BY 1"))
    assert reasons and all(r for r in reasons)
    assert query(warehouse, "SELECT count(*) FROM quarantine.rejected_rows WHERE raw_row IS NULL")[0][0] == 0

    for dept in departments():
        export = warehouse.parent / "exports" / f"{dept}.duckdb"
        rows = query(export, "SELECT source_department, basis FROM interventions")
        assert rows, dept
        assert all(b for _, b in rows)
        assert all(b == "lov:egen_afdeling" for d, b in rows if d == dept)
        assert all(b.startswith(("samtykke:", "lov:")) for d, b in rows if d != dept)
        cols = [r[0] for r in query(export, "SELECT column_name FROM information_schema.columns WHERE table_name = 'interventions'")]
        assert cols[:10] == ["person_key", "cpr", "source_department", "category", "title", "legal_paragraph",
                             "start_date", "end_date", "monthly_cost", "basis"]
    cross = query(warehouse, "SELECT count(*) FROM unified.access_grants WHERE viewer_department <> source_department")[0][0]
    assert cross > 0  # the generated consents do open some flows


def test_second_run_carries_history_and_keeps_keys(small_municipality, tmp_path):
    warehouse = tmp_path / "samlet_overblik.duckdb"
    first = run(small_municipality, warehouse)
    keys_before = dict(query(warehouse, "SELECT cpr, person_key FROM identity.person_keys WHERE cpr IS NOT NULL"))
    second = run(small_municipality, warehouse)
    keys_after = dict(query(warehouse, "SELECT cpr, person_key FROM identity.person_keys WHERE cpr IS NOT NULL"))
    assert keys_after == keys_before
    assert {r[0] for r in query(warehouse, "SELECT run_id FROM meta.runs")} == {first.run_id, second.run_id}
    # Consent versions keep the run that first saw them.
    assert {r[0] for r in query(warehouse, "SELECT DISTINCT first_seen_run FROM consent.history")} == {first.run_id}
    assert {r[0] for r in query(warehouse, "SELECT DISTINCT last_seen_run FROM consent.history")} == {second.run_id}
    # Unchanged sources: the second run reads incrementally (only rows at the last stamp again).
    incremental = query(warehouse, "SELECT bool_and(incremental) FROM meta.source_loads WHERE run_id = ? "
                                   "AND source <> 'samtykke'", [second.run_id])[0][0]
    assert incremental
    assert len(query(warehouse, "SELECT DISTINCT run_id FROM quarantine.counts")) == 2
