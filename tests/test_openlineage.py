"""OpenLineage (issue 15): every run emits START and COMPLETE (or FAIL) through openlineage-python's own file
transport, configured by its OPENLINEAGE__TRANSPORT__ variables; COMPLETE names the sources as inputs and every
warehouse and export table as outputs, with schema and row counts and never a value."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from samlet_overblik.quality import openlineage
from samlet_overblik.runner import run_job

from pipeline_helpers import settings_for


@pytest.fixture
def lineage_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "openlineage.jsonl"
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(path))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__APPEND", "true")
    openlineage._client.cache_clear()
    yield path
    openlineage._client.cache_clear()


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_each_run_emits_one_start_and_one_complete_with_its_datasets(small_municipality, tmp_path, lineage_file):
    warehouse = tmp_path / "w.duckdb"
    runs = [run_job(settings_for(small_municipality, warehouse), "nightly") for _ in range(2)]
    assert all(r.success for r in runs), [r.failure for r in runs]
    events = _events(lineage_file)
    for r in runs:
        mine = [e for e in events if e["run"]["runId"] == r.run_id]
        assert sorted(e["eventType"] for e in mine) == ["COMPLETE", "START"]
        assert all(e["job"] == {**e["job"], "namespace": "samlet_overblik", "name": "nightly"} for e in mine)
    complete = next(e for e in events if e["eventType"] == "COMPLETE" and e["run"]["runId"] == runs[1].run_id)
    inputs = {(d["namespace"], d["name"]): d for d in complete["inputs"]}
    registry = f"sqlite://{(small_municipality / 'samtykke.sqlite').resolve()}"
    assert (registry, "samtykke") in inputs
    fields = {f["name"] for f in inputs[(registry, "samtykke")]["facets"]["schema"]["fields"]}
    assert {"samtykke_id", "tilbagekaldt_tid"} <= fields and "_run_id" not in fields
    assert len({ns for ns, _ in inputs}) == 6  # the six sources
    outputs = {(d["namespace"], d["name"]): d for d in complete["outputs"]}
    here = f"duckdb://{warehouse.absolute()}"
    interventions = outputs[(here, "unified.interventions")]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("SELECT count(*) FROM unified.interventions").fetchall()[0][0]
        cprs = {c for (c,) in con.execute("SELECT cpr FROM staging.cpr_persons").fetchall()}
    assert interventions["outputFacets"]["outputStatistics"]["rowCount"] == rows > 0
    described = {f["name"]: f.get("description") for f in interventions["facets"]["schema"]["fields"]}
    assert described["person_key"]  # the data dictionary's description
    exports = {ns for ns, _ in outputs if "/exports/" in ns}
    assert len(exports) == 4 and all(ns.endswith(".duckdb") for ns in exports)
    # Names, types, descriptions and counts: no CPR number of the data anywhere in the events.
    text = lineage_file.read_text(encoding="utf-8")
    assert cprs and not any(c in text for c in cprs)


def test_a_failing_run_emits_fail(small_municipality, tmp_path, lineage_file):
    sources = tmp_path / "sources"
    shutil.copytree(small_municipality, sources)
    (sources / "cpr.sqlite").unlink()  # no register and no snapshot of it: the run fails
    outcome = run_job(settings_for(sources, tmp_path / "w.duckdb"), "nightly")
    assert not outcome.success
    mine = [e for e in _events(lineage_file) if e["run"]["runId"] == outcome.run_id]
    assert [e["eventType"] for e in mine] == ["START", "FAIL"]
    assert mine[1]["run"]["facets"]["errorMessage"]["message"].startswith("step raw__cpr")


def test_nothing_is_sent_unless_openlineage_is_configured(monkeypatch):
    for name in ("OPENLINEAGE__TRANSPORT__TYPE", "OPENLINEAGE_URL", "OPENLINEAGE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # no openlineage.yml here
    monkeypatch.setenv("HOME", str(Path(__file__).parent))
    openlineage._client.cache_clear()
    try:
        assert not openlineage.enabled()
    finally:
        openlineage._client.cache_clear()


def test_command_line_runs_are_recorded_in_the_dagster_instance(small_municipality, tmp_path, monkeypatch):
    """With DAGSTER_HOME the command line's runs (and what they materialised) are the instance's, as the UI shows
    them; without it they go to a temporary instance."""
    import dagster as dg

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    outcome = run_job(settings_for(small_municipality, tmp_path / "w.duckdb"), "nightly")
    assert outcome.success, outcome.failure
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(outcome.run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS and run.job_name == "nightly"
        published = instance.get_latest_materialization_event(dg.AssetKey(["published", "warehouse"]))
        assert published is not None and published.run_id == outcome.run_id


def test_with_tenants_each_municipality_is_a_job_of_its_own_namespace(tmp_path, lineage_file):
    import datetime as dt
    import uuid

    from samlet_overblik.core.settings import load_settings
    from samlet_overblik.synthetic.denmark import generate_municipalities

    generate_municipalities(["147"], 0.005, 2, tmp_path / "sources", as_of=dt.date(2026, 11, 1))
    settings = load_settings(None, sources_dir=tmp_path / "sources", env={
        "SAMLET_TENANTS": "147,825", "SAMLET_WAREHOUSE_ROOT": str(tmp_path / "wh")})
    outcome = run_job(settings, "nightly", partition="147")
    assert outcome.success, outcome.failure
    events = [e for e in _events(lineage_file) if e["job"]["namespace"] == "samlet_overblik/kommune-147"]
    assert sorted(e["eventType"] for e in events) == ["COMPLETE", "START"]
    assert {e["run"]["runId"] for e in events} == {str(uuid.uuid5(uuid.UUID(outcome.run_id), "147"))}
    parent = events[0]["run"]["facets"]["parent"]
    assert parent["run"]["runId"] == outcome.run_id and parent["job"]["name"] == "nightly"
    outputs = next(e for e in events if e["eventType"] == "COMPLETE")["outputs"]
    assert all(str(tmp_path / "wh" / "147") in d["namespace"] for d in outputs)
