"""Extract: copy source tables through SQLAlchemy into DuckDB ``raw.<source>__<table>``.

Rows are streamed in chunks (bounded memory) and handed to DuckDB as Arrow batches, typed from
the source spec so dates, timestamps, decimals, NULLs and Danish characters survive exactly.
SQLite has no date type: there the raw copy keeps the stored ISO text, and staging parses it.

Reading safely (README, "Reading sources"):

- Update stamps are parsed as timestamps (in DuckDB), never compared as text. An incremental read starts at the
  newest parsed stamp that is not after the start of the previous read, minus an overlap (``job.yaml``
  ``ingest.overlap_minutes``), recorded per table in ``meta.source_reads``. A row stamped in the future never moves
  that point: it is read again every run until its stamp has passed, and counted (``future_stamped_rows``). Rows
  whose stamp is missing or not a timestamp are read again every run.
- Deletions are found by comparing keys: a table read whole (the consent registry every run, a table without
  update stamp, a first read, ``--full-refresh``) is compared with the previous copy; an incrementally read table
  compares its key set with the source every run up to ``ingest.key_check_max_rows`` rows, otherwise when the last
  comparison is older than ``ingest.key_check_hours``. Deleted rows leave raw (and so staging) and are counted.
- A row with a value that cannot be trusted is marked, not dropped and never the end of the read: text that is not
  UTF-8 (``invalid_encoding``), a value that does not fit an INTEGER/BIGINT/BOOLEAN column (``invalid_integer``,
  ``invalid_boolean``; the value is not kept), text longer than its ``VARCHAR(n)`` (``oversized_value``) or an update
  stamp that does not parse (``unparseable_update_stamp``). Columns ``_problem`` and ``_problem_columns`` carry the
  mark; staging quarantines the row with that reason.
- Messages name the source, table and column, never a value: driver error texts (which can quote a row, e.g.
  MariaDB's "Incorrect datetime value: '...'" or SQLite's decode errors) are not passed on.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from samlet_overblik.core.cpr import redact_cpr
from samlet_overblik.core.settings import redact_url, sqlite_file
from samlet_overblik.sources.specs import IngestSettings, SourceSpec, TableSpec, load_ingest_settings, varchar_length
from samlet_overblik.core.sql import column_types, quoted_identifier, table_exists
from samlet_overblik.core.warehouse import transaction
from samlet_overblik.sources import fhir

CHUNK_ROWS = 50_000
META_COLUMNS = ("_source", "_ingested_at", "_run_id", "_problem", "_problem_columns")
# The consent registry is read whole every run whatever its spec says: a change hidden from an incremental read
# (a deletion, a stamp in the future) must never keep a withdrawal from taking effect.
# Spec types used as keys and in joins: a value that does not fit is taken out of the row (and the row marked)
# instead of turning the whole column into text, so staging never compares text with numbers.
STRICT_TYPES = {"INTEGER": "invalid_integer", "BIGINT": "invalid_integer", "BOOLEAN": "invalid_boolean"}
_ISO_DAY_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"
_ISO_DAY_REGEX = "^[0-9]{4}-[0-9]{2}-[0-9]{2}"
_INT_RE = re.compile(r"^\s*[+-]?\d+\s*$")
_INT64 = (-(2**63), 2**63 - 1)


class SourceUnavailable(RuntimeError):
    """A source system cannot be reached or read (message names the source, never the password or a value)."""


@dataclass
class TableIngest:
    source: str
    table: str
    rows_read: int
    rows_total: int
    incremental: bool
    seconds: float
    widened_columns: tuple[str, ...] = ()
    mode: str = "full"
    read_from: datetime | None = None
    next_read_from: datetime | None = None
    rows_deleted: int = 0
    keys_compared: bool = False
    future_stamped_rows: int = 0
    problem_rows: int = 0


def raw_table_name(source: str, table: str) -> str:
    return f"raw.{source}__{table}"


# ------------------------------------------------------------------------------------------------ messages

_QUOTED_RE = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`")
_LONG_NUMBER_RE = re.compile(r"\d{5,}")
_DATE_LIKE_RE = re.compile(r"\d{1,2}[\s.\-/]+\d{1,2}[\s.\-/]+\d{2,4}")


def value_free(text: str, limit: int = 160, *, keep_quoted: bool = False) -> str:
    """One line of an error text with anything that may be a value taken out: quoted parts, CPR-shaped and long
    numbers. For texts we do not write ourselves (drivers, DuckDB), before they reach a log, event or table.
    ``keep_quoted`` for our own messages (they may quote a setting, never a row): numbers are still taken out."""
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    if not keep_quoted:
        line = _QUOTED_RE.sub("'…'", line)
    line = redact_cpr(line)  # the one CPR pattern, every spelling
    line = _DATE_LIKE_RE.sub("#", line)  # what is left of one: a date-shaped fragment beside a redacted number
    line = _LONG_NUMBER_RE.sub("#", line)
    return line[:limit]


def _error_code(exc: BaseException) -> str:
    """The driver's error code (PostgreSQL SQLSTATE, MySQL/MariaDB errno): a code, never a value."""
    orig = getattr(exc, "orig", None) or exc
    code = getattr(orig, "pgcode", None) or getattr(orig, "sqlite_errorname", None)
    if code is None and getattr(orig, "args", None) and isinstance(orig.args[0], int):
        code = orig.args[0]
    return f"{type(orig).__name__}{f' {code}' if code is not None else ''}"


