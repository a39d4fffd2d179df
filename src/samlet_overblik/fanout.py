"""All tenants' nightly through Dagster's own machinery: an asset backfill of the job's assets over the tenants'
kommunekoder, queued in a Dagster instance and launched by its daemon, each run in a process of its own.

The instance is the operator's (``DAGSTER_HOME``) or, when none is set, a temporary one whose run queue allows
``workers`` runs at once and one run per partition (a tenant is never built twice at the same time). The assets'
backfill policy (``tenants_per_run``) lets one run build several small municipalities, one after another. Nothing
here schedules or runs a job itself: it adds the backfill to the instance, starts ``dagster-daemon`` unless one runs
for it already (its backfill loop turns the backfill into runs through the queue) and reads the runs' states from the instance until every run has finished.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

from samlet_overblik.core.municipalities import municipalities
from samlet_overblik.core.settings import Settings, SettingsError
from samlet_overblik.core.tenants import for_tenant, warehouse_root
from samlet_overblik.quality.openlineage import JOB_TAG
from samlet_overblik import changes
from samlet_overblik.defs.resources import PARTITION_TAG, run_tenants

CODE_LOCATION = "samlet_overblik.definitions"
FANOUT_TAG = "samlet/fanout"
# The temporary instance's run queue: `workers` runs at once, one per tenant. Its steps' output is not kept: the
# instance is deleted when the fan-out ends, so capturing it (two mirroring processes a step) would be wasted.
INSTANCE_CONFIG = """\
compute_logs:
  module: dagster._core.storage.noop_compute_log_manager
  class: NoOpComputeLogManager
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: {workers}
    dequeue_interval_seconds: 1
    tag_concurrency_limits:
      - key: "{partition_tag}"
        value:
          applyLimitPerUniqueValue: true
        limit: 1
telemetry:
  enabled: false
"""


# A municipality whose published set is still what a build would make: no run.
UNCHANGED = "UNCHANGED"


@dataclass
class TenantRun:
    code: str
    status: str  # Dagster's run status: QUEUED, STARTED, SUCCESS, FAILURE, CANCELED, ...
    seconds: float | None = None  # of the run it was in (with tenants_per_run > 1, a group's run)
    run_id: str | None = None
    alone: bool = True  # its own run, or a group's
    # The group's run that failed before this one (the municipality was then run alone).
    previous: TenantRun | None = None
    # UNCHANGED: the run whose published set is still current (nothing to build: changes.py).
    published_by: str | None = None

    @property
    def done(self) -> bool:
        return self.status in ("SUCCESS", "FAILURE", "CANCELED", UNCHANGED)

    @property
    def published(self) -> bool:
        """Its published set is this run's result, or was already current."""
        return self.status in ("SUCCESS", UNCHANGED)


def run_seconds(runs: list[TenantRun]) -> dict[str, float]:
    """Each run's own time, once however many municipalities it built (failed groups' runs too), by run id."""
    every = [*runs, *(r.previous for r in runs if r.previous is not None)]
    return {r.run_id: r.seconds or 0.0 for r in every if r.run_id}


def tenants_to_run(settings: Settings) -> tuple[str, ...]:
    """The configured tenants, else every folder of the sources directory named by a listed kommunekode."""
    if settings.tenants:
        return settings.tenants
    listed = municipalities()
    found = tuple(p.name for p in sorted(settings.sources_dir.iterdir()) if p.is_dir() and p.name in listed) \
        if settings.sources_dir.is_dir() else ()
    if not found:
        raise SettingsError(f"no tenants: set tenants (SAMLET_TENANTS) or put a folder per kommunekode in "
                            f"{settings.sources_dir}")
    return found


