"""The Dagster code location: loads, every asset documented and grouped; schedule and sensor evaluate."""

from __future__ import annotations

import dagster as dg
import duckdb
import sqlalchemy as sa

from samlet_overblik.definitions import defs
from samlet_overblik.defs.build import build_defs
from samlet_overblik.defs.resources import SourceSystem

LAYERS = {"raw", "staging", "identity", "consent", "unified", "published"}


def test_definitions_load_and_every_asset_has_group_and_description():
    dg.Definitions.validate_loadable(defs)
    specs = list(defs.resolve_all_asset_specs())
    assert len(specs) > 30
    for spec in specs:
        assert spec.group_name in LAYERS, spec.key
        assert spec.description, spec.key
        assert spec.owners, spec.key
    assert {j.name for j in [defs.resolve_job_def("nightly"), defs.resolve_job_def("consent_refresh")]} == {"nightly", "consent_refresh"}


def test_nightly_schedule_runs_at_two_copenhagen_time():
    schedule = defs.resolve_schedule_def("nightly_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "Europe/Copenhagen"
    ctx = dg.build_schedule_context(scheduled_execution_time=__import__("datetime").datetime(2026, 11, 23, 2, 0))
    result = schedule.evaluate_tick(ctx)
    assert result.run_requests and len(result.run_requests) == 1


def _sensor_world(tmp_path):
    from datetime import date

    from pipeline_helpers import run, settings_for

    from samlet_overblik.synthetic import generate
    from samlet_overblik.runner import resources_for

    sources = tmp_path / "sources"
    generate(400, 9, sources, noise="none", as_of=date(2026, 11, 1))
    warehouse = tmp_path / "wh" / "samlet_overblik.duckdb"
    settings = settings_for(sources, warehouse)
    resources = resources_for(settings)
    local = build_defs(resource_overrides=resources)
    sensor = local.resolve_sensor_def("consent_registry_sensor")
    needed = {k: resources[k] for k in ("source_samtykke", "warehouse", "run_settings")}
    return sources, warehouse, sensor, needed, run


def _evaluate(sensor, resources):
    with dg.build_sensor_context(resources=resources) as ctx:
        return sensor.evaluate_tick(ctx)


def test_consent_sensor_hides_a_withdrawal_and_requests_one_refresh(tmp_path):
    from samlet_overblik.consent.watcher import load_revocations

    sources, warehouse, sensor, resources, run = _sensor_world(tmp_path)
    assert not _evaluate(sensor, resources).run_requests  # nothing published yet
    run(sources, warehouse)
    assert not _evaluate(sensor, resources).run_requests  # the exports match the registry
    engine = sa.create_engine(f"sqlite:///{sources / 'samtykke.sqlite'}")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        sid = con.execute("SELECT split_part(basis, '@', 1) FROM unified.access_grants WHERE basis LIKE 'samtykke:%' "
                          "ORDER BY 1 LIMIT 1").fetchall()[0][0].removeprefix("samtykke:")
    # Finding 1: a row stamped in the future (or a garbage stamp) must not blind the sensor to a later withdrawal.
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE samtykke SET opdateret_tid = '2099-01-01 00:00:00' WHERE samtykke_id <> :s"), {"s": sid})
    run(sources, warehouse, "consent_refresh")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE samtykke SET tilbagekaldt_tid = :t WHERE samtykke_id = :s"),
                     {"t": (__import__("datetime").datetime.utcnow() - __import__("datetime").timedelta(minutes=1))
                      .strftime("%Y-%m-%d %H:%M:%S"), "s": sid})
    first = _evaluate(sensor, resources)
    assert len(first.run_requests) == 1 and first.run_requests[0].run_key.startswith("consent-")
    assert any(e[1].startswith(f"samtykke:{sid}@") for e in load_revocations(warehouse).entries)  # hidden at once
    again = _evaluate(sensor, resources)
    assert again.run_requests[0].run_key == first.run_requests[0].run_key  # one change, one refresh
    run(sources, warehouse, "consent_refresh")
    assert not _evaluate(sensor, resources).run_requests and not load_revocations(warehouse).entries
    engine.dispose()