# ------------------------------------------------------------------------------------------------ types


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


def duck_type(arrow: pa.DataType) -> str:
    if pa.types.is_int64(arrow):
        return "BIGINT"
    if pa.types.is_date32(arrow):
        return "DATE"
    if pa.types.is_timestamp(arrow):
        return "TIMESTAMP"
    if pa.types.is_decimal(arrow):
        return f"DECIMAL({arrow.precision}, {arrow.scale})"
    if pa.types.is_boolean(arrow):
        return "BOOLEAN"
    if pa.types.is_float64(arrow):
        return "DOUBLE"
    return "VARCHAR"


def create_empty_raw(con: duckdb.DuckDBPyConnection, source: SourceSpec, table: TableSpec, dialect: str = "duckdb") -> None:
    """An empty raw copy of a table (columns as ingestion would write them)."""
    cols = ", ".join(f'"{c}" {duck_type(arrow_type(t, dialect))}' for c, t in table.columns.items())
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {raw_table_name(source.name, table.name)} "
        f"({cols}, _source VARCHAR, _ingested_at TIMESTAMP, _run_id VARCHAR, _problem VARCHAR, _problem_columns VARCHAR)"
    )


# ------------------------------------------------------------------------------------------------ connecting


def make_engine(source: str, url: str) -> sa.Engine:
    try:
        path = sqlite_file(url)
        if path is not None and not path.is_file():
            # Connecting would create an empty database file where the source should be: an operator restoring
            # the source would find it in the way, and an empty registry must never look like a real one.
            raise SourceUnavailable(f"source {source} cannot be reached: database file {path.name} not found")
        return sa.create_engine(url, pool_pre_ping=True)
    except SourceUnavailable:
        raise
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
    reason = value_free(str(getattr(last, "orig", last))) if last else "unknown"
    raise SourceUnavailable(
        f"source {source} cannot be reached at {redact_url(str(engine.url))}: {reason}"
    ) from None


# ------------------------------------------------------------------------------------------------ values


class _Undecodable(str):
    """Text a SQLite row held that is not UTF-8 (kept with its bad bytes written as \\xNN escapes)."""


def _tolerant_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _Undecodable(data.decode("utf-8", "backslashreplace"))


def _as_text(v) -> tuple[str | None, bool]:
    """A value for a text column and whether it had to be repaired (not UTF-8)."""
    if v is None:
        return None, False
    if isinstance(v, (bytes, bytearray, memoryview)):
        b = bytes(v)
        try:
            return b.decode("utf-8"), False
        except UnicodeDecodeError:
            return b.decode("utf-8", "backslashreplace"), True
    if isinstance(v, str):
        if type(v) is _Undecodable:
            return str(v), True
        try:
            v.encode("utf-8")
            return v, False
        except UnicodeEncodeError:  # lone surrogates
            return v.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"), True
    return str(v), False


def _strict_value(v, typ: pa.DataType) -> tuple[bool, object]:
    """(fits, value) for an INTEGER/BIGINT/BOOLEAN column."""
    if v is None:
        return True, None
    if pa.types.is_boolean(typ):
        if isinstance(v, bool):
            return True, v
        if isinstance(v, int) and v in (0, 1):
            return True, bool(v)
        if isinstance(v, str) and v.strip().lower() in ("0", "1", "true", "false", "t", "f"):
            return True, v.strip().lower() in ("1", "true", "t")
        return False, None
    if isinstance(v, bool):
        return False, None
    if isinstance(v, int):
        n = v
    elif isinstance(v, float) and v.is_integer():
        n = int(v)
    elif isinstance(v, Decimal) and v == v.to_integral_value():
        n = int(v)
    elif isinstance(v, str) and _INT_RE.match(v):
        n = int(v)
    else:
        return False, None
    return (True, n) if _INT64[0] <= n <= _INT64[1] else (False, None)


