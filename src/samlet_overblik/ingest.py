"""Extract: copy source tables through SQLAlchemy into DuckDB ``raw.<source>__<table>``.

Rows are streamed in chunks (bounded memory) and handed to DuckDB as Arrow batches, typed from
the source spec so dates, timestamps, decimals, NULLs and Danish characters survive exactly.
SQLite has no date type: there the raw copy keeps the stored ISO text, and staging parses it.
Tables with an update stamp are ingested incrementally on top of the previous raw copy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from .settings import redact_url
from .specs import SourceSpec, TableSpec

CHUNK_ROWS = 50_000
META_COLUMNS = ("_source", "_ingested_at", "_run_id")


class SourceUnavailable(RuntimeError):
    """A source system cannot be reached or read (message names the source, never the password)."""


@dataclass
class TableIngest:
    source: str
    table: str
    rows_read: int
    rows_total: int
    incremental: bool
    seconds: float
    widened_columns: tuple[str, ...] = ()


def raw_table_name(source: str, table: str) -> str:
    return f"raw.{source}__{table}"


def arrow_type(declared: str, dialect: str) -> pa.DataType:
    """Arrow type of a spec column as this dialect's driver returns it."""
    t = declared.upper()
    if t.startswith(("VARCHAR", "TEXT")):
        return pa.string()
    if t in ("INTEGER", "BIGINT"):
        return pa.int64()
    if t == "BOOLEAN":
        return pa.bool_()
    if dialect == "sqlite":
        # SQLite stores dates as text and NUMERIC as REAL: the raw copy keeps exactly that.
        if t in ("DATE", "TIMESTAMP"):
            return pa.string()
        if t.startswith("NUMERIC"):
            return pa.float64()
    if t == "DATE":
        return pa.date32()
    if t == "TIMESTAMP":
        return pa.timestamp("us")
    if t.startswith("NUMERIC"):
        p, s = (int(x) for x in t[t.index("(") + 1 : -1].split(","))
        return pa.decimal128(p, s)
    return pa.string()


def make_engine(source: str, url: str) -> sa.Engine:
    try:
        return sa.create_engine(url, pool_pre_ping=True)
    except Exception as exc:  # bad URL, missing driver
        raise SourceUnavailable(f"source {source}: cannot use URL {redact_url(url)} ({type(exc).__name__})") from None


def check_reachable(source: str, engine: sa.Engine, attempts: int = 3, backoff: float = 0.5) -> None:
    """Connect, retrying transient failures with exponential backoff; one-line error otherwise."""
    last: Exception | None = None
    for i in range(attempts):
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1")).fetchall()
            return
        except Exception as exc:  # OperationalError, driver errors
            last = exc
            if i + 1 < attempts:
                time.sleep(backoff * 2**i)
    reason = str(getattr(last, "orig", last)).splitlines()[0][:160] if last else "unknown"
    raise SourceUnavailable(
        f"source {source} cannot be reached at {redact_url(str(engine.url))}: {reason}"
    ) from None


def _to_batch(rows: list, names: list[str], types: list[pa.DataType]) -> tuple[pa.RecordBatch, list[int]]:
    """Column arrays for one chunk; a column whose values do not fit its type is kept as text."""
    cols = list(zip(*rows)) if rows else [[] for _ in names]
    arrays, widened = [], []
    for i, (values, typ) in enumerate(zip(cols, types)):
        try:
            arrays.append(pa.array(values, type=typ))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            arrays.append(pa.array([None if v is None else str(v) for v in values], type=pa.string()))
            widened.append(i)
    return pa.RecordBatch.from_arrays(arrays, names=names), widened