def test_consent_sensor_skips_when_registry_unreachable(tmp_path):
    from samlet_overblik.consent.watcher import load_revocations

    sources, warehouse, sensor, resources, run = _sensor_world(tmp_path)
    run(sources, warehouse)
    url = "postgresql+psycopg2://x:hemmeligt@127.0.0.1:1/none?connect_timeout=1"
    resources = {**resources, "source_samtykke": SourceSystem(name="samtykke", url=url)}
    result = _evaluate(sensor, resources)
    assert not result.run_requests and "hemmeligt" not in (result.skip_message or "")
    assert load_revocations(warehouse).all_consents  # fail closed at read time


def test_the_code_location_reads_samlet_config_like_the_cli(tmp_path):
    """One settings path: under ``dagster dev`` and the daemon the code location is built from the same settings as
    ``samlet-overblik run`` (SAMLET_CONFIG was never read there). Loaded the way ``dagster dev -w workspace.yaml``
    loads it: the module ``samlet_overblik.definitions`` in a fresh process, from the repository root."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    config = tmp_path / "samlet.yaml"
    config.write_text(
        f"sources_dir: {tmp_path / 'kilder'}\nwarehouse: {tmp_path / 'lager' / 'w.duckdb'}\nkeep_sets: 5\n"
        f"sources:\n  samtykke: sqlite:///{tmp_path / 'register.sqlite'}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAMLET_", "DAGSTER_"))}
    env["SAMLET_CONFIG"] = str(config)
    code = ("from samlet_overblik.definitions import defs\n"
            "r = defs.resources\n"
            "print(r['warehouse'].path, r['warehouse'].keep_sets, r['source_samtykke'].url, r['source_cpr'].url, sep='\\n')\n")
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    warehouse, keep, registry, cpr = out.stdout.split()
    assert warehouse == str(tmp_path / "lager" / "w.duckdb") and keep == "5"
    assert registry == f"sqlite:///{tmp_path / 'register.sqlite'}"
    assert cpr == f"sqlite:///{(tmp_path / 'kilder' / 'cpr.sqlite').resolve()}"


def test_job_yaml_retries_are_the_source_reads_retry_policy():
    from samlet_overblik.sources.specs import load_job_settings

    cfg = load_job_settings()["retries"]
    node = defs.resolve_job_def("nightly").graph.node_dict["raw__samtykke"]
    policy = node.definition.retry_policy
    assert policy.max_retries == cfg["max_retries"] and policy.delay == cfg["delay_seconds"]


def test_the_memory_and_threads_settings_reach_every_warehouse_connection_of_a_run(tmp_path):
    import pytest

    from samlet_overblik.core.settings import SettingsError, load_settings
    from samlet_overblik.defs.resources import resources_for

    settings = load_settings(None, warehouse=tmp_path / "w.duckdb",
                             env={"SAMLET_MEMORY_LIMIT": "300MB", "SAMLET_THREADS": "1"})
    warehouse = resources_for(settings)["warehouse"]
    for run_id in ("run-1", "run-1"):  # the connection the run holds open, then one more of the same run
        with warehouse.connect(run_id) as con:
            limit, threads = con.execute("SELECT current_setting('memory_limit'), current_setting('threads')").fetchall()[0]
        assert limit.endswith("MiB") and 280 <= float(limit.split()[0]) <= 300
        assert threads == 1
    with pytest.raises(SettingsError, match="memory_limit must be a size"):
        load_settings(None, warehouse=tmp_path / "w.duckdb", env={"SAMLET_MEMORY_LIMIT": "lots"})
    with pytest.raises(SettingsError, match="threads must be at least 1"):
        load_settings(None, warehouse=tmp_path / "w.duckdb", env={"SAMLET_THREADS": "0"})
