"""Operations: a PostgreSQL-backed Dagster instance records a run; dagster-webserver serves the asset graph;
a seventh source system is added with one spec, one SQL file and one suite."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from samlet_overblik.defs.build import build_defs
from samlet_overblik.core.paths import data_dir
from samlet_overblik.runner import resources_for

from pipeline_helpers import query, run, settings_for

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.integration
def test_postgres_backed_instance_records_a_run(pg_url, small_municipality, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_PG_URL", pg_url)  # postgresql+psycopg2://... (SQLAlchemy 2.1 defaults to psycopg 3)
    settings = settings_for(small_municipality, tmp_path / "w.duckdb")
    defs = build_defs(resource_overrides=resources_for(settings))
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = defs.resolve_job_def("consent_refresh").execute_in_process(instance=instance, raise_on_error=False)
        assert result.success
        runs = instance.get_runs()
        assert [r.run_id for r in runs] == [result.run_id] and runs[0].job_name == "consent_refresh"
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM runs")).scalar() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM event_logs WHERE run_id = :r"), {"r": result.run_id}).scalar() > 10
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_webserver_serves_the_asset_graph(tmp_path):
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "SAMLET_WAREHOUSE": str(tmp_path / "w.duckdb")}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    webserver = Path(sys.executable).with_name("dagster-webserver")
    proc = subprocess.Popen(
        [str(webserver), "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        # Background jobs here inherit SIGINT/SIGTERM as ignored: restore them so the server can be stopped.
        preexec_fn=lambda: (signal.signal(signal.SIGTERM, signal.SIG_DFL), signal.signal(signal.SIGINT, signal.SIG_DFL)),
    )
    try:
        query_body = json.dumps({"query": "{ assetNodes { assetKey { path } groupName } }"}).encode()
        deadline, payload = time.time() + 120, None
        while time.time() < deadline:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=query_body,
                                             headers={"Content-Type": "application/json"})
                payload = json.loads(urllib.request.urlopen(req, timeout=5).read())
                if payload.get("data", {}).get("assetNodes"):
                    break
            except OSError:
                pass
            time.sleep(1)
        assert payload and payload["data"]["assetNodes"], payload
        nodes = {tuple(n["assetKey"]["path"]): n["groupName"] for n in payload["data"]["assetNodes"]}
        assert nodes[("raw", "beskaeftigelse")] == "raw"
        assert nodes[("published", "warehouse")] == "published"
        assert nodes[("consent", "state")] == "consent"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


PPR_SPEC = """
name: ppr
department: boern_familie
description: Pedagogical-psychological counselling (PPR), referrals for children.
default_file: ppr.sqlite
tables:
  indstilling:
    primary_key: [indstilling_id]
    update_stamp: aendret
    columns:
      indstilling_id: INTEGER
      elev_cpr: VARCHAR(11)
      skole: VARCHAR(100)
      modtaget: DATE
      afsluttet: DATE
      psykolog: VARCHAR(100)
      aendret: TIMESTAMP
"""

PPR_SQL = """-- target: staging.interventions
-- source: ppr.indstilling
-- description: PPR referrals; the child is identified by CPR in the same row.
SELECT
    'ppr' AS source, 'indstilling' AS source_table, CAST(r.indstilling_id AS VARCHAR) AS record_id,
    'indstilling' AS person_table, CAST(r.indstilling_id AS VARCHAR) AS person_record_id,
    'boern_familie' AS department, 'indsatser' AS category, 'indsats' AS kind,
    'PPR-indstilling fra ' || r.skole AS title, 'Folkeskoleloven § 12' AS legal_paragraph,
    parse_date(r.modtaget) AS start_date, parse_date(r.afsluttet) AS end_date, NULL AS monthly_cost,
    r.psykolog AS caseworker, parse_ts(r.aendret) AS updated_at,
    CASE WHEN parse_date(r.modtaget) IS NULL THEN 'unparseable_date'
         WHEN parse_date(r.afsluttet) < parse_date(r.modtaget) THEN 'end_before_start' END AS _reject_reason,
    r AS _raw_row
FROM raw.ppr__indstilling r
"""

PPR_PERSON_SQL = """-- target: staging.person_records
-- source: ppr.indstilling
-- description: The child of each PPR referral.
SELECT 'ppr' AS source, 'indstilling' AS source_table, CAST(r.indstilling_id AS VARCHAR) AS record_id,
    'boern_familie' AS department, normalise_cpr(r.elev_cpr) AS national_id, cpr_status(normalise_cpr(r.elev_cpr)) AS national_id_status,
    NULL AS given_name, NULL AS family_name, cpr_birth_date(normalise_cpr(r.elev_cpr)) AS birth_date,
    NULL AS sex, NULL AS address, NULL AS postcode, parse_ts(r.aendret) AS updated_at,
    NULL AS _reject_reason, r AS _raw_row