def _to_batch(rows: Sequence[Sequence[Any]], names: list[str], types: list[pa.DataType], strict: list[str | None],
              tolerant: bool = False) -> tuple[pa.RecordBatch, list[int], dict[int, list]]:
    """Column arrays for one chunk, the columns widened to text, and the problems by row: {row: [reason, columns]}.

    A column whose values do not fit its type is kept as text, except the strict ones (keys, joins): there the
    value that does not fit is left out and the row marked."""
    cols: list[Sequence[Any]] = list(zip(*rows)) if rows else [[] for _ in names]
    arrays, widened = [], []
    problems: dict[int, list] = {}

    def mark(row: int, reason: str, column: str) -> None:
        entry = problems.setdefault(row, [reason, []])
        if column not in entry[1]:
            entry[1].append(column)

    for i, (values, typ) in enumerate(zip(cols, types)):
        strict_reason = strict[i]
        if tolerant and pa.types.is_string(typ):
            for r, v in enumerate(values):
                if type(v) is _Undecodable:
                    mark(r, "invalid_encoding", names[i])
        try:
            arrays.append(pa.array(values, type=typ))
            continue
        except Exception:  # ArrowInvalid/TypeError, OverflowError, UnicodeEncodeError: look at each value
            pass
        if strict_reason and pa.types.is_boolean(typ):
            # SQLite (and MariaDB's BOOL) hand booleans back as 0/1: convert the column at once when that is all it holds.
            try:
                ints = pa.array(values, pa.int64())
                if pc.all(pc.is_in(ints.drop_null(), value_set=pa.array([0, 1], pa.int64()))).as_py() is not False:
                    arrays.append(ints.cast(pa.bool_()))
                    continue
            except Exception:
                pass
        if strict_reason:
            fixed = []
            for r, v in enumerate(values):
                fits, value = _strict_value(v, typ)
                if not fits:
                    mark(r, strict_reason, names[i])
                fixed.append(value)
            arrays.append(pa.array(fixed, type=typ))
            continue
        texts = []
        for r, v in enumerate(values):
            text, repaired = _as_text(v)
            if repaired:
                mark(r, "invalid_encoding", names[i])
            texts.append(text)
        if not pa.types.is_string(typ):
            # Text in a typed column (SQLite's loose typing, a MariaDB zero date): the column is kept as text for
            # this read and staging judges the value (e.g. invalid_amount, unparseable_date).
            widened.append(i)
        arrays.append(pa.array(texts, type=pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=names), widened, problems


def _with_meta(batch: pa.RecordBatch, source: str, ingested_at: datetime, run_id: str,
               problems: dict[int, list]) -> pa.RecordBatch:
    n = batch.num_rows
    if problems:
        reason: list[str | None] = [None] * n
        columns: list[str | None] = [None] * n
        for row, (why, cols) in problems.items():
            reason[row], columns[row] = why, ",".join(cols)
        marks = [pa.array(reason, pa.string()), pa.array(columns, pa.string())]
    else:  # the usual chunk: no Python object per row
        marks = [pa.nulls(n, pa.string()), pa.nulls(n, pa.string())]
    arrays = list(batch.columns) + [
        pa.repeat(pa.scalar(source, pa.string()), n),
        pa.repeat(pa.scalar(ingested_at, pa.timestamp("us")), n),
        pa.repeat(pa.scalar(run_id, pa.string()), n),
        *marks,
    ]
    return pa.RecordBatch.from_arrays(arrays, names=list(batch.schema.names) + list(META_COLUMNS))


# ------------------------------------------------------------------------------------------------ reading


def _stream(engine: sa.Engine, query, chunk_rows: int, tolerant: bool) -> Iterator[Sequence[Any]]:
    with engine.connect() as conn:
        driver = conn.connection.driver_connection if tolerant else None
        if driver is not None:
            driver.text_factory = _tolerant_text
        try:
            result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(query)
            first = True
            while True:
                rows = result.fetchmany(chunk_rows)
                if rows or first:
                    yield rows
                first = False
                if not rows:
                    break
        finally:
            if driver is not None:
                driver.text_factory = str


def _is_decode_error(engine: sa.Engine, exc: BaseException) -> bool:
    return engine.dialect.name == "sqlite" and "decode" in str(getattr(exc, "orig", exc)).lower()


def _append(con: duckdb.DuckDBPyConnection, target: str, batch: pa.RecordBatch, created: bool) -> None:
    """A chunk into the read's temporary table (created from the first chunk)."""
    con.register("_ingest_batch", batch)
    try:
        if created:
            con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM _ingest_batch")
        else:
            con.execute(f"CREATE TEMP TABLE {target} AS SELECT * FROM _ingest_batch")
    finally:
        con.unregister("_ingest_batch")


# A SQLite table read whole is read by the ADBC driver, which hands rows over as Arrow without a Python object per
# value (the person register of 189,180 citizens: 2.9 s against 5.4 s, one run each). It applies only while what it
# returns is exactly what the general read would make of the same rows: any value that the general read would
# repair, mark or convert (another storage class than the column's, text that is not UTF-8) sends the whole table
# to the general read instead.
_ROWID_NAMES = {"rowid", "_rowid_", "oid"}


class _NotPlain(Exception):
    """The table holds something the Arrow read would not hand over as the general read does."""


def _off_class(column: str, typ: pa.DataType) -> str:
    """SQL: true for a value whose SQLite storage class the column's Arrow type does not take as it is."""
    c = quoted_identifier(column)
    if pa.types.is_string(typ):
        return f"typeof({c}) NOT IN ('text', 'null')"
    if pa.types.is_int64(typ):
        return f"typeof({c}) NOT IN ('integer', 'null')"
    if pa.types.is_boolean(typ):
        return f"NOT (typeof({c}) = 'null' OR (typeof({c}) = 'integer' AND {c} IN (0, 1)))"
    if pa.types.is_float64(typ):
        # The general read takes an integer as a double only where the double is exact (|n| <= 2**53).
        return (f"typeof({c}) NOT IN ('real', 'integer', 'null') OR "
                f"(typeof({c}) = 'integer' AND {c} NOT BETWEEN -9007199254740992 AND 9007199254740992)")
    return "1"


def _as_declared(values: pa.ChunkedArray, typ: pa.DataType) -> pa.Array:
    values = values.combine_chunks()
    if values.type == typ:
        if pa.types.is_string(typ):
            try:  # a column typed as text by its first values hands on later bytes that are not UTF-8 unchecked
                values.validate(full=True)
            except pa.ArrowInvalid:
                raise _NotPlain from None
        return values
    # The driver types a chunk by its values: an all-NULL column comes as integers, a REAL column of whole
    # numbers as integers, a boolean as 0/1. Any other type (text that is not UTF-8 comes as binary) is not plain.
    if values.null_count == len(values):
        return pa.nulls(len(values), typ)
    if pa.types.is_integer(values.type) and (pa.types.is_boolean(typ) or pa.types.is_floating(typ)):
        return values.cast(typ)  # the SQL check let through 0 and 1 only, and integers a double holds exactly
    raise _NotPlain


def _read_sqlite_arrow(con: duckdb.DuckDBPyConnection, path: Path, table: str, target: str, names: list[str],
                       types: list[pa.DataType], chunk_rows: int, meta: tuple[str, datetime, str]) -> int | None:
    """Read a whole SQLite table into a new temporary table through Arrow, in chunks of ``chunk_rows`` by rowid,
    all in one read transaction (one snapshot); the rows read, or None when the general read must do it."""
    if _ROWID_NAMES & {n.lower() for n in names}:
        return None  # a column shadows the rowid the chunks are cut by
    import adbc_driver_sqlite.dbapi as adbc_sqlite

    off = " OR ".join(_off_class(n, t) for n, t in zip(names, types))
    sql = (f"SELECT {', '.join(quoted_identifier(n) for n in names)}, rowid, ({off}) FROM {quoted_identifier(table)} "
           f"WHERE rowid > ? ORDER BY rowid LIMIT {int(chunk_rows)}")
    rows_read, last = 0, -(2**63)
    try:
        # Read-only: a file that vanished is an error, never a new empty database in its place.
        with adbc_sqlite.connect(path.resolve().as_uri() + "?mode=ro") as conn, conn.cursor() as cur:
            cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(int(chunk_rows))})
            while True:
                cur.execute(sql, parameters=(last,))
                chunk = cur.fetch_arrow_table()
                n = chunk.num_rows
                if n and pc.max(chunk.column(len(names) + 1)).as_py():
                    raise _NotPlain
                if n == 0 and rows_read:
                    break
                arrays = [_as_declared(chunk.column(i), t) if n else pa.array([], t) for i, t in enumerate(types)]
                batch = _with_meta(pa.RecordBatch.from_arrays(arrays, names=names), *meta, {})
                _append(con, target, batch, created=rows_read > 0)
                rows_read += n
                if n < chunk_rows:
                    break
                last = chunk.column(len(names))[-1].as_py()
            # Same snapshot: every row was read once (a view's or a virtual table's rowid would not cut it right).
            cur.execute(f"SELECT count(*) FROM {quoted_identifier(table)}")
            if cur.fetch_arrow_table().column(0)[0].as_py() != rows_read:
                raise _NotPlain
            return rows_read
    except Exception:  # _NotPlain, a driver's error (its text may quote a row): the general read decides
        con.execute(f"DROP TABLE IF EXISTS {target}")
        return None


