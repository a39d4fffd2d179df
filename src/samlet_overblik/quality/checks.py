"""Data quality with Great Expectations: the suites in ``expectations/`` validated on frames read from DuckDB.

A suite file is a GX 1.x expectation suite (JSON) whose ``meta.query`` is the DuckDB query that yields the
batch and whose ``meta.attach_to`` names the asset it checks. Each expectation's ``meta.severity`` is
``critical`` (blocks publishing) or ``warning``. GX validates pandas frames (its SQL datasource gives wrong
results on DuckDB, GE issues #11579/#10738). Only counts are kept — never unexpected values.

A suite is not validated again on the very same batch: when the rows its query yields, the suite file and this
package's version are what they were at an earlier validation whose results are still kept, those results are
the run's (copied under its run id).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import duckdb

from samlet_overblik import __version__
from samlet_overblik.core.paths import data_dir
from samlet_overblik.core.sql import content_fingerprint
from samlet_overblik.core.warehouse import transaction

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    query: str
    attach_to: str
    description: str
    doc: dict = field(repr=False, hash=False, compare=False)


@dataclass
class ExpectationOutcome:
    expectation: str
    kwargs: dict
    severity: str
    success: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None


@dataclass
class SuiteOutcome:
    suite: str
    outcomes: list[ExpectationOutcome]

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "critical"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity != "critical"]


def load_suites(folder: Path | None = None) -> list[Suite]:
    folder = folder or data_dir("expectations")
    suites = []
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        meta = doc.get("meta") or {}
        if "query" not in meta or "attach_to" not in meta:
            raise ValueError(f"{path.name}: suite meta needs 'query' and 'attach_to'")
        suites.append(Suite(doc.get("name", path.stem), path, meta["query"], meta["attach_to"], meta.get("description", ""), doc))
    return suites


_GX_LOCK = threading.Lock()


def preload_in_background() -> None:
    """Import GX and build its context in a thread: it takes seconds, and a run's first steps (reading sources,
    copying the warehouse) leave a core free. The first suite then finds it ready."""
    threading.Thread(target=_batch_definition, name="gx-preload", daemon=True).start()


def _batch_definition():
    with _GX_LOCK:
        return _make_batch_definition()


@lru_cache(maxsize=1)
def _make_batch_definition():
    import great_expectations as gx
    from great_expectations.execution_engine import pandas_execution_engine

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    # GX fingerprints every pandas batch below this size with an md5 over the whole frame (a batch marker this
    # project never reads): 4.8 s of the 5.3 s a one-expectation suite takes on 1.5 million access grants.
    pandas_execution_engine.HASH_THRESHOLD = 0
    context = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # progress bars are cosmetic
        pass
    source = context.data_sources.add_pandas("warehouse")
    return source.add_dataframe_asset("frame").add_batch_definition_whole_dataframe("whole")


def validate_frame(suite: Suite, frame) -> SuiteOutcome:
    """Validate a pandas frame with GX's own validation API."""
    # GX first, whole (a preload may be importing it in another thread; its expectations register as it does).
    batch_definition = _batch_definition()
    from great_expectations.core.expectation_suite import ExpectationSuite

    gx_suite = ExpectationSuite(name=suite.name, expectations=suite.doc["expectations"], meta=suite.doc.get("meta"))
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    # BASIC: the counts kept here (element, unexpected, percent) without SUMMARY's value tallies and index lists,
    # which this project never keeps: the same outcomes in a third to half of the time on a municipality's batches.
    result = batch.validate(gx_suite, result_format="BASIC")
    outcomes = []
    for r in result.results:
        cfg = r.expectation_config
        res = r.result or {}
        outcomes.append(
            ExpectationOutcome(
                expectation=cfg.type,
                kwargs={k: v for k, v in cfg.kwargs.items() if k not in ("batch_id",)},
                severity=(cfg.meta or {}).get("severity", "critical"),
                success=bool(r.success),
                element_count=res.get("element_count"),
                unexpected_count=res.get("unexpected_count"),
                unexpected_percent=res.get("unexpected_percent"),
            )
        )
    return SuiteOutcome(suite.name, outcomes)


