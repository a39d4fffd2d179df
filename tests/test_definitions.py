"""The Dagster code location: loads, every asset documented and grouped; schedule and sensor evaluate."""

from __future__ import annotations

import json

import dagster as dg
import sqlalchemy as sa

from samlet_overblik.definitions import defs
from samlet_overblik.orchestration.build import build_defs
from samlet_overblik.orchestration.resources import SourceSystem

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


def test_consent_sensor_fires_on_registry_change_only(tmp_path):
    url = f"sqlite:///{tmp_path / 'samtykke.sqlite'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE samtykke (samtykke_id TEXT, version INT, opdateret_tid TEXT)"))
        conn.execute(sa.text("INSERT INTO samtykke VALUES ('S1', 1, '2026-11-01 10:00:00')"))
    local = build_defs(resource_overrides={"source_samtykke": SourceSystem(name="samtykke", url=url)})
    sensor = local.resolve_sensor_def("consent_registry_sensor")
    resources = {"source_samtykke": SourceSystem(name="samtykke", url=url)}

    with dg.build_sensor_context(resources=resources) as ctx:
        first = sensor.evaluate_tick(ctx)
    assert len(first.run_requests) == 1 and first.cursor
    with dg.build_sensor_context(cursor=first.cursor, resources=resources) as ctx:
        unchanged = sensor.evaluate_tick(ctx)
    assert not unchanged.run_requests
    with engine.begin() as conn:  # a withdrawal is written
        conn.execute(sa.text("UPDATE samtykke SET opdateret_tid = '2026-11-02 08:00:00'"))
    with dg.build_sensor_context(cursor=first.cursor, resources=resources) as ctx:
        changed = sensor.evaluate_tick(ctx)
    assert len(changed.run_requests) == 1 and json.loads(changed.cursor) != json.loads(first.cursor)
    engine.dispose()


def test_consent_sensor_skips_when_registry_unreachable():
    url = "postgresql+psycopg2://x:hemmeligt@127.0.0.1:1/none?connect_timeout=1"
    local = build_defs(resource_overrides={"source_samtykke": SourceSystem(name="samtykke", url=url)})
    sensor = local.resolve_sensor_def("consent_registry_sensor")
    with dg.build_sensor_context(resources={"source_samtykke": SourceSystem(name="samtykke", url=url)}) as ctx:
        result = sensor.evaluate_tick(ctx)
    assert not result.run_requests and "hemmeligt" not in (result.skip_message or "")


def test_consent_sensor_is_not_blinded_by_a_stamp_in_the_future(tmp_path):
    # Finding 1: the fingerprint was max(opdateret_tid) and the row count; one row stamped 2099 (or a garbage stamp,
    # which sorts after every date as text) hid every later withdrawal from the sensor.
    from samlet_overblik.orchestration.sensors import registry_fingerprint

    url = f"sqlite:///{tmp_path / 'samtykke.sqlite'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE samtykke (samtykke_id TEXT, version INT, tilbagekaldt_tid TEXT, opdateret_tid TEXT)"))
        conn.execute(sa.text("INSERT INTO samtykke VALUES ('S1', 1, NULL, '2026-11-01 10:00:00'), "
                             "('S2', 1, NULL, '2099-01-01 00:00:00'), ('S3', 1, NULL, 'garbage')"))
    before = registry_fingerprint(url)
    with engine.begin() as conn:  # a withdrawal, stamped now
        conn.execute(sa.text("UPDATE samtykke SET tilbagekaldt_tid = '2026-11-02 08:00:00', opdateret_tid = '2026-11-02 08:00:00' "
                             "WHERE samtykke_id = 'S1'"))
    after_withdrawal = registry_fingerprint(url)
    assert after_withdrawal != before
    with engine.begin() as conn:  # a hard delete
        conn.execute(sa.text("DELETE FROM samtykke WHERE samtykke_id = 'S3'"))
    assert registry_fingerprint(url) not in (before, after_withdrawal)
    with engine.begin() as conn:  # a value that is not UTF-8 does not make the registry look unreachable
        conn.execute(sa.text("INSERT INTO samtykke VALUES ('S4', 1, NULL, CAST(:b AS TEXT))"), {"b": b"\xff\xfe"})
    assert registry_fingerprint(url) is not None
    engine.dispose()