def _read_into(con: duckdb.DuckDBPyConnection, engine: sa.Engine, query, target: str, names: list[str],
               types: list[pa.DataType], strict: list[str | None], chunk_rows: int,
               meta: tuple[str, datetime, str] | None) -> tuple[int, set[int]]:
    """Stream a query into a new temporary table; (rows, widened column indexes).

    SQLite hands back TEXT that is not UTF-8 as an error for the whole read: then the read starts over with a
    text factory that keeps such values (escaped) and marks their rows."""
    for tolerant in (False, True):
        con.execute(f"DROP TABLE IF EXISTS {target}")
        rows_read, widened = 0, set()
        try:
            created = False
            for rows in _stream(engine, query, chunk_rows, tolerant):
                batch, wide, problems = _to_batch(rows, names, types, strict, tolerant)
                if meta is not None:
                    batch = _with_meta(batch, *meta, problems)
                if created:
                    for i in wide:
                        if i not in widened:
                            con.execute(f'ALTER TABLE {target} ALTER "{names[i]}" TYPE VARCHAR')
                _append(con, target, batch, created)
                created = True
                widened.update(wide)
                rows_read += len(rows)
            return rows_read, widened
        except sa.exc.SQLAlchemyError as exc:
            if tolerant or not _is_decode_error(engine, exc):
                raise
    raise AssertionError("unreachable")


