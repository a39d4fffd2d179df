"""What a data engineer sees of the published set: each department's export, the latest runs and what was wrong in
the newest (stale sources, consent failing closed, quarantine, consent latency). Never personal data."""

from __future__ import annotations

import duckdb

from samlet_overblik.access.borger import Stores
from samlet_overblik.access.views import (ConsentLatency, ExportStatus, OperationsStatus, PublishedStatus,
                                          QuarantineChange, RunSummary, StaleSource)
from samlet_overblik.core.labels import DEPARTMENT_NAMES
from samlet_overblik.sources.specs import departments

RUNS_SHOWN = 10


def published_status(stores: Stores) -> PublishedStatus:
    exports = []
    for department in departments():
        path = stores.export(department)
        if not path.is_file():
            exports.append(ExportStatus(DEPARTMENT_NAMES[department], path.name, False))
            continue
        with duckdb.connect(str(path), read_only=True) as con:
            run_id, published = con.execute("SELECT run_id, published_at FROM export_info").fetchall()[0]
            rows = con.execute("SELECT count(*) FROM interventions").fetchall()[0][0]
        exports.append(ExportStatus(DEPARTMENT_NAMES[department], path.name, True, run_id,
                                    published.strftime("%d-%m-%Y %H:%M"), rows))
    runs: list[RunSummary] = []
    if stores.warehouse.is_file():
        with duckdb.connect(str(stores.warehouse), read_only=True) as con:
            runs = [RunSummary(*r) for r in con.execute(
                "SELECT run_id, job, started_at, finished_at, status FROM meta.runs "
                "ORDER BY started_at DESC LIMIT ?", [RUNS_SHOWN]).fetchall()]
    return PublishedStatus(exports, runs)


# Consent changes this recent (by their update stamp) make up the latency figure.
LATENCY_DAYS = 7


def operations_status(warehouse_file) -> OperationsStatus:
    """The runs recorded in the published warehouse and what was wrong in the newest."""
    with duckdb.connect(str(warehouse_file), read_only=True) as con:
        runs = [RunSummary(*r) for r in con.execute(
            "SELECT run_id, job, started_at, finished_at, status FROM meta.runs ORDER BY finished_at DESC LIMIT ?",
            [RUNS_SHOWN]).fetchall()]
        if not runs:
            return OperationsStatus([], None, None, [], None, [], ConsentLatency(0, None, None))
        newest = runs[0].run_id
        message = con.execute("SELECT message FROM meta.runs WHERE run_id = ?", [newest]).fetchall()[0][0]
        # A stale source's data is as old as its last load that was not stale.
        stale = [StaleSource(*r) for r in con.execute(
            "SELECT s.source, (SELECT max(g.loaded_at) FROM meta.source_loads g WHERE g.source = s.source "
            "AND g.status = 'ok') FROM (SELECT DISTINCT source FROM meta.source_loads WHERE run_id = ? "
            "AND status = 'stale') s ORDER BY 1", [newest]).fetchall()]
        reason = con.execute("SELECT string_agg(DISTINCT reason, ',') FROM consent.run_status WHERE run_id = ? "
                             "AND fail_closed", [newest]).fetchall()[0][0]
        previous = runs[1].run_id if len(runs) > 1 else None
        quarantine = [QuarantineChange(source, int(now or 0), None if previous is None else int(before or 0))
                      for source, now, before in con.execute(
            "SELECT source, sum(rows) FILTER (WHERE run_id = $newest), sum(rows) FILTER (WHERE run_id = $previous) "
            "FROM quarantine.counts WHERE run_id IN ($newest, $previous) GROUP BY source ORDER BY source",
            {"newest": newest, "previous": previous or ""}).fetchall()]
        changes, median, longest = con.execute(
            "SELECT count(*), median(m), max(m) FROM (SELECT date_diff('second', h.updated_at, r.finished_at) / 60.0 "
            "AS m FROM consent.history h JOIN meta.runs r ON r.run_id = h.first_seen_run "
            "WHERE h.updated_at >= r.finished_at - INTERVAL (?) DAY AND h.updated_at <= r.finished_at "
            # changes made while the pipeline ran, not the history its first run found
            "AND h.updated_at > (SELECT min(finished_at) FROM meta.runs))", [LATENCY_DAYS]).fetchall()[0]
    latency = ConsentLatency(int(changes), None if median is None else round(float(median), 1),
                             None if longest is None else round(float(longest), 1))
    return OperationsStatus(runs, runs[0].status, message, stale, reason, quarantine, latency)
