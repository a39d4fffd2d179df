"""Failure cases end to end: registry down (fail closed), a department down (stale, degraded),
two runs at once, a run killed midway, and readers holding the previous files during a publish."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from samlet_overblik.sources.specs import departments
from samlet_overblik.runner import run_job

from pipeline_helpers import query, run, settings_for

DEPARTMENTS = departments()

UNREACHABLE = "postgresql+psycopg2://nobody:hemmeligt@127.0.0.1:1/none?connect_timeout=1"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _exports(warehouse: Path) -> dict[str, tuple[int, str]]:
    out = {}
    for d in DEPARTMENTS:
        p = warehouse.parent / "exports" / f"{d}.duckdb"
        out[d] = (p.stat().st_ino, _digest(p))
    return out


def test_registry_down_fails_closed_and_keeps_exports(small_municipality, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    run(small_municipality, warehouse)
    before = _exports(warehouse)
    outcome = run_job(settings_for(small_municipality, warehouse, samtykke=UNREACHABLE), "nightly")
    assert outcome.success, outcome.failure
    assert query(warehouse, "SELECT status FROM meta.runs WHERE run_id = ?", [outcome.run_id]) == [("consent_fail_closed",)]
    assert query(warehouse, "SELECT fail_closed, reason FROM consent.run_status WHERE run_id = ?", [outcome.run_id]) == [
        (True, "registry_unreachable")]
    assert query(warehouse, "SELECT count(*) FROM unified.access_grants WHERE viewer_department <> source_department")[0][0] == 0
    assert _exports(warehouse) == before  # the published exports are untouched, byte for byte


def test_registry_never_reachable_still_runs_closed(small_municipality, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    outcome = run_job(settings_for(small_municipality, warehouse, samtykke=UNREACHABLE), "nightly")
    assert outcome.success, outcome.failure
    assert query(warehouse, "SELECT status FROM meta.runs") == [("consent_fail_closed",)]
    assert not list((tmp_path / "exports").glob("*.duckdb"))  # nothing was ever published across departments


def test_department_down_reuses_last_snapshot_and_reports_degraded(small_municipality, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    first = run(small_municipality, warehouse)
    rows_before = query(warehouse, "SELECT count(*) FROM staging.interventions WHERE department = 'beskaeftigelse'")[0][0]
    outcome = run_job(settings_for(small_municipality, warehouse, beskaeftigelse=UNREACHABLE), "nightly")
    assert outcome.success, outcome.failure
    status, message = query(warehouse, "SELECT status, message FROM meta.runs WHERE run_id = ?", [outcome.run_id])[0]
    assert status == "degraded" and "beskaeftigelse" in message
    stale = query(warehouse, "SELECT DISTINCT status, loaded_at FROM meta.source_loads WHERE run_id = ? AND source = 'beskaeftigelse'",
                  [outcome.run_id])
    first_load = query(warehouse, "SELECT max(loaded_at) FROM meta.source_loads WHERE run_id = ? AND source = 'beskaeftigelse'",
                       [first.run_id])[0][0]
    assert stale == [("stale", first_load)]  # marked stale, with the date of the data it reuses
    assert query(warehouse, "SELECT count(*) FROM staging.interventions WHERE department = 'beskaeftigelse'")[0][0] == rows_before


def test_unreachable_department_without_snapshot_fails_with_one_line(small_municipality, tmp_path):
    outcome = run_job(settings_for(small_municipality, tmp_path / "w.duckdb", beskaeftigelse=UNREACHABLE), "nightly")
    assert not outcome.success
    assert "beskaeftigelse" in outcome.failure and "hemmeligt" not in outcome.failure and "\n" not in outcome.failure
    assert not (tmp_path / "w.duckdb").exists()


def _cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "samlet_overblik.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def test_second_concurrent_run_is_refused_with_a_clear_message(small_municipality, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    run(small_municipality, warehouse)
    digest = _digest(warehouse)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from samlet_overblik.core import warehouse as w; "
         "w.acquire(Path(sys.argv[1]), 'other'); print('held', flush=True); time.sleep(60)", str(warehouse)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        cli = _cli("run", "--sources", str(small_municipality), "--warehouse", str(warehouse))
        out, err = cli.communicate(timeout=300)
        assert cli.returncode == 2
        # At once, before any step (no ✗ lines), in one Danish line that names no Python class.
        assert err.strip() == ("samlet-overblik: fejl: en anden kørsel bygger allerede lageret w.duckdb; vent til den "
                               "er færdig, og prøv igen"), err
        assert "✗" not in out and "✓" not in out
    finally:
        holder.kill()
        holder.wait()
    assert _digest(warehouse) == digest
    run(small_municipality, warehouse)  # once the other run is gone, runs work again


def test_run_killed_midway_leaves_published_files_intact(small_municipality, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    run(small_municipality, warehouse)
    digest, exports = _digest(warehouse), _exports(warehouse)
    proc = _cli("run", "--sources", str(small_municipality), "--warehouse", str(warehouse), "--full-refresh",
                start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
    deadline = time.time() + 120
    while not list(tmp_path.glob("sets/.building-*")) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # well into ingestion
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _digest(warehouse) == digest and _exports(warehouse) == exports
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM meta.runs").fetchall()[0][0] == 1
    run(small_municipality, warehouse)  # the next run succeeds without manual clean-up
    assert not list(tmp_path.glob("sets/.building-*"))
    assert query(warehouse, "SELECT count(*) FROM meta.runs")[0][0] == 2


def test_readers_keep_their_snapshot_while_a_run_publishes(small_municipality, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    first = run(small_municipality, warehouse)
    export = tmp_path / "exports" / "social_voksen.duckdb"
    held_export = duckdb.connect(str(export), read_only=True)
    held_warehouse = duckdb.connect(str(warehouse), read_only=True)
    # Another process reads the export in a loop throughout the next run.
    reader = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time\n"
         "end = time.time() + 8; n = 0\n"
         "while time.time() < end:\n"
         "    with duckdb.connect(sys.argv[1], read_only=True) as c:\n"
         "        c.execute('SELECT count(*) FROM interventions').fetchall(); n += 1\n"
         "print(n)\n", str(export)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = run(small_municipality, warehouse)  # a nightly run rebuilds every export (consent_refresh reuses unchanged ones)
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    assert int(out) > 0
    # The held connections still read the previous snapshot.
    assert held_export.execute("SELECT run_id FROM export_info").fetchall() == [(first.run_id,)]
    assert held_warehouse.execute("SELECT count(*) FROM meta.runs").fetchall() == [(1,)]
    held_export.close()
    held_warehouse.close()
    assert query(export, "SELECT run_id FROM export_info") == [(second.run_id,)]


def _nightly_through_dagster(settings):
    """The nightly as Dagster runs it (the definitions' resources from the settings), for its checks' evaluations."""
    import dagster as dg

    from samlet_overblik.defs.build import build_defs
    from samlet_overblik.defs.resources import resources_for

    job = build_defs(resource_overrides=resources_for(settings)).resolve_job_def("nightly")
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        return result, {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_a_run_with_a_stale_source_or_no_sources_is_never_a_plain_success(small_municipality, tmp_path):
    import dagster as dg

    warehouse = tmp_path / "w.duckdb"
    run(small_municipality, warehouse)  # every source's last good snapshot
    # One department down: published, degraded; the run_status check fails with WARN and names the source.
    result, checks = _nightly_through_dagster(settings_for(small_municipality, warehouse, beskaeftigelse=UNREACHABLE))
    assert result.success
    status = checks["run_status"]
    assert not status.passed and status.severity == dg.AssetCheckSeverity.WARN
    meta = {k: v.value for k, v in status.metadata.items()}
    assert meta == {"status": "degraded", "stale_sources": "beskaeftigelse", "stale_count": 1,
                    "fail_closed_reason": "none"}
    # `status` says it in Danish, and as JSON.
    cli = _cli("status", "--warehouse", str(warehouse))
    out, err = cli.communicate(timeout=120)
    assert cli.returncode == 0, err
    assert "Seneste kørsel: forringet (forældede kilder)" in out and "forældet kilde: beskaeftigelse, data fra" in out
    cli = _cli("status", "--warehouse", str(warehouse), "--json")
    out, err = cli.communicate(timeout=120)
    report = json.loads(out)
    assert report["seneste_status"] == "degraded" and [s["kilde"] for s in report["foraeldede_kilder"]] == \
        ["beskaeftigelse"]
    assert len(report["koersler"]) == 2 and report["lukket_aarsag"] is None
    # Every source gone: the last good snapshots are reused and consent fails closed: ERROR, with the reason.
    empty = tmp_path / "no_sources"
    empty.mkdir()
    result, checks = _nightly_through_dagster(settings_for(empty, warehouse))
    assert result.success  # published: nothing crosses a department boundary on consent
    status = checks["run_status"]
    assert not status.passed and status.severity == dg.AssetCheckSeverity.ERROR
    meta = {k: v.value for k, v in status.metadata.items()}
    assert meta["status"] == "consent_fail_closed" and meta["stale_count"] == 6
    assert meta["fail_closed_reason"] == "registry_unreachable"