def _stamp_filter(engine: sa.Engine, column, declared: str, since: datetime):
    """Rows whose stamp is at or after ``since``, plus every row whose stamp is missing or not shaped like a
    timestamp (those can never be ordered, so they are read every time)."""
    dialect = engine.dialect.name
    as_text = dialect == "sqlite" or declared.upper() not in ("TIMESTAMP", "DATE")
    if not as_text:
        return sa.or_(column >= since, column.is_(None))
    # A text stamp can only be compared as text in the source. ISO text orders like time (a 'T' separator sorts
    # after ' ', so such rows of the read-from day are read again: harmless); text that is not ISO-shaped cannot be
    # ordered and is read every time. Which rows are new is then decided on parsed timestamps, in DuckDB.
    since_text = since.strftime("%Y-%m-%d %H:%M:%S")
    conditions = [column >= since_text, column.is_(None)]
    if dialect == "sqlite":
        conditions.append(sa.not_(column.op("GLOB")(_ISO_DAY_GLOB)))
    elif dialect == "mssql":
        conditions.append(sa.not_(column.like("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]%")))
    elif dialect in ("postgresql", "mysql", "mariadb"):
        conditions.append(sa.not_(column.regexp_match(_ISO_DAY_REGEX)))
    return sa.or_(*conditions)


def _parsed_stamp(con: duckdb.DuckDBPyConnection, table: str, column: str) -> str:
    """A DuckDB expression parsing a stamp column of ``table`` (typed or text) as TIMESTAMP, NULL when it does not parse
    or is not a point in time ('infinity', '-inf': no read-from point can be after or before every change)."""
    typ = column_types(con, table).get(column, "VARCHAR")
    if typ.startswith("TIMESTAMP"):
        parsed = f'"{column}"'
    elif typ == "DATE":
        parsed = f'CAST("{column}" AS TIMESTAMP)'
    else:
        parsed = f'try_cast(CAST("{column}" AS VARCHAR) AS TIMESTAMP)'
    return f"(CASE WHEN isfinite({parsed}) THEN {parsed} END)"


def _mark_problems(con: duckdb.DuckDBPyConnection, target: str, table: TableSpec) -> None:
    """Mark rows whose update stamp does not parse or whose text is longer than its VARCHAR(n) (one pass)."""
    checks: list[tuple[str, str, str]] = []
    if table.update_stamp:
        parsed = _parsed_stamp(con, target, table.update_stamp)
        checks.append((f'"{table.update_stamp}" IS NOT NULL AND {parsed} IS NULL', "unparseable_update_stamp",
                       table.update_stamp))
    types = column_types(con, target)
    for column, declared in table.columns.items():
        n = varchar_length(declared)
        if n is not None and types.get(column) == "VARCHAR":
            checks.append((f'length("{column}") > {n}', "oversized_value", column))
    if not checks:
        return
    reason = "CASE " + " ".join(f"WHEN {cond} THEN '{why}'" for cond, why, _ in checks) + " END"
    columns = ", ".join(f"CASE WHEN {cond} THEN '{col}' END" for cond, _, col in checks)
    con.execute(
        f"UPDATE {target} SET _problem = coalesce(_problem, {reason}), "
        f"_problem_columns = concat_ws(',', _problem_columns, {columns}) "
        f"WHERE {' OR '.join(f'({cond})' for cond, _, _ in checks)}"
    )


def _key_match(con: duckdb.DuckDBPyConnection, a: str, a_alias: str, b: str, b_alias: str, key: tuple[str, ...]) -> str:
    """Equality of two tables' keys; compared as text where their types differ (never a failing implicit cast)."""
    ta, tb = column_types(con, a), column_types(con, b)
    parts = []
    for k in key:
        if ta.get(k) == tb.get(k):
            parts.append(f'{a_alias}."{k}" IS NOT DISTINCT FROM {b_alias}."{k}"')
        else:
            parts.append(f'CAST({a_alias}."{k}" AS VARCHAR) IS NOT DISTINCT FROM CAST({b_alias}."{k}" AS VARCHAR)')
    return " AND ".join(parts)


