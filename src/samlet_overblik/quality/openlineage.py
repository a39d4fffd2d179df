"""OpenLineage run events for the rest of a municipality's data stack (Marquez, DataHub, OpenMetadata).

Each run of a municipality is one OpenLineage run of the job it ran (``nightly``, ``consent_refresh``): START when
it starts, COMPLETE when its set is published, FAIL when it fails. COMPLETE carries the datasets: every source
table as an input, every table of the published warehouse and of each department export as an output, each with its
schema (column names, types and the data dictionary's descriptions) and row count — never a value.

Configured the OpenLineage way and sent by ``openlineage-python``'s own transports: ``openlineage.yml`` (in the
working directory, ``~/.openlineage`` or ``OPENLINEAGE_CONFIG``), ``OPENLINEAGE__TRANSPORT__…`` variables (the file
transport in tests, HTTP for Marquez), or ``OPENLINEAGE_URL``. Nothing is sent when none of them is set (the client
would print every event to the console) or with ``OPENLINEAGE_DISABLED=true``. The community ``dagster-openlineage``
package drops asset dependencies (``deps=``), so the events are made here, from the published set itself.

A failure to send is logged and never fails the run: lineage is a report on the data, not part of it.
"""

from __future__ import annotations

import logging
import os
import urllib.parse
import uuid
from datetime import datetime, timezone
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import duckdb

from samlet_overblik import __version__
from samlet_overblik.core import warehouse as wh
from samlet_overblik.sources.ingest import META_COLUMNS, raw_table_name
from samlet_overblik.sources.specs import departments, load_source_specs

log = logging.getLogger(__name__)

PRODUCER = f"https://github.com/samlet-overblik/samlet_overblik/tree/v{__version__}"
NAMESPACE_VARIABLE = "OPENLINEAGE_NAMESPACE"
DEFAULT_NAMESPACE = "samlet_overblik"
# The tag naming the job a backfill's runs (Dagster's asset job) ran the assets of.
JOB_TAG = "samlet/job"

# (Dagster run id, kommunekode) of the runs this process has reported finished: a failure hook that fires after a
# municipality of a group was published does not report it failed.
_finished: set[tuple[str, str | None]] = set()


@lru_cache(maxsize=1)
def _client():
    """The client when OpenLineage is configured (its own configuration), else None."""
    from openlineage.client import OpenLineageClient

    from openlineage.client.facet_v2 import set_producer

    set_producer(PRODUCER)
    client = OpenLineageClient()
    configured = bool(os.environ.get("OPENLINEAGE_URL")) or bool((client.config.transport or {}).get("type"))
    if client.transport.kind == "noop" or not configured:
        return None
    return client


def enabled() -> bool:
    return _client() is not None


def job_name(job: str, tags: Mapping[str, str]) -> str:
    """The job a run ran: its own, or for a backfill's run (Dagster's asset job) the job whose assets it ran."""
    return tags.get(JOB_TAG) or job


def job_namespace(tenant: str | None) -> str:
    base = os.environ.get(NAMESPACE_VARIABLE, DEFAULT_NAMESPACE)
    return f"{base}/kommune-{tenant}" if tenant else base


def run_uuid(run_id: str, tenant: str | None) -> str:
    """The OpenLineage run id: the Dagster run's, or one of its own for each municipality of a group's run."""
    return str(uuid.uuid5(uuid.UUID(run_id), tenant)) if tenant else run_id


