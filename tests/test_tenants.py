"""Many municipalities on one installation (issue 14): a tenant per kommunekode, each a partition of every asset,
reading only its own sources and writing only under its own folder."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

import duckdb
import pytest

from samlet_overblik.core.settings import SettingsError, load_settings
from samlet_overblik.core.tenants import for_tenant
from samlet_overblik.defs.build import build_defs
from samlet_overblik.runner import run_job
from samlet_overblik.synthetic.denmark import generate_municipalities

AS_OF = dt.date(2026, 11, 1)


def tenant_settings(sources: Path, root: Path, *codes: str, **env: str):
    return load_settings(None, sources_dir=sources, env={"SAMLET_TENANTS": ",".join(codes),
                                                           "SAMLET_WAREHOUSE_ROOT": str(root),
                                                           "SAMLET_REFERENCE_TIME": "2026-11-01T12:00:00", **env})


def cprs_in(path: Path, sql: str) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {r[0] for r in con.execute(sql).fetchall() if r[0]}


def test_a_tenants_settings_are_its_own(tmp_path):
    s = tenant_settings(tmp_path / "src", tmp_path / "wh", "101", "0147")
    assert s.tenants == ("101", "147")
    t = for_tenant(s, "147", env={"SAMLET_147_POLICY_FILE": "/etc/samlet/147.yaml"})
    assert t.tenant == "147" and t.tenants == ()
    assert t.warehouse == tmp_path / "wh" / "147" / "samlet_overblik.duckdb"
    assert t.sources_dir == tmp_path / "src" / "147" and str(t.policy_file) == "/etc/samlet/147.yaml"
    with pytest.raises(SettingsError, match="not one of this installation's tenants"):
        for_tenant(s, "851")
    # A configured source URL is every tenant's only with the placeholder; a tenant may set its own.
    s.source_urls["beskaeftigelse"] = "postgresql://db/kommune_{kommunekode}"
    assert for_tenant(s, "101", env={}).source_urls["beskaeftigelse"] == "postgresql://db/kommune_101"
    own = {"SAMLET_101_SOURCE_BESKAEFTIGELSE_URL": "postgresql://other/jobcenter"}
    assert for_tenant(s, "101", env=own).source_urls["beskaeftigelse"] == "postgresql://other/jobcenter"
    s.source_urls["beskaeftigelse"] = "postgresql://db/shared"
    with pytest.raises(SettingsError, match="would mix the municipalities' data"):
        for_tenant(s, "101", env={})
    with pytest.raises(SettingsError, match="ukendt kommunekode"):
        tenant_settings(tmp_path, tmp_path, "101", "999")


def test_every_asset_is_partitioned_by_tenant_only_when_tenants_are_configured():
    many = build_defs(tenants=("825", "563"))
    assert many.resolve_job_def("nightly").partitions_def.get_partition_keys() == ["825", "563"]
    assert all(a.partitions_def is not None for a in many.resolve_all_asset_specs())
    assert build_defs(tenants=()).resolve_job_def("nightly").partitions_def is None


def test_tenants_are_isolated_and_one_failing_fails_alone(tmp_path):
    sources, root = tmp_path / "sources", tmp_path / "wh"
    generate_municipalities(["825", "563"], 0.03, 5, sources, as_of=AS_OF)
    # 741 holds the very same people as 825 (a person registered in two municipalities) ...
    shutil.copytree(sources / "825", sources / "741")
    # ... and 791's consent registry is garbage.
    shutil.copytree(sources / "563", sources / "791")
    (sources / "791" / "samtykke.sqlite").write_bytes(b"this is not a database" * 50)
    settings = tenant_settings(sources, root, "825", "563", "741", "791", SAMLET_ANALYTICS_KEY="k" * 40)
    outcomes = {code: run_job(settings, "nightly", partition=code) for code in ("825", "563", "741", "791")}
    assert all(outcomes[c].success for c in ("825", "563", "741")), {c: o.failure for c, o in outcomes.items()}

    db = {c: root / c / "samlet_overblik.duckdb" for c in outcomes}
    assert all(db[c].is_file() for c in ("825", "563", "741"))
    assert not (root / "samlet_overblik.duckdb").exists()  # nothing outside the tenants' folders
    # Each tenant's warehouse and exports hold its own citizens only.
    register = {c: cprs_in(db[c], "SELECT cpr FROM staging.cpr_persons") for c in ("825", "563")}
    assert register["825"] and register["563"] and not register["825"] & register["563"]
    for code, other in (("825", "563"), ("563", "825")):
        for export in (root / code / "exports").glob("*.duckdb"):
            assert not cprs_in(export, "SELECT cpr FROM interventions") & register[other], export.name
    # The same people in two municipalities: two unrelated sets of person keys.
    keys = {c: cprs_in(db[c], "SELECT person_key FROM identity.person_keys") for c in ("825", "741")}
    assert keys["825"] and not keys["825"] & keys["741"]
    assert cprs_in(db["825"], "SELECT cpr FROM identity.person_keys") == \
        cprs_in(db["741"], "SELECT cpr FROM identity.person_keys")
    # 791 (563's people, its consent registry garbage) degrades alone: it publishes what the law shares and no
    # consent-based datum, where 563 shares on consents too.
    consented = "SELECT record_id FROM consent.record_decisions WHERE decision = 'admitted' AND basis LIKE 'samtykke%'"
    assert outcomes["791"].success and db["791"].is_file()
    assert cprs_in(db["563"], consented) and not cprs_in(db["791"], consented)


def _nightly_requests(defs):
    import dagster as dg

    schedule = defs.resolve_schedule_def("nightly_schedule")
    when = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)
    with dg.instance_for_test() as instance, dg.build_schedule_context(
            instance, scheduled_execution_time=when, repository_def=defs.get_repository_def()) as context:
        return schedule.evaluate_tick(context).run_requests


def test_the_nightly_schedule_requests_a_run_per_tenant_or_per_group(monkeypatch):
    import dagster as dg

    from samlet_overblik.defs.resources import RANGE_END_TAG, RANGE_START_TAG, run_tenants

    requests = _nightly_requests(build_defs(tenants=("825", "563")))
    assert [r.partition_key for r in requests] == ["825", "563"]
    assert len({r.run_key for r in requests}) == 2
    # Three small municipalities, two a run (the backfill policy's setting): a run of a range of partitions, then one.
    monkeypatch.setenv("SAMLET_TENANTS_PER_RUN", "2")
    tenants = ("825", "563", "741")
    defs = build_defs(tenants=tenants)
    requests = _nightly_requests(defs)
    assert [run_tenants({**r.tags, **({"dagster/partition": r.partition_key} if r.partition_key else {})}, tenants)
            for r in requests] == [("825", "563"), ("741",)]
    assert requests[0].tags[RANGE_START_TAG] == "825" and requests[0].tags[RANGE_END_TAG] == "563"
    assert {a.backfill_policy for a in defs.assets} == {dg.BackfillPolicy.multi_run(2)}


def test_all_tenants_run_through_a_dagster_backfill_and_a_failing_one_fails_alone(tmp_path):
    """The three in one run (the backfill policy); it fails, as a group does when one of its municipalities fails;
    the three are run again one by one, and only the failing one fails."""
    import os
    import subprocess
    import sys

    sources, root = tmp_path / "sources", tmp_path / "wh"
    generate_municipalities(["825", "563"], 0.03, 5, sources, as_of=AS_OF)
    shutil.copytree(sources / "825", sources / "741")
    (sources / "741" / "cpr.sqlite").unlink()  # its person register is down
    past = time.time() - 60  # settled files (a SQLite file's fingerprint is trusted once it has been still)
    for f in sources.rglob("*.sqlite"):
        os.utime(f, (past, past))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAMLET_", "DAGSTER_"))}
    env.update(SAMLET_ANALYTICS_KEY="k" * 40, SAMLET_REFERENCE_TIME="2026-11-01T12:00:00", COLUMNS="200")

    def fan_out() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "samlet_overblik.cli", "run", "--all-tenants", "--sources",
                               str(sources), "--warehouse-root", str(root), "--workers", "2", "--tenants-per-run",
                               "3"], capture_output=True, text=True, timeout=600, env=env)

    out = fan_out()
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert "563: success" in out.stdout and "825: success" in out.stdout and "741: failure" in out.stdout, lines
    assert "2 of 3 municipalities published" in out.stdout and "(4 runs," in out.stdout and "failed: 741" in out.stdout
    assert out.stdout.count(": failure") == 4  # the group's run, for each of the three, then 741's own
    assert (root / "825" / "samlet_overblik.duckdb").is_file() and (root / "563" / "exports").is_dir()
    assert not (root / "741" / "samlet_overblik.duckdb").exists()
    # Again, nothing changed: the two published are current and left as they are; 741 alone is run (and fails).
    again = fan_out()
    assert again.returncode == 1, again.stdout + again.stderr
    assert "825: uændret" in again.stdout and "563: uændret" in again.stdout and "741: failure" in again.stdout
    assert "0 of 3 municipalities published, 2 unchanged" in again.stdout and "(1 runs," in again.stdout


def test_the_fan_out_refuses_in_one_line(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAMLET_", "DAGSTER_"))}

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "samlet_overblik.cli", "run", "--sources", str(tmp_path), *args],
                              capture_output=True, text=True, timeout=120, env={**env, **extra})

    nothing = run("--all-tenants")  # no tenants configured, no folder named by a kommunekode
    assert nothing.returncode == 2 and len(nothing.stderr.strip().splitlines()) == 1
    assert "no tenants" in nothing.stderr
    alone = run(SAMLET_TENANTS="101")  # tenants, but a run of one municipality's kind
    assert alone.returncode == 2 and "run them with --all-tenants" in alone.stderr


def test_the_fan_outs_own_instance_only_builds(tmp_path, monkeypatch):
    """The temporary instance of `run --all-tenants` queues the runs and keeps nothing else going: the consent sensor
    does not start in it (the daemon would otherwise read every tenant's registry every few seconds) and the steps'
    output is not captured (the instance is deleted afterwards). An operator's instance starts the sensor."""
    import os

    import dagster as dg
    from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager

    from samlet_overblik import fanout
    from samlet_overblik.core.settings import load_settings
    from samlet_overblik.defs.build import build_defs
    from samlet_overblik.defs.sensors import SENSOR_NAME

    settings = load_settings(None, sources_dir=tmp_path, env={})
    settings.tenants = ("101", "147")

    def sensor_status(env: dict[str, str]) -> dg.DefaultSensorStatus:
        for key in [k for k in os.environ if k.startswith("SAMLET_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            if key.startswith("SAMLET_"):
                monkeypatch.setenv(key, value)
        return build_defs().resolve_sensor_def(SENSOR_NAME).default_status

    temporary = fanout._environment(settings, settings.tenants, tmp_path, workers=3)
    operators = fanout._environment(settings, settings.tenants, tmp_path)  # DAGSTER_HOME set: no workers of its own
    assert sensor_status(temporary) == dg.DefaultSensorStatus.STOPPED
    assert sensor_status(operators) == dg.DefaultSensorStatus.RUNNING
    fanout._temporary_instance(tmp_path, 3)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.compute_log_manager, NoOpComputeLogManager)
        assert instance.run_coordinator.get_run_queue_config().max_concurrent_runs == 3


def test_the_fan_outs_instance_folder_goes_even_while_a_finished_run_still_writes_to_it():
    """A run's process may still be closing its event log after it reported its end; removing the temporary instance
    under it used to fail the whole fan-out ("Directory not empty: 'history'") after every municipality had published."""
    import subprocess
    import sys

    from samlet_overblik import fanout

    with fanout._scratch_home() as home:
        runs = home / "history" / "runs"
        runs.mkdir(parents=True)
        # A late writer: adds files to the folder as fast as it can for a second after the fan-out is done with it
        # (the plain removal of a temporary directory fails on this every time).
        writer = subprocess.Popen([sys.executable, "-c", (
            "import pathlib, time, sys\n"
            "d = pathlib.Path(sys.argv[1]); end = time.monotonic() + 1.0\n"
            "while time.monotonic() < end:\n"
            "    try: (d / f'{time.monotonic_ns()}.db').write_bytes(b'x')\n"
            "    except OSError: break\n"), str(runs)])
        time.sleep(0.2)
    writer.wait(timeout=30)
    assert writer.returncode == 0
    assert not home.exists()


def test_the_fan_outs_runs_share_the_cores_unless_threads_are_set(tmp_path, monkeypatch):
    """Its own instance runs `workers` runs at once: each run's DuckDB gets the cores divided by them; a threads
    setting wins; an operator's instance (DAGSTER_HOME) sizes its own queue, so nothing is set for it."""
    import os

    from samlet_overblik import fanout

    monkeypatch.delenv("SAMLET_THREADS", raising=False)
    s = tenant_settings(tmp_path / "src", tmp_path / "wh", "101", "147")
    cores = os.cpu_count() or 1
    assert fanout._environment(s, s.tenants, tmp_path, 2)["SAMLET_THREADS"] == str(max(1, cores // 2))
    assert fanout._environment(s, s.tenants, tmp_path, cores * 4)["SAMLET_THREADS"] == "1"
    assert "SAMLET_THREADS" not in fanout._environment(s, s.tenants, tmp_path, None)
    mine = tenant_settings(tmp_path / "src", tmp_path / "wh", "101", "147", SAMLET_THREADS="3")
    assert fanout._environment(mine, mine.tenants, tmp_path, 2)["SAMLET_THREADS"] == "3"


def test_no_tenants_password_sits_in_the_definitions(tmp_path, monkeypatch):
    from samlet_overblik.defs.resources import resources_for

    monkeypatch.setenv("SAMLET_SOURCE_BESKAEFTIGELSE_URL", "postgresql://reader:shared-pw@db/kommune_{kommunekode}")
    monkeypatch.setenv("SAMLET_101_SOURCE_CPR_URL", "postgresql://reader:own-pw@cpr/register")
    settings = load_settings(None, sources_dir=tmp_path, env={
        "SAMLET_TENANTS": "101,147", "SAMLET_WAREHOUSE_ROOT": str(tmp_path),
        "SAMLET_SOURCE_BESKAEFTIGELSE_URL": "postgresql://reader:shared-pw@db/kommune_{kommunekode}"})
    resources = resources_for(settings)
    assert "-pw" not in repr(resources)
    jobcentre, register = resources["source_beskaeftigelse"], resources["source_cpr"]
    assert jobcentre.connection_url("147") == "postgresql://reader:shared-pw@db/kommune_147"
    assert register.connection_url("101") == "postgresql://reader:own-pw@cpr/register"
    assert register.connection_url("147").startswith("sqlite:///") and "/147/" in register.connection_url("147")


def test_the_consent_sensor_refreshes_only_the_tenant_whose_registry_changed(tmp_path):
    import dagster as dg
    import sqlalchemy as sa

    from samlet_overblik.consent.watcher import load_revocations
    from samlet_overblik.defs.resources import RANGE_END_TAG, RANGE_START_TAG, resources_for

    sources, root = tmp_path / "sources", tmp_path / "wh"
    generate_municipalities(["825", "563"], 0.05, 3, sources, as_of=dt.date.today())
    settings = load_settings(None, sources_dir=sources, env={"SAMLET_TENANTS": "825,563",
                                                             "SAMLET_WAREHOUSE_ROOT": str(root),
                                                             "SAMLET_ANALYTICS_KEY": "k" * 40})
    for code in ("825", "563"):
        assert run_job(settings, "nightly", partition=code).success
    resources = resources_for(settings)
    defs = build_defs(resource_overrides=resources, tenants=settings.tenants)
    sensor = defs.resolve_sensor_def("consent_registry_sensor")
    needed = {k: resources[k] for k in ("source_samtykke", "warehouse", "run_settings")}

    def evaluate(instance):
        with dg.build_sensor_context(instance=instance, resources=needed,
                                     repository_def=defs.get_repository_def()) as context:
            return sensor.evaluate_tick(context)

    with dg.instance_for_test() as instance:
        assert not evaluate(instance).run_requests  # both tenants' exports match their registries
        published = root / "563" / "samlet_overblik.duckdb"
        with duckdb.connect(str(published), read_only=True) as con:
            sid = con.execute("SELECT split_part(basis, '@', 1) FROM unified.access_grants WHERE basis LIKE "
                              "'samtykke:%' ORDER BY 1 LIMIT 1").fetchall()[0][0].removeprefix("samtykke:")
        engine = sa.create_engine(f"sqlite:///{sources / '563' / 'samtykke.sqlite'}")
        withdrawn = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE samtykke SET tilbagekaldt_tid = :t WHERE samtykke_id = :s"),
                         {"t": withdrawn, "s": sid})
        engine.dispose()
        # While a run of a group holding 563 has not finished, the refresh waits for it (lookups hide the
        # withdrawal meanwhile); then it is requested for 563 alone.
        group = instance.add_run(dg.DagsterRun(job_name="nightly", run_id="a-group-run", status=dg.DagsterRunStatus.STARTED,
                                               tags={RANGE_START_TAG: "825", RANGE_END_TAG: "563"}))
        assert not evaluate(instance).run_requests
        assert load_revocations(published).entries
        assert not load_revocations(root / "825" / "samlet_overblik.duckdb").entries
        instance.report_run_canceled(group)
        requests = evaluate(instance).run_requests
        assert [r.partition_key for r in requests] == ["563"]


def test_a_run_with_tenants_but_no_partition_fails_and_writes_nothing(tmp_path):
    settings = tenant_settings(tmp_path / "sources", tmp_path / "wh", "825", "563")
    outcome = run_job(settings, "nightly")  # no partition: which municipality's files would it touch?
    assert not outcome.success and "needs its partition" in (outcome.failure or "")
    assert not (tmp_path / "wh").exists()