FROM raw.ppr__indstilling r
"""


def test_a_seventh_source_is_one_spec_one_mapping_one_suite(small_municipality, tmp_path, monkeypatch):
    folders = {}
    for name in ("pipelines", "assets", "expectations"):
        folders[name] = tmp_path / name
        shutil.copytree(data_dir(name), folders[name])
        monkeypatch.setenv(f"SAMLET_{name.upper()}_DIR", str(folders[name]))
    (folders["pipelines"] / "ppr.yaml").write_text(PPR_SPEC)
    (folders["assets"] / "staging" / "ppr__indstilling.sql").write_text(PPR_SQL)
    (folders["assets"] / "staging" / "ppr__indstilling_person.sql").write_text(PPR_PERSON_SQL)
    suite = json.loads((folders["expectations"] / "beskaeftigelse.json").read_text())
    suite["name"] = "ppr"
    suite["meta"]["attach_to"] = "staging/ppr__indstilling"
    suite["meta"]["query"] = suite["meta"]["query"].replace("'beskaeftigelse'", "'ppr'")
    suite["expectations"] = [e for e in suite["expectations"] if e["kwargs"].get("column") != "department"]
    (folders["expectations"] / "ppr.json").write_text(json.dumps(suite))

    sources = tmp_path / "sources"
    shutil.copytree(small_municipality, sources)
    child = query_child(sources)
    engine = sa.create_engine(f"sqlite:///{sources / 'ppr.sqlite'}")
    from samlet_overblik.sources.specs import load_source_specs

    spec = load_source_specs()["ppr"]
    spec.metadata().create_all(engine)
    with engine.begin() as conn:
        conn.execute(spec.metadata().tables["indstilling"].insert(), [
            dict(indstilling_id=1, elev_cpr=child, skole="Skt. Hans Skole", modtaget=datetime(2026, 9, 1).date(),
                 afsluttet=None, psykolog="Psykolog Ærø", aendret=datetime(2026, 9, 1)),
            dict(indstilling_id=2, elev_cpr=child, skole="Skt. Hans Skole", modtaget=datetime(2026, 9, 1).date(),
                 afsluttet=datetime(2026, 1, 1).date(), psykolog="x", aendret=datetime(2026, 9, 2)),
        ])
    engine.dispose()

    defs = build_defs()
    assert defs.resolve_assets_def(dg.AssetKey(["raw", "ppr"]))
    warehouse = tmp_path / "w.duckdb"
    run(sources, warehouse)
    assert query(warehouse, "SELECT title, department FROM staging.interventions WHERE source = 'ppr'") == [
        ("PPR-indstilling fra Skt. Hans Skole", "boern_familie")]
    assert query(warehouse, "SELECT reason FROM quarantine.rejected_rows WHERE source = 'ppr'") == [("end_before_start",)]
    assert {m for (m,) in query(warehouse, "SELECT method FROM identity.person_links WHERE source = 'ppr'")} == {"cpr_exact"}
    assert query(warehouse, "SELECT count(*) FROM quality.validation_results WHERE suite = 'ppr'")[0][0] > 0
    export = tmp_path / "exports" / "boern_familie.duckdb"
    assert query(export, "SELECT basis FROM interventions WHERE source = 'ppr'") == [("lov:egen_afdeling",)]


def query_child(sources: Path) -> str:
    engine = sa.create_engine(f"sqlite:///{sources / 'cpr.sqlite'}")
    with engine.connect() as conn:
        cpr = conn.execute(sa.text("SELECT cpr FROM personer WHERE foedselsdato > '2012-01-01' AND status = 'aktiv' LIMIT 1")).scalar()
    engine.dispose()
    return cpr


def test_a_newcomer_validates_the_code_location_from_the_repository_root():
    """`dagster definitions validate -w workspace.yaml` (what `dagster dev` loads) with no DAGSTER_*/SAMLET_* set:
    the production instance (PostgreSQL, DAGSTER_PG_URL) must not be picked up from the working directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "SAMLET_"))}
    out = subprocess.run([str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-w", "workspace.yaml"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "DAGSTER_PG_URL" not in out.stdout + out.stderr