def _event(kind: str, run_id: str, job: str, tenant: str | None, inputs=(), outputs=(), run_facets=None):
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import job_type_job, parent_run, processing_engine_run

    facets = {"processing_engine": processing_engine_run.ProcessingEngineRunFacet(
        version=_dagster_version(), name="Dagster", openlineageAdapterVersion=__version__), **(run_facets or {})}
    if tenant:  # one municipality of a Dagster run that built several: that run is its parent
        facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=run_id), job=parent_run.Job(namespace=job_namespace(None), name=job))
    return RunEvent(
        eventType=getattr(RunState, kind), eventTime=datetime.now(timezone.utc).isoformat(),
        run=Run(runId=run_uuid(run_id, tenant), facets=facets),
        job=Job(namespace=job_namespace(tenant), name=job, facets={"jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="DAGSTER", jobType="JOB")}),
        inputs=list(inputs), outputs=list(outputs), producer=PRODUCER)


def _dagster_version() -> str:
    from importlib.metadata import version

    return version("dagster")


def _send(event) -> None:
    client = _client()
    if client is None:
        return
    try:
        client.emit(event)
    except Exception as exc:  # the lineage service down must not fail a run; the message names no value
        log.warning("OpenLineage event %s not sent (%s)", event.eventType.value, type(exc).__name__)


def started(run_id: str, job: str, tenant: str | None) -> None:
    if enabled():
        _send(_event("START", run_id, job, tenant))


def failed(run_id: str, job: str, tenant: str | None, message: str) -> None:
    """FAIL, unless this process reported the municipality's run COMPLETE (``message``: value-free)."""
    from openlineage.client.facet_v2 import error_message_run

    if not enabled() or (run_id, tenant) in _finished:
        return
    _finished.add((run_id, tenant))
    _send(_event("FAIL", run_id, job, tenant, run_facets={"errorMessage": error_message_run.ErrorMessageRunFacet(
        message=message, programmingLanguage="python")}))


def completed(run_id: str, job: str, tenant: str | None, warehouse: Path) -> None:
    """COMPLETE with the datasets of the set just published at ``warehouse`` (the public path: the datasets keep
    their names from one set to the next)."""
    if not enabled():
        return
    _finished.add((run_id, tenant))
    published = wh.published_set(warehouse)
    with duckdb.connect(str(published.warehouse), read_only=True) as con:
        inputs = source_datasets(con)
        outputs = table_datasets(con, f"duckdb://{warehouse.absolute()}")
    for department in departments():
        path = published.export(department)
        if path.is_file():
            with duckdb.connect(str(path), read_only=True) as con:
                outputs += table_datasets(con, f"duckdb://{(warehouse.parent / wh.EXPORTS / path.name).absolute()}")
    _send(_event("COMPLETE", run_id, job, tenant, inputs, outputs))


def record_location(con: duckdb.DuckDBPyConnection, run_id: str, source: str, url: str) -> None:
    """Where the run reads ``source``, for the COMPLETE event's input datasets (no credentials: ``source_namespace``)."""
    namespace, prefix = source_namespace(url)
    con.execute("INSERT OR REPLACE INTO meta.source_locations (run_id, source, namespace, table_prefix) "
                "VALUES (?, ?, ?, ?)", [run_id, source, namespace, prefix])


def source_namespace(url: str) -> tuple[str, str]:
    """(namespace, name prefix) of a source's tables by OpenLineage's naming: the server, or the SQLite file; never
    a user name or password."""
    import sqlalchemy as sa

    from samlet_overblik.sources import fhir

    if fhir.is_fhir_url(url):  # a Bundle file, or a FHIR server's Consent resources
        path = fhir.bundle_file(url)
        if path is not None:
            return f"file://{path.resolve()}", ""
        server = urllib.parse.urlsplit(url.split("+", 1)[1])
        return f"{server.scheme}://{server.hostname}" + (f":{server.port}" if server.port else ""), "fhir."
    parsed = sa.engine.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return f"sqlite://{Path(parsed.database or '').resolve()}", ""
    scheme = {"postgresql": "postgres", "mariadb": "mysql"}.get(backend, backend)
    return f"{scheme}://{parsed.host or 'localhost'}:{parsed.port or ''}".rstrip(":"), f"{parsed.database}."


def source_datasets(con: duckdb.DuckDBPyConnection) -> list:
    """Every table of every source as an input (where the newest run that read it found it), its schema as the raw
    copy holds it (without the load columns)."""
    from openlineage.client.event_v2 import InputDataset

    located = {source: (namespace, prefix) for source, namespace, prefix in con.execute(
        "SELECT l.source, arg_max(l.namespace, r.finished_at), arg_max(l.table_prefix, r.finished_at) "
        "FROM meta.source_locations l JOIN meta.runs r USING (run_id) GROUP BY l.source").fetchall()}
    datasets = []
    for spec in load_source_specs().values():
        if spec.name not in located:
            continue
        namespace, prefix = located[spec.name]
        for table in spec.tables:
            schema, name = raw_table_name(spec.name, table).split(".", 1)
            fields = [f for f in _fields(con, schema, name) if f.name not in META_COLUMNS]
            datasets.append(InputDataset(namespace=namespace, name=prefix + table, facets=_schema(fields)))
    return datasets


def table_datasets(con: duckdb.DuckDBPyConnection, namespace: str) -> list:
    """Every table of a DuckDB file as an output: schema (with the data dictionary's descriptions) and row count."""
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.facet_v2 import output_statistics_output_dataset

    datasets = []
    for schema, name in con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary "
                                    "ORDER BY 1, 2").fetchall():
        rows = con.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchall()[0][0]
        datasets.append(OutputDataset(
            namespace=namespace, name=f"{schema}.{name}", facets=_schema(_fields(con, schema, name)),
            outputFacets={"outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=int(rows))}))
    return datasets


def _fields(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list:
    from openlineage.client.facet_v2 import schema_dataset

    return [schema_dataset.SchemaDatasetFacetFields(name=n, type=t, description=c or None) for n, t, c in con.execute(
        "SELECT column_name, data_type, comment FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
        "ORDER BY column_index", [schema, table]).fetchall()]


def _schema(fields: list) -> dict:
    from openlineage.client.facet_v2 import schema_dataset

    return {"schema": schema_dataset.SchemaDatasetFacet(fields=fields)}