def _compact(frame, suite: Suite) -> None:
    """Text columns that repeat a few values (bases, departments, purposes) become pandas categoricals: GX's string
    expectations then work once per distinct value instead of once per row. Same values (nulls stay nulls), same
    outcomes; columns compared pairwise stay text (categoricals do not order)."""
    paired = {e["kwargs"].get(k) for e in suite.doc["expectations"] for k in ("column_A", "column_B")}
    for name in frame.columns:
        column = frame[name]
        if column.dtype != object or name in paired or len(column) < 10_000:
            continue
        # Counted first (one hashing pass): a categorical of a mostly distinct column (a key, a CPR number) sorts
        # every value only to be thrown away, 1.6 s for the person keys of 380,000 citizens.
        if column.nunique() <= len(column) // 10:
            frame[name] = column.astype("category")


def _batch_fingerprint(con: duckdb.DuckDBPyConnection, suite: Suite) -> str:
    parts = [__version__, suite.path.read_text(encoding="utf-8"), content_fingerprint(con, f"({suite.query})")]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _earlier_outcome(con: duckdb.DuckDBPyConnection, suite: Suite, fingerprint: str, run_id: str) -> SuiteOutcome | None:
    """The outcome of an earlier validation of this very batch, copied to ``run_id``; None when there is none."""
    row = con.execute("SELECT run_id FROM quality.validated_inputs WHERE suite = ? AND fingerprint = ?",
                      [suite.name, fingerprint]).fetchall()
    if not row or row[0][0] == run_id:
        return None
    earlier = con.execute(
        "SELECT expectation, kwargs, severity, success, element_count, unexpected_count, unexpected_percent "
        "FROM quality.validation_results WHERE run_id = ? AND suite = ?", [row[0][0], suite.name]).fetchall()
    if not earlier:
        return None
    with transaction(con):
        con.execute("DELETE FROM quality.validation_results WHERE run_id = ? AND suite = ?", [run_id, suite.name])
        columns = "suite, expectation, kwargs, severity, success, element_count, unexpected_count, unexpected_percent"
        con.execute(
            f"INSERT INTO quality.validation_results (run_id, {columns}, validated_at) SELECT ?, {columns}, validated_at "
            "FROM quality.validation_results WHERE run_id = ? AND suite = ?", [run_id, row[0][0], suite.name])
    return SuiteOutcome(suite.name, [
        ExpectationOutcome(e, json.loads(k) if k else {}, sev, ok, n, bad, pct)
        for e, k, sev, ok, n, bad, pct in earlier
    ])


def validate_suite(con: duckdb.DuckDBPyConnection, suite: Suite, run_id: str) -> SuiteOutcome:
    fingerprint = _batch_fingerprint(con, suite)
    earlier = _earlier_outcome(con, suite, fingerprint, run_id)
    if earlier is not None:
        return earlier
    frame = con.execute(suite.query).df()
    _compact(frame, suite)
    outcome = validate_frame(suite, frame)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    con.execute("DELETE FROM quality.validation_results WHERE run_id = ? AND suite = ?", [run_id, suite.name])
    con.executemany(
        "INSERT INTO quality.validation_results (run_id, suite, expectation, kwargs, severity, success, element_count, "
        "unexpected_count, unexpected_percent, validated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (run_id, suite.name, o.expectation, json.dumps(o.kwargs, ensure_ascii=False, default=str), o.severity, o.success,
             o.element_count, o.unexpected_count, o.unexpected_percent, now)
            for o in outcome.outcomes
        ],
    )
    # After the results: a run killed in between validates again next time, it never takes over missing results.
    con.execute("INSERT OR REPLACE INTO quality.validated_inputs (suite, fingerprint, run_id) VALUES (?, ?, ?)",
                [suite.name, fingerprint, run_id])
    return outcome


def describe(o: ExpectationOutcome) -> str:
    """One line for the Dagster UI: which expectation failed on which column, and how many rows."""
    target = o.kwargs.get("column") or o.kwargs.get("column_list") or f"{o.kwargs.get('column_A')}/{o.kwargs.get('column_B')}"
    return f"{o.severity}: {o.expectation}({target}) — {o.unexpected_count or 0} of {o.element_count or 0} rows"
