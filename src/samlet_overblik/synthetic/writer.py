"""Writing generated tables: source databases (SQLite files or SQLAlchemy URLs) and parquet files.

Tables are (re)created from the source specs (``SourceSpec.metadata()``). Rows are bulk inserted
as plain driver values - dates as ISO text, numerics as floats - which SQLite, PostgreSQL and
MariaDB all accept for the declared column types: SQLite and MariaDB via the driver's
``executemany``, PostgreSQL via ``psycopg2.extras.execute_values``, anything else via SQLAlchemy Core.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from samlet_overblik.sources.specs import SourceSpec
from samlet_overblik.synthetic._util import iso_date, iso_timestamp

BATCH = 20_000


def _column_values(values: np.ndarray, declared: str) -> list:
    kind = declared.split("(")[0].strip().upper()
    if kind == "DATE" and np.issubdtype(values.dtype, np.datetime64):
        return iso_date(values).tolist()
    if kind == "TIMESTAMP" and np.issubdtype(values.dtype, np.datetime64):
        return iso_timestamp(values, sep=" ").tolist()
    if kind in ("INTEGER", "BIGINT"):
        if values.dtype.kind in "iu":
            return values.tolist()
        return [None if v is None or v != v else int(v) for v in values.tolist()]
    if kind == "NUMERIC":
        if values.dtype.kind == "f":
            out = np.round(values.astype(float), 2).tolist()
            return [None if v != v else v for v in out] if np.isnan(values).any() else out
        return [None if v is None or v != v else round(float(v), 2) for v in values.tolist()]
    out = values.tolist()
    if values.dtype == object:
        return [None if (v is None or (isinstance(v, float) and v != v) or v is pd.NaT) else v for v in out]
    return out


class SourceWriter:
    """One source database: drops and recreates the spec's tables, then appends chunk by chunk."""

    def __init__(self, spec: SourceSpec, url: str | None = None, path: Path | None = None) -> None:
        self.spec = spec
        if url is None:
            if path is None:
                raise ValueError("SourceWriter needs a URL or a file path")
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            url = f"sqlite:///{path}"
        self.engine = sa.create_engine(url)
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            @sa.event.listens_for(self.engine, "connect")
            def _fast(dbapi_conn, _record):  # the generated file is rebuilt from scratch anyway
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA synchronous=OFF")
                cur.execute("PRAGMA journal_mode=OFF")
                cur.close()
        self.metadata = spec.metadata()
        if self.dialect in ("mysql", "mariadb"):
            for table in self.metadata.tables.values():
                table.dialect_kwargs["mysql_charset"] = "utf8mb4"
        self.metadata.drop_all(self.engine)
        self.metadata.create_all(self.engine)
        self.rows: dict[str, int] = {name: 0 for name in spec.tables}

    def write(self, tables: dict[str, pd.DataFrame]) -> None:
        """Append the given tables (one transaction); columns beyond the spec (``_...``) are ignored."""
        with self.engine.begin() as conn:
            for name, df in tables.items():
                tspec = self.spec.tables[name]
                cols = list(tspec.columns)
                missing = [c for c in cols if c not in df.columns]
                if missing:
                    raise ValueError(f"{self.spec.name}.{name}: generated frame lacks columns {missing}")
                if not len(df):
                    continue
                try:
                    data = [_column_values(df[c].to_numpy(), tspec.columns[c]) for c in cols]
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"{self.spec.name}.{name}: a value does not fit its column type") from exc
                rows = list(zip(*data))
                self._insert(conn, name, cols, rows)
                self.rows[name] += len(rows)

    def _insert(self, conn, name: str, cols: list[str], rows: list[tuple]) -> None:
        prep = self.engine.dialect.identifier_preparer
        qtable = prep.quote(name)
        qcols = ", ".join(prep.quote(c) for c in cols)
        paramstyle = self.engine.dialect.paramstyle
        if self.dialect == "postgresql" and self.engine.dialect.driver == "psycopg2":
            from psycopg2.extras import execute_values

            cur = conn.connection.cursor()
            try:
                execute_values(cur, f"INSERT INTO {qtable} ({qcols}) VALUES %s", rows, page_size=5000)
            finally:
                cur.close()
        elif paramstyle in ("qmark", "format"):
            mark = "?" if paramstyle == "qmark" else "%s"
            sql = f"INSERT INTO {qtable} ({qcols}) VALUES ({', '.join([mark] * len(cols))})"
            for i in range(0, len(rows), BATCH):
                conn.exec_driver_sql(sql, rows[i:i + BATCH])
        else:
            light = sa.table(name, *[sa.column(c) for c in cols])
            for i in range(0, len(rows), BATCH):
                conn.execute(sa.insert(light), [dict(zip(cols, r)) for r in rows[i:i + BATCH]])

    def close(self) -> None:
        self.engine.dispose()


class ParquetOut:
    """A parquet file of string columns, written chunk by chunk (bounded memory)."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path = path
        self.columns = columns
        self.schema = pa.schema([(c, pa.string()) for c in columns])
        self.writer = pq.ParquetWriter(str(path), self.schema)
        self.rows = 0

    def write(self, df: pd.DataFrame) -> None:
        if not len(df):
            return
        arrays = [pa.array(df[c].astype(object).tolist(), type=pa.string()) for c in self.columns]
        self.writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
        self.rows += len(df)

    def close(self) -> None:
        self.writer.close()