def _last_read(con: duckdb.DuckDBPyConnection, source: str, table: str) -> tuple[datetime | None, datetime | None]:
    """(next_read_from of the latest read, read_at of the latest key comparison) for a table."""
    if not table_exists(con, "meta.source_reads"):
        return None, None
    latest = con.execute(
        "SELECT next_read_from FROM meta.source_reads WHERE source = ? AND source_table = ? "
        "ORDER BY read_at DESC, rowid DESC LIMIT 1",
        [source, table],
    ).fetchall()
    checked = con.execute(
        "SELECT max(read_at) FROM meta.source_reads WHERE source = ? AND source_table = ? AND keys_compared",
        [source, table],
    ).fetchall()
    return (latest[0][0] if latest else None), checked[0][0]


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
    settings: IngestSettings | None = None,
) -> TableIngest:
    """Copy one source table into ``raw``; incremental by update stamp when a previous copy and read-from point exist."""
    settings = settings or load_ingest_settings()
    started = time.perf_counter()
    target = raw_table_name(source.name, table.name)
    dialect = engine.dialect.name
    names = list(table.columns)
    types = [arrow_type(table.columns[c], dialect) for c in names]
    strict = [STRICT_TYPES.get(table.columns[c].upper()) for c in names]

    exists = table_exists(con, target)
    snapshot = source.snapshot or source.role == "consent_registry"
    read_from, last_key_check = _last_read(con, source.name, table.name) if exists else (None, None)
    incremental = bool(
        exists and table.update_stamp and not snapshot and not full_refresh and read_from is not None
        and _same_columns(con, target, names)
    )
    mode = "incremental" if incremental else ("snapshot" if snapshot else "full")
    if not incremental:
        read_from = None

    md = sa.MetaData()
    src = sa.Table(table.name, md, *[sa.Column(c) for c in names])
    query = sa.select(*[src.c[c] for c in names])
    if incremental:
        assert table.update_stamp is not None and read_from is not None  # both are conditions of incremental
        query = query.where(_stamp_filter(engine, src.c[table.update_stamp], table.columns[table.update_stamp], read_from))

    temp = f"_ingest_{source.name}__{table.name}"
    meta = (source.name, ingested_at, run_id)
    # An incremental read is small, and connection options in a URL are the general read's to honour: both go there.
    path = None if incremental or engine.url.query else sqlite_file(engine.url)
    fast = _read_sqlite_arrow(con, path, table.name, temp, names, types, chunk_rows, meta) if path else None
    widened: set[int] = set()  # the Arrow read widens nothing: a value it would have to widen sends it here
    if fast is not None:
        rows_read = fast
    else:
        rows_read, widened = _read_into(con, engine, query, temp, names, types, strict, chunk_rows, meta)
    _mark_problems(con, temp, table)

    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    deleted, keys_compared = 0, False
    if incremental:
        total_before = con.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0]
        keys_compared = total_before <= settings.key_check_max_rows or last_key_check is None or (
            ingested_at - last_key_check >= settings.key_check_every)
        if keys_compared:
            # Read after the rows: a row deleted in between is gone from the key set and leaves raw below; a row
            # added in between is in the key set but not yet in raw, which deletes nothing.
            keys = f"_keys_{source.name}__{table.name}"
            key_cols = list(table.primary_key)
            _read_into(con, engine, sa.select(*[src.c[k] for k in key_cols]), keys, key_cols,
                       [types[names.index(k)] for k in key_cols], [strict[names.index(k)] for k in key_cols],
                       chunk_rows, None)
        with transaction(con):
            raw_types = column_types(con, target)
            for column, typ in column_types(con, temp).items():
                if typ == "VARCHAR" and raw_types.get(column, "VARCHAR") != "VARCHAR":
                    con.execute(f'ALTER TABLE {target} ALTER "{column}" TYPE VARCHAR')
            match = _key_match(con, target, "t", temp, "n", table.primary_key)
            con.execute(f"DELETE FROM {target} t WHERE EXISTS (SELECT 1 FROM {temp} n WHERE {match})").fetchall()
            con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {temp}").fetchall()
            if keys_compared:
                match = _key_match(con, target, "t", keys, "k", table.primary_key)
                deleted = con.execute(
                    f"DELETE FROM {target} t WHERE NOT EXISTS (SELECT 1 FROM {keys} k WHERE {match})"
                ).fetchall()[0][0]
        if keys_compared:
            con.execute(f"DROP TABLE IF EXISTS {keys}")
    else:
        # A whole read holds the source's key set: nothing deleted can stay behind.
        keys_compared = True
        if exists and set(table.primary_key) <= set(column_types(con, target)):
            # A whole read replaces the copy: what the previous copy had and the source no longer has was deleted.
            match = _key_match(con, target, "t", temp, "n", table.primary_key)
            deleted = con.execute(
                f"SELECT count(*) FROM {target} t WHERE NOT EXISTS (SELECT 1 FROM {temp} n WHERE {match})"
            ).fetchall()[0][0]
        con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM {temp}")
    con.execute(f"DROP TABLE {temp}")

    next_from, future = None, 0
    if table.update_stamp:
        parsed = _parsed_stamp(con, target, table.update_stamp)
        newest, future = con.execute(
            f"SELECT max(ts) FILTER (WHERE ts <= $start), count(*) FILTER (WHERE ts > $start) "
            f"FROM (SELECT {parsed} AS ts FROM {target})",
            {"start": ingested_at},
        ).fetchall()[0]
        if newest is not None:
            # Never after the start of this read (a stamp in the future cannot hide what changes before it), and an
            # overlap earlier (late commits, clocks behind ours). Whole seconds: text stamps compare as text.
            next_from = (min(newest, ingested_at) - settings.overlap).replace(microsecond=0)
    total, problem_rows = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE _problem IS NOT NULL) FROM {target}"
    ).fetchall()[0]
    if table_exists(con, "meta.source_reads"):
        con.execute(
            "INSERT INTO meta.source_reads (run_id, source, source_table, mode, read_at, read_from, next_read_from, "
            "rows_read, rows_total, rows_deleted, keys_compared, future_stamped_rows, problem_rows) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, source.name, table.name, mode, ingested_at, read_from, next_from, rows_read, total, deleted,
             keys_compared, future, problem_rows],
        )
    return TableIngest(
        source=source.name,
        table=table.name,
        rows_read=rows_read,
        rows_total=total,
        incremental=incremental,
        seconds=time.perf_counter() - started,
        widened_columns=tuple(names[i] for i in sorted(widened)),
        mode=mode,
        read_from=read_from,
        next_read_from=next_from,
        rows_deleted=deleted,
        keys_compared=keys_compared,
        future_stamped_rows=future,
        problem_rows=problem_rows,
    )


