"""What a data engineer sees of the published set: each department's export and the latest runs (no personal data)."""

from __future__ import annotations

import duckdb

from samlet_overblik.access.borger import Stores
from samlet_overblik.access.views import ExportStatus, PublishedStatus, RunSummary
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