def ingest_table(
    con: duckdb.DuckDBPyConnection,
    engine: sa.Engine,
    source: SourceSpec,
    table: TableSpec,
    run_id: str,
    ingested_at: datetime,
    *,
    full_refresh: bool = False,
    chunk_rows: int = CHUNK_ROWS,
) -> TableIngest:
    """Copy one source table into ``raw``; incremental by update stamp when a previous copy exists."""
    started = time.perf_counter()
    target = raw_table_name(source.name, table.name)
    dialect = engine.dialect.name
    names = list(table.columns)
    types = [arrow_type(table.columns[c], dialect) for c in names]

    exists = _table_exists(con, target)
    incremental = bool(exists and table.update_stamp and not full_refresh and _same_columns(con, target, names))
    since = None
    if incremental:
        since = con.execute(f'SELECT max("{table.update_stamp}") FROM {target}').fetchall()[0][0]
        incremental = since is not None

    md = sa.MetaData()
    src = sa.Table(table.name, md, *[sa.Column(c) for c in names])
    query = sa.select(*[src.c[c] for c in names])
    if incremental:
        # >= rather than >: rows stamped in the same instant as the last seen one may have arrived later;
        # the upsert below makes re-reading them harmless.
        query = query.where(src.c[table.update_stamp] >= since)

    staging_name = f"_ingest_{source.name}__{table.name}"
    con.execute(f"DROP TABLE IF EXISTS {staging_name}")
    rows_read = 0
    widened: set[int] = set()
    try:
        with engine.connect().execution_options(stream_results=True, yield_per=chunk_rows) as conn:
            result = conn.execute(query)
            first = True
            while True:
                rows = result.fetchmany(chunk_rows)
                if not rows and not first:
                    break
                batch, wide = _to_batch(rows, names, types)
                batch = _with_meta(batch, source.name, ingested_at, run_id)
                con.register("_ingest_batch", batch)
                if first:
                    con.execute(f"CREATE TEMP TABLE {staging_name} AS SELECT * FROM _ingest_batch")
                    first = False
                else:
                    for i in wide:
                        if i not in widened:
                            con.execute(f'ALTER TABLE {staging_name} ALTER "{names[i]}" TYPE VARCHAR')
                    con.execute(f"INSERT INTO {staging_name} BY NAME SELECT * FROM _ingest_batch")
                con.unregister("_ingest_batch")
                widened.update(wide)
                rows_read += len(rows)
                if not rows:
                    break
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:160]
        raise SourceUnavailable(f"source {source.name}: reading table {table.name} failed: {reason}") from None

    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    if incremental:
        for i in widened:
            con.execute(f'ALTER TABLE {target} ALTER "{names[i]}" TYPE VARCHAR')
        key = " AND ".join(f't."{k}" IS NOT DISTINCT FROM n."{k}"' for k in table.primary_key)
        con.execute(f"DELETE FROM {target} t WHERE EXISTS (SELECT 1 FROM {staging_name} n WHERE {key})")
        con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {staging_name}")
    else:
        con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM {staging_name}")
    con.execute(f"DROP TABLE {staging_name}")
    total = con.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0]
    return TableIngest(
        source=source.name,
        table=table.name,
        rows_read=rows_read,
        rows_total=total,
        incremental=incremental,
        seconds=time.perf_counter() - started,
        widened_columns=tuple(names[i] for i in sorted(widened)),
    )


def ingest_source(
    con: duckdb.DuckDBPyConnection,
    source: SourceSpec,
    url: str,
    run_id: str,
    ingested_at: datetime,
    *,
    full_refresh: bool = False,
) -> list[TableIngest]:
    """Copy every table of one source; raises SourceUnavailable (one line) when it cannot be read."""
    engine = make_engine(source.name, url)
    try:
        check_reachable(source.name, engine)
        missing = [t for t in source.tables if not sa.inspect(engine).has_table(t)]
        if missing:
            raise SourceUnavailable(f"source {source.name}: table(s) missing: {', '.join(missing)}")
        return [
            ingest_table(con, engine, source, t, run_id, ingested_at, full_refresh=full_refresh)
            for t in source.tables.values()
        ]
    finally:
        engine.dispose()


def _with_meta(batch: pa.RecordBatch, source: str, ingested_at: datetime, run_id: str) -> pa.RecordBatch:
    n = batch.num_rows
    arrays = list(batch.columns) + [
        pa.array([source] * n, pa.string()),
        pa.array([ingested_at] * n, pa.timestamp("us")),
        pa.array([run_id] * n, pa.string()),
    ]
    return pa.RecordBatch.from_arrays(arrays, names=list(batch.schema.names) + list(META_COLUMNS))


def _table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, name = qualified.split(".")
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        ).fetchall()[0][0]
    )


def _same_columns(con: duckdb.DuckDBPyConnection, qualified: str, names: list[str]) -> bool:
    schema, name = qualified.split(".")
    have = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
            "ORDER BY ordinal_position",
            [schema, name],
        ).fetchall()
    ]
    return have == names + list(META_COLUMNS)