def _environment(settings: Settings, tenants: tuple[str, ...], home: Path, workers: int | None = None) -> dict[str, str]:
    """What the code location needs in the daemon's and the runs' processes to build the same definitions. With
    ``workers`` (our own instance, whose queue runs that many at once) and no ``threads`` set, each run's DuckDB gets
    its share of the cores: runs that each take every core slow one another down (core.settings.threads)."""
    env = dict(os.environ)
    if settings.threads:
        env["SAMLET_THREADS"] = str(settings.threads)
    elif workers:
        env["SAMLET_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    if workers:
        # Our temporary instance: the daemon records each run's planned materialisations as one event per asset
        # for the run's whole range of municipalities instead of one per asset and municipality (4,410 SQLite
        # writes for Denmark at 10 a run, each run's creation 3.5-6.5 s of the daemon's time while the first runs
        # compete with it for the cores). What this gives up is Dagster's per-partition 'in progress' and
        # 'failed' marks in the UI, which nobody sees for an instance deleted when the fan-out ends; the backfill
        # itself follows the runs' partition ranges, and the fan-out follows the runs.
        env["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] = "true"
        # The consent sensor does not start in it: it would read every tenant's consent registry every few seconds
        # (a third of the fan-out's processor time) and watch over nothing a caseworker reads meanwhile (the consent
        # watcher is the operator's daemon's, or `samlet-overblik watch`). Its default status, so that no process
        # has to load the code location first to stop it (`dagster sensor stop`: 4 s before the daemon could start).
        env["SAMLET_CONSENT_SENSOR"] = "off"
    env.update(DAGSTER_HOME=str(home), SAMLET_TENANTS=",".join(tenants),
               SAMLET_WAREHOUSE_ROOT=str(warehouse_root(settings).resolve()),
               SAMLET_SOURCES_DIR=str(settings.sources_dir.resolve()), SAMLET_TENANTS_PER_RUN=str(settings.tenants_per_run))
    if settings.reference_time:
        env["SAMLET_REFERENCE_TIME"] = settings.reference_time.isoformat()
    return env


def run_all_tenants(settings: Settings, *, workers: int = 2, job: str = "nightly", timeout_s: float = 6 * 3600,
                    on_change: Callable[[TenantRun, list[TenantRun]], None] | None = None,
                    rebuild_unchanged: bool = False) -> list[TenantRun]:
    """Run ``job`` for every tenant through a Dagster instance's queue and daemon; the tenants' final states.

    A nightly skips the municipalities whose published set is still what a build would make (the same day, nothing
    new in any input: ``changes.check``) unless ``rebuild_unchanged``; they come back ``UNCHANGED``.

    One asset backfill over the tenants' partitions: Dagster's backfill policy puts up to ``tenants_per_run`` of
    them in one run. A group's run fails as one; its municipalities are then backfilled again each on its own (a
    backfill of one partition is one run, whatever the policy), so a failing municipality fails alone and the others
    of its group publish."""
    import dagster as dg
    from dagster._core.storage.dagster_run import RunsFilter

    from samlet_overblik.defs.build import build_defs

    tenants = tenants_to_run(settings)
    deadline = time.monotonic() + timeout_s
    state = {code: TenantRun(code, "NOT_SUBMITTED") for code in tenants}
    if job == "nightly" and not rebuild_unchanged:
        served = replace(settings, tenants=tenants)  # the tenants found in the sources folder, when none are set
        for code in tenants:
            verdict = changes.check(for_tenant(served, code))
            if verdict.current:
                state[code] = TenantRun(code, UNCHANGED, published_by=verdict.run_id)
                if on_change:
                    on_change(state[code], list(state.values()))
    to_build = tuple(code for code in tenants if state[code].status == "NOT_SUBMITTED")
    if not to_build:
        return [state[code] for code in tenants]
    defs = build_defs(tenants=tenants)
    fanout = uuid.uuid4().hex[:12]
    operators = os.environ.get("DAGSTER_HOME")
    with (nullcontext(Path(operators)) if operators else _scratch_home()) as home:
        env = _environment(settings, tenants, home, None if operators else workers)
        if not operators:
            _temporary_instance(home, workers)
        with dg.DagsterInstance.from_config(str(home)) as instance, _daemon(instance, env) as alive:
            _add_backfill(instance, defs, job, to_build, {FANOUT_TAG: f"{fanout}-1"})
            _follow(instance, RunsFilter(tags={FANOUT_TAG: f"{fanout}-1"}), tenants, state, deadline, on_change, alive)
            again = [code for code, run in state.items() if run.status != "SUCCESS" and not run.alone]
            for code in again:
                state[code] = TenantRun(code, "NOT_SUBMITTED", previous=state[code])
                _add_backfill(instance, defs, job, (code,), {FANOUT_TAG: f"{fanout}-2"})
            if again:
                _follow(instance, RunsFilter(tags={FANOUT_TAG: f"{fanout}-2"}), tenants, state, deadline, on_change,
                        alive)
        return [state[code] for code in tenants]


@contextmanager
def _scratch_home() -> Iterator[Path]:
    """A folder for the temporary instance, removed afterwards. A run's process that reported its end may still be
    closing its event log when the daemon is stopped; the folder is then removed once it has let go (tries for ten
    seconds). It holds run records, never a value of the data, and failing to remove it never fails a fan-out whose
    runs have all finished."""
    home = Path(tempfile.mkdtemp(prefix="samlet-dagster-"))
    try:
        yield home
    finally:
        for _ in range(20):
            shutil.rmtree(home, ignore_errors=True)
            if not home.exists():
                break
            time.sleep(0.5)


def _temporary_instance(home: Path, workers: int) -> None:
    """A Dagster instance in ``home`` that only builds: its run queue (``workers`` runs at once, one per tenant), no
    captured output; ``_environment`` keeps the consent sensor from starting in it."""
    (home / "dagster.yaml").write_text(INSTANCE_CONFIG.format(workers=int(workers), partition_tag=PARTITION_TAG),
                                       encoding="utf-8")


def _add_backfill(instance, defs, job: str, partitions: tuple[str, ...], tags: dict[str, str]) -> None:
    """An asset backfill of ``job``'s assets over ``partitions``, for the instance's daemon to run."""
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id

    instance.add_backfill(PartitionBackfill.from_asset_partitions(
        backfill_id=make_new_backfill_id(), asset_graph=defs.resolve_asset_graph(), partition_names=list(partitions),
        asset_selection=sorted(defs.resolve_job_def(job).asset_layer.selected_asset_keys),
        backfill_timestamp=time.time(), tags={**tags, JOB_TAG: job}, dynamic_partitions_store=instance,
        all_partitions=False,
        title=f"samlet-overblik {job}: {len(partitions)} municipalities", description=None, run_config=None))


@contextmanager
def _daemon(instance, env: dict[str, str]) -> Iterator[Callable[[], bool]]:
    """The instance's daemon: the operator's when one is running for it, else one of our own for the fan-out (with
    the code location's settings in ``env``); yields whether it is still alive."""
    from dagster._daemon.controller import all_daemons_live

    if all_daemons_live(instance):
        yield lambda: all_daemons_live(instance)
        return
    daemon = subprocess.Popen([sys.executable, "-m", "dagster._daemon", "run", "-m", CODE_LOCATION], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        yield lambda: daemon.poll() is None
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()


def _follow(instance, runs_filter, tenants: tuple[str, ...], state: dict[str, TenantRun], deadline: float,
            on_change: Callable[[TenantRun, list[TenantRun]], None] | None, alive: Callable[[], bool]) -> None:
    """Watch the runs until every municipality in ``state`` that is not done has finished (``state``: updated)."""
    waiting = {code for code, run in state.items() if not run.done}
    while True:
        for run in instance.get_runs(filters=runs_filter):
            codes = run_tenants(run.tags, tenants)
            if not codes or all(state[c].status == run.status.value and state[c].run_id == run.run_id
                                for c in codes if c in state):
                continue
            record = instance.get_run_record_by_id(run.run_id)
            took = (record.end_time - record.start_time) if record and record.start_time and record.end_time else None
            for code in codes:
                if code in waiting:
                    state[code] = TenantRun(code, run.status.value, took, run.run_id, alone=len(codes) == 1,
                                            previous=state[code].previous)
                    if on_change:
                        on_change(state[code], list(state.values()))
        if all(state[c].done for c in waiting):
            return
        if not alive():
            raise RuntimeError("the Dagster daemon stopped before every tenant's run had finished")
        if time.monotonic() > deadline:
            raise TimeoutError("not every tenant's run finished in time")
        time.sleep(1)
