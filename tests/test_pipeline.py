"""The nightly job materialised on a small generated municipality: layers, quarantine, exports, history."""

from __future__ import annotations

import os
import re
import stat

from samlet_overblik.core.warehouse import ddl_text
from samlet_overblik.sources.specs import departments

from pipeline_helpers import copy_sources, query, run


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
    # Every index the DDL declares is there after the run (a step that replaces a table drops its indexes; the
    # lookups would then scan millions of rows instead of reading one citizen's).
    declared = set(re.findall(r"CREATE INDEX IF NOT EXISTS (\w+) ON", ddl_text()))
    assert declared and declared <= {r[0] for r in query(warehouse, "SELECT index_name FROM duckdb_indexes()")}


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


def test_a_night_without_changes_stages_and_validates_nothing_again(small_municipality, tmp_path):
    """Staging assets whose inputs hold the same rows keep their output, suites keep their results on the same
    batch; one changed source row restages exactly the assets that read its table, and the change arrives."""
    import sqlite3
    from datetime import datetime, timezone

    sources = copy_sources(small_municipality, tmp_path / "sources")
    warehouse = tmp_path / "samlet_overblik.duckdb"
    first = run(sources, warehouse)
    second = run(sources, warehouse)
    staged = dict(query(warehouse, "SELECT asset, run_id FROM meta.staged_inputs"))
    assert len(staged) >= 20 and set(staged.values()) == {first.run_id}
    counts = "SELECT asset, reason, rows FROM quarantine.counts WHERE run_id = ? ORDER BY ALL"
    assert query(warehouse, counts, [second.run_id]) == query(warehouse, counts, [first.run_id]) != []
    results = ("SELECT suite, expectation, kwargs, success, unexpected_count FROM quality.validation_results "
               "WHERE run_id = ? ORDER BY ALL")
    assert query(warehouse, results, [second.run_id]) == query(warehouse, results, [first.run_id]) != []
    assert {r[0] for r in query(warehouse, "SELECT run_id FROM quality.validated_inputs")} == {first.run_id}

    with sqlite3.connect(sources / "beskaeftigelse.sqlite") as src:
        borger_id = src.execute("SELECT min(borger_id) FROM borger").fetchone()[0]
        # Changed as a source system changes a row: with a fresh update stamp.
        stamp = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
        src.execute("UPDATE borger SET efternavn = 'Changedottir', cprnr = NULL, sidst_aendret = ? "
                    "WHERE borger_id = ?", [stamp, borger_id])
    third = run(sources, warehouse)
    staged = dict(query(warehouse, "SELECT asset, run_id FROM meta.staged_inputs"))
    from samlet_overblik.sources.staging import load_sql_assets

    # The assets that read the changed table (the staff directory does not, and is not restaged).
    reads_borger = {a.name for a in load_sql_assets("staging") if "raw.beskaeftigelse__borger" in a.sql()}
    assert "beskaeftigelse__ydelse" in reads_borger and "beskaeftigelse__medarbejder" not in reads_borger
    assert {a for a, r in staged.items() if r == third.run_id} == reads_borger
    assert query(warehouse, "SELECT family_name FROM staging.person_records WHERE source = 'beskaeftigelse' "
                            "AND record_id = ?", [str(borger_id)]) == [("Changedottir",)]
    # The job centre's suite (it reads the CPR status of the citizens with interventions) saw a new batch; the
    # other sources' suites did not.
    validated = dict(query(warehouse, "SELECT suite, run_id FROM quality.validated_inputs"))
    assert validated["beskaeftigelse"] == third.run_id and validated["cpr"] == first.run_id
