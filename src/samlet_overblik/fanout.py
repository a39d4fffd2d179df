"""All tenants' nightly through Dagster's own machinery: a backfill of the partitioned job over the tenants'
kommunekoder, queued in a Dagster instance and launched by its daemon, each run in a process of its own.

The instance is the operator's (``DAGSTER_HOME``) or, when none is set, a temporary one whose run queue allows
``workers`` runs at once and one run per partition (a tenant is never built twice at the same time). Nothing here
schedules or runs a job itself: it submits the backfill with ``dagster job backfill``, starts ``dagster-daemon`` and
reads the runs' states from the instance until every run has finished.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from samlet_overblik.core.municipalities import municipalities
from samlet_overblik.core.settings import Settings, SettingsError
from samlet_overblik.core.tenants import warehouse_root
from samlet_overblik.defs.resources import PARTITION_TAG

CODE_LOCATION = "samlet_overblik.definitions"
FANOUT_TAG = "samlet/fanout"
# The temporary instance's run queue: `workers` runs at once, one per tenant.
INSTANCE_CONFIG = """\
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


@dataclass
class TenantRun:
    code: str
    status: str  # Dagster's run status: QUEUED, STARTED, SUCCESS, FAILURE, CANCELED, ...
    seconds: float | None = None

    @property
    def done(self) -> bool:
        return self.status in ("SUCCESS", "FAILURE", "CANCELED")


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


def _environment(settings: Settings, tenants: tuple[str, ...], home: Path) -> dict[str, str]:
    """What the code location needs in the daemon's and the runs' processes to build the same definitions."""
    env = dict(os.environ)
    env.update(DAGSTER_HOME=str(home), SAMLET_TENANTS=",".join(tenants),
               SAMLET_WAREHOUSE_ROOT=str(warehouse_root(settings).resolve()),
               SAMLET_SOURCES_DIR=str(settings.sources_dir.resolve()))
    if settings.reference_time:
        env["SAMLET_REFERENCE_TIME"] = settings.reference_time.isoformat()
    return env


def run_all_tenants(settings: Settings, *, workers: int = 2, job: str = "nightly", timeout_s: float = 6 * 3600,
                    on_change: Callable[[TenantRun, list[TenantRun]], None] | None = None) -> list[TenantRun]:
    """Run ``job`` for every tenant through a Dagster instance's queue and daemon; the tenants' final states."""
    import dagster as dg
    from dagster._core.storage.dagster_run import RunsFilter

    tenants = tenants_to_run(settings)
    with tempfile.TemporaryDirectory(prefix="samlet-dagster-") as tmp:
        home = Path(os.environ["DAGSTER_HOME"]) if os.environ.get("DAGSTER_HOME") else Path(tmp)
        if not os.environ.get("DAGSTER_HOME"):
            (home / "dagster.yaml").write_text(INSTANCE_CONFIG.format(workers=int(workers), partition_tag=PARTITION_TAG), encoding="utf-8")
        env = _environment(settings, tenants, home)
        fanout = uuid.uuid4().hex[:12]
        submitted = subprocess.run(
            [sys.executable, "-m", "dagster", "job", "backfill", "-m", CODE_LOCATION, "-j", job,
             "--partitions", ",".join(tenants), "--tags", json.dumps({FANOUT_TAG: fanout}), "--noprompt"],
            env=env, capture_output=True, text=True, timeout=600)
        if submitted.returncode != 0:
            last = (submitted.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"the backfill could not be submitted: {last[:300]}")
        daemon = subprocess.Popen([sys.executable, "-m", "dagster._daemon", "run", "-m", CODE_LOCATION], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            with dg.DagsterInstance.from_config(str(home)) as instance:
                return _follow(instance, RunsFilter(tags={FANOUT_TAG: fanout}), tenants, timeout_s, on_change,
                               alive=lambda: daemon.poll() is None)
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait()


def _follow(instance, runs_filter, tenants: tuple[str, ...], timeout_s: float,
            on_change: Callable[[TenantRun, list[TenantRun]], None] | None, alive: Callable[[], bool]) -> list[TenantRun]:
    state = {code: TenantRun(code, "NOT_SUBMITTED") for code in tenants}
    deadline = time.monotonic() + timeout_s
    while True:
        for run in instance.get_runs(filters=runs_filter):
            code = run.tags.get(PARTITION_TAG)
            if code not in state or state[code].status == run.status.value:
                continue
            record = instance.get_run_record_by_id(run.run_id)
            took = (record.end_time - record.start_time) if record and record.start_time and record.end_time else None
            state[code] = TenantRun(code, run.status.value, took)
            if on_change:
                on_change(state[code], list(state.values()))
        if all(t.done for t in state.values()):
            return list(state.values())
        if not alive():
            raise RuntimeError("the Dagster daemon stopped before every tenant's run had finished")
        if time.monotonic() > deadline:
            raise TimeoutError(f"not every tenant's run finished within {timeout_s:.0f} s")
        time.sleep(1)