def ingest_source(
    con: duckdb.DuckDBPyConnection,
    source: SourceSpec,
    url: str,
    run_id: str,
    ingested_at: datetime,
    *,
    full_refresh: bool = False,
    settings: IngestSettings | None = None,
) -> list[TableIngest]:
    """Copy every table of one source; raises SourceUnavailable (one line, no value) when it cannot be read."""
    if fhir.is_fhir_url(url):  # the consent registry as a FHIR Bundle (a file, or a FHIR server's)
        with _fhir_registry(source, url) as local:
            return ingest_source(con, source, local, run_id, ingested_at, full_refresh=full_refresh, settings=settings)
    settings = settings or load_ingest_settings()
    if not table_exists(con, "meta.source_reads"):
        from samlet_overblik.core.warehouse import apply_ddl

        apply_ddl(con)  # a bare connection (tests, tools): the warehouse DDL defines meta.source_reads
    engine = make_engine(source.name, url)
    current = None
    try:
        check_reachable(source.name, engine)
        missing = [t for t in source.tables if not sa.inspect(engine).has_table(t)]
        if missing:
            raise SourceUnavailable(f"source {source.name}: table(s) missing: {', '.join(missing)}")
        results = []
        for t in source.tables.values():
            current = t.name
            results.append(ingest_table(con, engine, source, t, run_id, ingested_at, full_refresh=full_refresh,
                                        settings=settings))
        return results
    except SourceUnavailable:
        raise
    except Exception as exc:
        # The driver's or DuckDB's text can quote a row: name the table and the kind of error only.
        where = f"reading table {current}" if current else "reading"
        raise SourceUnavailable(f"source {source.name}: {where} failed ({_error_code(exc)})") from None
    finally:
        engine.dispose()


@dataclass
class SourceRead:
    """One run's read of a source: the tables read, or (``stale``) the tables kept from the last good read."""

    tables: list[TableIngest]
    stale: list[str]
    reason: str | None = None


def read_source(con: duckdb.DuckDBPyConnection, spec: SourceSpec, url: str, run_id: str, loaded_at: datetime, *,
                full_refresh: bool = False) -> SourceRead:
    """Read a source into ``raw`` and record the load in ``meta.source_loads``. A source that cannot be read keeps its
    last good copy, recorded as stale; with no copy to keep, SourceUnavailable (one line, no value)."""
    try:
        results = ingest_source(con, spec, url, run_id, loaded_at, full_refresh=full_refresh)
    except SourceUnavailable as exc:
        stale = reuse_last_snapshot(con, spec, run_id, loaded_at, str(exc))
        if not stale:
            raise SourceUnavailable(f"{exc}; no earlier snapshot to reuse") from None
        return SourceRead([], stale, str(exc))
    for r in results:
        con.execute(
            "INSERT INTO meta.source_loads (run_id, source, source_table, rows_read, rows_total, incremental, "
            "status, loaded_at) VALUES (?, ?, ?, ?, ?, ?, 'ok', ?)",
            [run_id, spec.name, r.table, r.rows_read, r.rows_total, r.incremental, loaded_at],
        )
    return SourceRead(results, [])


@contextmanager
def _fhir_registry(spec: SourceSpec, url: str) -> Iterator[str]:
    """A FHIR source as the spec's tables in a private SQLite file; unreadable: ``SourceUnavailable`` (so the
    registry fails closed as any unreachable one does)."""
    if spec.role != "consent_registry":
        raise SourceUnavailable(f"source {spec.name}: only the consent registry can be read from FHIR")
    try:
        with fhir.as_registry(url, {name: list(t.columns) for name, t in spec.tables.items()}) as local:
            yield local
    except fhir.FhirSourceError as exc:
        raise SourceUnavailable(f"source {spec.name}: {exc}") from None
    except (OSError, ValueError) as exc:  # a server down, a page that is not JSON: the kind only, never its text
        raise SourceUnavailable(f"source {spec.name}: the FHIR source cannot be read ({type(exc).__name__})") from None


