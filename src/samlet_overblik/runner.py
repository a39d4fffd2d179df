"""Run a job of the code location in-process, with a progress line per finished step.

Used by ``samlet-overblik run`` and ``demo``; the Dagster daemon runs the same jobs on schedule.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import dagster as dg

from samlet_overblik.defs.build import build_defs
from samlet_overblik.defs.resources import resources_for
from samlet_overblik.core.settings import Settings


@dataclass(frozen=True)
class StepDone:
    """A finished step, for a progress display: how long it took and how many rows it handled (read from a source,
    staged, linked or exported; counts from the step's metadata, never a value)."""

    step: str
    succeeded: bool
    seconds: float
    rows: int

    @property
    def rows_per_second(self) -> float | None:
        return self.rows / self.seconds if self.rows and self.seconds > 0 else None


def _rows(metadata: dict) -> int:
    """Rows a step handled: read from a source (``read.*``), else staged, exported or linked (``rows``, ``rows.*``,
    ``records``)."""
    def total(keys) -> int:
        return sum(int(v.value) for k, v in metadata.items() if keys(k) and isinstance(getattr(v, "value", None), int))

    return total(lambda k: k.startswith("read.")) or total(
        lambda k: k in ("rows", "records") or k.startswith("rows."))


@dataclass
class RunOutcome:
    success: bool
    run_id: str
    seconds: float
    failure: str | None = None


class _ProgressHandler(logging.Handler):
    """Turns Dagster's step events into one ``StepDone`` each."""

    def __init__(self, on_step: Callable[[StepDone], None]):
        super().__init__()
        self.on_step = on_step
        self.started: dict[str, float] = {}
        self.rows: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if event is None:
            return
        kind, step = event.event_type_value, event.step_key or ""
        if kind == "STEP_START":
            self.started[step] = record.created
        elif kind == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            self.rows[step] = self.rows.get(step, 0) + _rows(dict(materialization.metadata))
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            self.on_step(StepDone(step, kind == "STEP_SUCCESS", record.created - self.started.get(step, record.created),
                                  self.rows.get(step, 0)))


def run_job(
    settings: Settings,
    job: str = "nightly",
    on_step: Callable[[StepDone], None] | None = None,
    defs: dg.Definitions | None = None,
    partition: str | None = None,
) -> RunOutcome:
    """``partition``: with tenants, the kommunekode this run is for."""
    defs = defs or build_defs(resource_overrides=resources_for(settings), tenants=settings.tenants)
    job_def = defs.resolve_job_def(job)
    started = time.perf_counter()

    # Our own logger replaces Dagster's console logger (named in the run config): one line per finished
    # step when a caller wants progress, silence otherwise; the events still reach the instance.
    handler = _ProgressHandler(on_step) if on_step else logging.NullHandler()

    @dg.logger
    def progress_logger(_init_context):
        log = logging.getLogger("samlet_overblik.progress")
        log.setLevel(logging.DEBUG)
        log.propagate = False
        log.handlers = [handler]
        return log

    job_def = job_def.with_logger_defs({"progress": progress_logger})
    run_config: dict = {"loggers": {"progress": {}}}

    try:
        # With DAGSTER_HOME the runs and materialisations go to that instance, so the UI shows the command line's
        # runs beside the schedule's; without it, a temporary instance.
        with (dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()) \
                as instance:
            result = job_def.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False,
                                                partition_key=partition)
            failure = None if result.success else _first_failure(result)
            outcome = RunOutcome(result.success, result.run_id, time.perf_counter() - started, failure)
    finally:
        # Drop the run's objects now: DuckDB 2.0's bindings report objects still alive at interpreter exit
        # as "leaks" (dozens of lines on stderr after every command).
        logging.getLogger("samlet_overblik.progress").handlers = []
        gc.collect()
    return outcome


# Errors of our own that name a source, table, column, setting or file, never a row's value: their text is kept
# (quoted settings included); numbers that could be a CPR are still taken out.
_OWN_ERRORS = {"Failure", "SourceUnavailable", "StagingFailed", "PolicyError", "SettingsError", "SpecError",
               "RunInProgress", "NothingToRollBack", "UsersError", "AuditUnavailable"}


def _first_failure(result) -> str:
    """One line for the CLI: the failed step and why, with anything that may be a value taken out.

    Our own errors name source, table, column and row key (or a setting) only; any other error text (a driver's,
    DuckDB's, Python's) can quote a row, so its quoted parts and CPR-shaped numbers are taken out (``value_free``)."""
    from samlet_overblik.sources.ingest import value_free

    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            user = event.step_failure_data.user_failure_data
            if user and user.description:
                return f"{event.step_key}: {value_free(user.description, limit=300, keep_quoted=True)}"
            # The innermost cause is the user's error; keep its first line only (no traceback).
            err = event.step_failure_data.error
            while err is not None and err.cause is not None:
                err = err.cause
            own = err is not None and err.cls_name in _OWN_ERRORS
            msg = value_free(err.message or "", limit=300, keep_quoted=own) if err else ""
            return f"{event.step_key}: {msg or 'failed'}"
    return "run failed"


def warehouse_summary(warehouse: Path) -> dict:
    """Rows per source table and quarantined rows by reason, from the published warehouse."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        last_run = con.execute("SELECT run_id FROM meta.runs ORDER BY finished_at DESC LIMIT 1").fetchall()
        run_id = last_run[0][0] if last_run else None
        loads = con.execute(
            "SELECT source, source_table, rows_total, status FROM meta.source_loads WHERE run_id = ? ORDER BY 1, 2",
            [run_id],
        ).fetchall()
        quarantine = con.execute(
            "SELECT source, reason, count(*) FROM quarantine.rejected_rows GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
        status = con.execute("SELECT status, message FROM meta.runs WHERE run_id = ?", [run_id]).fetchall()
    return {"run_id": run_id, "loads": loads, "quarantine": quarantine, "status": status[0] if status else None}
