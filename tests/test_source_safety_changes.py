"""Reading sources safely, end to end: no change in a source can hide behind an update stamp or a deletion.

Finding 1: incremental reads took the *text* maximum of the update stamp as the next read-from point, so one row
stamped in the future (or with a garbage stamp) hid every later change, a withdrawal included, and the consent
sensor's fingerprint (max stamp + count) stopped changing. Finding 2: a deleted consent (or an emptied registry)
went unnoticed by the default run and its grants stayed.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pipeline_helpers import copy_sources, query, run, settings_for

from samlet_overblik.consent.policy import load_policy
from samlet_overblik.consent.watcher import tick
from samlet_overblik.runner import run_job

pytestmark = pytest.mark.integration


def _now_text(offset: timedelta = timedelta(0)) -> str:
    return (datetime.now(timezone.utc).replace(tzinfo=None) + offset).strftime("%Y-%m-%d %H:%M:%S")


def _sql(path: Path, sql: str, params=()) -> list:
    con = sqlite3.connect(path)
    try:
        rows = con.execute(sql, params).fetchall()
        con.commit()
        return rows
    finally:
        con.close()


def _citizen_with_consent_flows(warehouse: Path) -> tuple[str, str]:
    return query(
        warehouse,
        "SELECT g.person_key, k.cpr FROM unified.access_grants g JOIN identity.person_keys k USING (person_key) "
        "WHERE g.basis LIKE 'samtykke:%' GROUP BY ALL ORDER BY count(*) DESC, 1 LIMIT 1",
    )[0]


def _consent_flows(warehouse: Path, person_key: str) -> int:
    return query(warehouse, "SELECT count(*) FROM unified.access_grants WHERE person_key = ? AND basis LIKE 'samtykke:%'",
                 [person_key])[0][0]


def test_withdrawal_after_a_future_stamp_takes_effect_on_the_next_consent_refresh(small_municipality, tmp_path):
    sources = copy_sources(small_municipality, tmp_path / "src")
    registry = sources / "samtykke.sqlite"
    url = f"sqlite:///{registry.resolve()}"
    # One consent version stamped far in the future (the generator itself writes stamps hours ahead).
    _sql(registry, "UPDATE samtykke SET opdateret_tid = '2099-01-01 00:00:00' "
                   "WHERE rowid = (SELECT min(rowid) FROM samtykke WHERE tilbagekaldt_tid IS NOT NULL)")
    warehouse = tmp_path / "wh" / "w.duckdb"
    nightly = run(sources, warehouse)
    assert query(warehouse, "SELECT status FROM meta.runs WHERE run_id = ?", [nightly.run_id]) == [("ok",)]
    assert query(warehouse, "SELECT future_stamped_rows FROM meta.source_reads WHERE run_id = ? AND source_table = 'samtykke'",
                 [nightly.run_id]) == [(1,)]
    person_key, cpr = _citizen_with_consent_flows(warehouse)
    assert _consent_flows(warehouse, person_key) > 0

    assert not tick(warehouse, url, load_policy()).refresh_needed
    stamp = _now_text(-timedelta(seconds=1))
    _sql(registry, "UPDATE samtykke SET tilbagekaldt_tid = ?, opdateret_tid = ? WHERE cpr = ? AND tilbagekaldt_tid IS NULL",
         (stamp, stamp, cpr))
    assert tick(warehouse, url, load_policy()).refresh_needed  # the sensor sees the withdrawal and requests consent_refresh

    refresh = run(sources, warehouse, "consent_refresh")
    assert query(warehouse, "SELECT fail_closed FROM consent.run_status WHERE run_id = ?", [refresh.run_id]) == [(False,)]
    assert _consent_flows(warehouse, person_key) == 0
    assert query(warehouse, "SELECT count(*) FROM consent.evaluated e WHERE e.cpr = ? AND e.status = 'in_force'", [cpr]) == [(0,)]


def test_department_change_after_future_and_garbage_stamps_is_read(small_municipality, tmp_path):
    sources = copy_sources(small_municipality, tmp_path / "src")
    db = sources / "beskaeftigelse.sqlite"
    future, garbage = [r[0] for r in _sql(db, "SELECT ydelse_id FROM ydelse ORDER BY ydelse_id LIMIT 2")]
    _sql(db, "UPDATE ydelse SET sidst_aendret = '2099-01-01 00:00:00' WHERE ydelse_id = ?", (future,))
    _sql(db, "UPDATE ydelse SET sidst_aendret = 'i går' WHERE ydelse_id = ?", (garbage,))
    warehouse = tmp_path / "w.duckdb"
    first = run(sources, warehouse)
    assert query(warehouse, "SELECT reason FROM quarantine.rejected_rows WHERE source = 'beskaeftigelse' "
                            "AND source_table = 'ydelse' AND record_id = ?", [str(garbage)]) == [("unparseable_update_stamp",)]
    assert query(warehouse, "SELECT future_stamped_rows, problem_rows FROM meta.source_reads WHERE run_id = ? "
                            "AND source = 'beskaeftigelse' AND source_table = 'ydelse'", [first.run_id]) == [(1, 1)]

    changed = int(query(warehouse, "SELECT max(CAST(record_id AS BIGINT)) FROM staging.interventions "
                                   "WHERE source = 'beskaeftigelse' AND source_table = 'ydelse'")[0][0])
    _sql(db, "UPDATE ydelse SET beloeb_pr_maaned = 4321.5, sidst_aendret = ? WHERE ydelse_id = ?", (_now_text(), changed))
    second = run(sources, warehouse)
    assert query(warehouse, "SELECT mode FROM meta.source_reads WHERE run_id = ? AND source = 'beskaeftigelse' "
                            "AND source_table = 'ydelse'", [second.run_id]) == [("incremental",)]
    assert query(warehouse, "SELECT CAST(monthly_cost AS DOUBLE) FROM staging.interventions WHERE source = 'beskaeftigelse' "
                            "AND source_table = 'ydelse' AND record_id = ?", [str(changed)]) == [(4321.5,)]


def test_deleted_consents_and_rows_disappear_and_a_shrunk_or_emptied_registry_fails_closed(small_municipality, tmp_path):
    sources = copy_sources(small_municipality, tmp_path / "src")
    registry, department = sources / "samtykke.sqlite", sources / "beskaeftigelse.sqlite"
    warehouse = tmp_path / "w.duckdb"
    run(sources, warehouse)
    sid = query(warehouse, "SELECT split_part(substr(basis, 10), '@', 1) FROM unified.access_grants "
                           "WHERE basis LIKE 'samtykke:%' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")[0][0]
    gone_row = _sql(department, "SELECT min(ydelse_id) FROM ydelse")[0][0]
    assert query(warehouse, "SELECT count(*) FROM staging.interventions WHERE source = 'beskaeftigelse' "
                            "AND source_table = 'ydelse' AND record_id = ?", [str(gone_row)]) == [(1,)]

    # One consent deleted (its scope rows left behind, as a registry without cascading deletes does) and one
    # departmental row deleted; then the default (incremental) run.
    _sql(registry, "DELETE FROM samtykke WHERE samtykke_id = ?", (sid,))
    _sql(department, "DELETE FROM ydelse WHERE ydelse_id = ?", (gone_row,))
    second = run(sources, warehouse)
    assert query(warehouse, "SELECT reason FROM consent.run_status WHERE run_id = ?", [second.run_id]) == [(None,)]
    assert query(warehouse, "SELECT count(*) FROM unified.access_grants WHERE basis LIKE ?", [f"samtykke:{sid}@%"]) == [(0,)]
    assert query(warehouse, "SELECT count(*) FROM staging.consents WHERE samtykke_id = ?", [sid]) == [(0,)]
    assert query(warehouse, "SELECT count(*) FROM staging.interventions WHERE source = 'beskaeftigelse' "
                            "AND source_table = 'ydelse' AND record_id = ?", [str(gone_row)]) == [(0,)]
    deleted = dict(query(warehouse, "SELECT source || '.' || source_table, rows_deleted FROM meta.source_reads "
                                    "WHERE run_id = ? AND rows_deleted > 0", [second.run_id]))
    assert deleted["beskaeftigelse.ydelse"] == 1 and deleted["samtykke.samtykke"] >= 1

    # Half the registry gone at once: fail closed, and stay closed run after run.
    total = _sql(registry, "SELECT count(DISTINCT samtykke_id) FROM samtykke")[0][0]
    _sql(registry, "DELETE FROM samtykke WHERE samtykke_id IN (SELECT DISTINCT samtykke_id FROM samtykke "
                   "ORDER BY samtykke_id LIMIT ?)", (total // 2,))
    for job in ("nightly", "consent_refresh"):
        outcome = run(sources, warehouse, job)
        assert query(warehouse, "SELECT fail_closed, reason FROM consent.run_status WHERE run_id = ?", [outcome.run_id]) == [
            (True, "registry_shrunk")], job
        assert query(warehouse, "SELECT count(*) FROM unified.access_grants WHERE viewer_department <> source_department") == [(0,)]

    # DELETE FROM samtykke, then the default run: fail closed (registry_empty), never "ok with the old grants".
    _sql(registry, "DELETE FROM samtykke")
    emptied = run_job(settings_for(sources, warehouse), "nightly")
    assert emptied.success, emptied.failure
    assert query(warehouse, "SELECT fail_closed, reason FROM consent.run_status WHERE run_id = ?", [emptied.run_id]) == [
        (True, "registry_empty")]
    assert query(warehouse, "SELECT status FROM meta.runs WHERE run_id = ?", [emptied.run_id]) == [("consent_fail_closed",)]