def reuse_last_snapshot(con: duckdb.DuckDBPyConnection, spec: SourceSpec, run_id: str, now: datetime, reason: str) -> list[str]:
    """Record the source as stale, keeping the raw copy from the previous run; [] if there is none.

    ``reason`` is a SourceUnavailable message: source, table and kind of error, never a value."""
    have = [t for t in spec.tables if table_exists(con, raw_table_name(spec.name, t))]
    if len(have) < len(spec.tables):
        if spec.role != "consent_registry":
            return []
        # The consent registry has never been read: stage it as empty so the run can go on and
        # fail closed (nothing crosses a department boundary) instead of failing outright.
        for table in spec.tables.values():
            create_empty_raw(con, spec, table)
        have = list(spec.tables)
    for table_name in have:
        last = con.execute(
            "SELECT max(loaded_at), arg_max(rows_total, loaded_at) FROM meta.source_loads "
            "WHERE source = ? AND source_table = ? AND status = 'ok'",
            [spec.name, table_name],
        ).fetchall()[0]
        con.execute(
            "INSERT INTO meta.source_loads (run_id, source, source_table, rows_read, rows_total, incremental, status, "
            "loaded_at, message) VALUES (?, ?, ?, 0, ?, FALSE, 'stale', ?, ?)",
            [run_id, spec.name, table_name, last[1], last[0], reason],
        )
    return have


def stamp_state(con: duckdb.DuckDBPyConnection, spec: SourceSpec, now: datetime,
                until: datetime | None = None) -> tuple[datetime | None, int]:
    """The data's own time: the newest update stamp of the raw copy not after ``now``, and how many rows carry a
    stamp after ``now`` (a clock that runs ahead, or a system that stamps what it plans) — or, given ``until``, how
    many carry one after ``now`` and not after ``until`` (stamps that passed in between). One scan."""
    stamped = [t for t in spec.tables.values() if t.update_stamp]
    if not stamped:
        return None, 0
    union = " UNION ALL ".join(
        f'SELECT parse_ts("{t.update_stamp}") AS t FROM {raw_table_name(spec.name, t.name)}' for t in stamped)
    newest, later = con.execute(
        f"SELECT max(t) FILTER (WHERE t <= $now), count(*) FILTER (WHERE t > $now AND ($until IS NULL OR t <= $until)) "
        f"FROM ({union})", {"now": now, "until": until}).fetchall()[0]
    return newest, int(later)


# ------------------------------------------------------------------------------------------------ change detection

# A SQLite file modified this recently may be modified again within the file system's timestamp resolution
# without its stamp changing: its fingerprint is not trusted until it has been still this long.
_SETTLE_SECONDS = 2.0


def content_fingerprint(source: SourceSpec, url: str) -> str | None:
    """A digest that changes whenever the content of the source's tables does, taken in a fraction of the time a
    whole read takes; None where no trustworthy digest is known (the caller then reads the source whole).

    Take it *before* reading: a change committed between the digest and the read is then seen by the next
    digest, never lost. SQLite: the database file and its WAL and journal as the file system sees them (every
    commit writes one of them), trusted once they have been still for a moment. PostgreSQL: md5 over every row's
    text, computed in the server. MariaDB/MySQL: CHECKSUM TABLE (a live checksum of the rows)."""
    if fhir.is_fhir_url(url):  # a Bundle file: its stamps, as a SQLite file's; a FHIR server: always read whole
        path = fhir.bundle_file(url)
        try:
            st = os.stat(path) if path is not None else None
        except OSError:
            return None
        if st is None or time.time() - st.st_mtime < _SETTLE_SECONDS:
            return None
        return f"fhir:{(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)!r}"
    try:
        parsed = sa.engine.make_url(url)
    except Exception:
        return None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        db_file = sqlite_file(parsed)
        if db_file is None:
            return None
        db = str(db_file)
        now = time.time()
        parts: list[tuple[int, int, int, int] | None] = []
        for suffix in ("", "-wal", "-journal"):
            try:
                st = os.stat(db + suffix)
            except FileNotFoundError:
                if not suffix:
                    return None  # no file: the read reports the source as unavailable
                parts.append(None)
                continue
            if now - st.st_mtime < _SETTLE_SECONDS:
                return None
            parts.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
        return f"sqlite:{parts!r}"
    if backend not in ("postgresql", "mysql", "mariadb"):
        return None
    try:
        engine = sa.create_engine(url)
    except Exception:
        return None
    try:
        with engine.connect() as conn:
            if backend == "postgresql":
                digests = [tuple(conn.execute(sa.text(
                    f'SELECT count(*), md5(string_agg(md5(t::text), \'\' ORDER BY md5(t::text))) FROM "{name}" t'
                )).one()) for name in source.tables]
            else:
                digests = [tuple(r) for r in conn.execute(sa.text(
                    "CHECKSUM TABLE " + ", ".join(f"`{name}`" for name in source.tables))).fetchall()]
                if any(r[-1] is None for r in digests):  # a table that is missing or cannot be checksummed
                    return None
        return f"{backend}:{digests!r}"
    except Exception:  # unreachable, no such table: the whole read decides (and fails closed)
        return None
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------------------ catalog


def _same_columns(con: duckdb.DuckDBPyConnection, qualified: str, names: list[str]) -> bool:
    return list(column_types(con, qualified)) == names + list(META_COLUMNS)
