"""The SQL of the warehouse assets (one file per asset or rule in ``assets/<layer>/``) and the catalog questions
every layer asks of a DuckDB connection."""

from __future__ import annotations

import weakref

import duckdb

from samlet_overblik.core.paths import data_dir


def asset_sql(layer: str, name: str) -> str:
    """The statement in ``assets/<layer>/<name>.sql`` (its header comments included, a trailing ``;`` left out)."""
    return (data_dir("assets") / layer / f"{name}.sql").read_text(encoding="utf-8").rstrip().rstrip(";")


def content_fingerprint(con: duckdb.DuckDBPyConnection, relation: str, params: list | None = None,
                        ignore: tuple[str, ...] = ()) -> str:
    """What the rows of ``relation`` (a table name or a parenthesised query) hold, as short text: the row count and
    the sum of the rows' hashes, so independent of row order; columns named in ``ignore`` left out (e.g. when a row
    was read). Equal fingerprints: the same rows (a 64-bit hash per row; a change is missed only by a collision)."""
    keep = "lambda c: c NOT IN (" + ", ".join(f"'{c}'" for c in ignore) + ")" if ignore else "*"
    n, total = con.execute(
        f"SELECT count(*), coalesce(sum(hash(*COLUMNS({keep}))::HUGEINT), 0) FROM {relation}", params or []
    ).fetchall()[0]
    return f"{n}:{total}"


def quoted_identifier(name: str) -> str:
    """A table, column or database name as a DuckDB (and SQLite) identifier: in double quotes, quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


# ------------------------------------------------------------------------------------------- the catalog
# Every question "does this table exist, which columns has it" goes through these. ``schema.table`` is in the
# connection's own database only (an attached database, e.g. the published warehouse the watcher attaches, has the
# same schemas); ``database.schema.table`` names an attached one; a name alone is a temporary table.


def _where(table: str) -> tuple[str, list[str]]:
    parts = table.split(".")
    if len(parts) == 3:
        return "database_name = ? AND schema_name = ? AND table_name = ?", parts
    if len(parts) == 2:
        return "database_name = current_database() AND schema_name = ? AND table_name = ?", parts
    return "database_name = 'temp' AND table_name = ?", parts


# A connection's own database, asked once: no code here ever switches it (``USE``), and a municipality's run asked
# for it some 290 times (one statement each, 0.45 s of a small municipality's 5 s of SQL).
_DATABASE_OF: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, str] = weakref.WeakKeyDictionary()


def current_database(con: duckdb.DuckDBPyConnection) -> str:
    """The name of the database ``con`` opened (its file's stem, or ``memory``)."""
    name = _DATABASE_OF.get(con)
    if name is None:
        name = _DATABASE_OF[con] = con.execute("SELECT current_database()").fetchall()[0][0]
    return name


def _bound(con: duckdb.DuckDBPyConnection, table: str) -> duckdb.DuckDBPyRelation | None:
    """``table`` bound as a relation (nothing is read), fully qualified so that an attached database named like a
    schema cannot capture it; None when it does not bind. Binding takes ~0.3 ms where a catalog query takes 1-3 ms
    (duckdb_tables() lists every table of every database), and a municipality's run asks some 200 times."""
    parts = table.split(".")
    if len(parts) == 2:
        parts.insert(0, current_database(con))
    elif len(parts) == 1:
        parts[:0] = ["temp", "main"]
    try:
        return con.sql("SELECT * FROM " + ".".join(quoted_identifier(p) for p in parts))
    except duckdb.Error:
        return None


def column_types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Column name -> DuckDB type, in column order, of ``schema.name`` or a temporary table; empty when absent."""
    bound = _bound(con, table)
    if bound is not None:
        return dict(zip(bound.columns, (str(t) for t in bound.types)))
    # Absent, or a view that no longer binds (its columns are still in the catalog).
    where, params = _where(table)
    return dict(con.execute(
        f"SELECT column_name, data_type FROM duckdb_columns() WHERE {where} ORDER BY column_index", params
    ).fetchall())


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """A table or a view of that name (something to read from)."""
    if _bound(con, table) is not None:
        return True
    # Absent, or a view that no longer binds: the catalog says which.
    where, params = _where(table)
    return bool(con.execute(
        f"SELECT count(*) FROM (SELECT database_name, schema_name, table_name FROM duckdb_tables() "
        f"UNION ALL SELECT database_name, schema_name, view_name FROM duckdb_views()) WHERE {where}",
        params).fetchall()[0][0])


def tables_in(con: duckdb.DuckDBPyConnection, schema: str) -> set[str]:
    """The tables of ``schema`` (own database) or ``database.schema`` (an attached one)."""
    database, _, name = schema.rpartition(".")
    return {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = coalesce(?, current_database()) "
        "AND schema_name = ?", [database or None, name]).fetchall()}


def drop_temporary(con: duckdb.DuckDBPyConnection, prefix: str) -> None:
    """Drop the temporary tables and views whose names start with ``prefix`` (a step's scratch space)."""
    pattern = prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"
    for kind, name in con.execute(
        "SELECT 'VIEW', view_name FROM duckdb_views() WHERE temporary AND view_name LIKE ? ESCAPE '\\' "
        "UNION ALL SELECT 'TABLE', table_name FROM duckdb_tables() WHERE temporary AND table_name LIKE ? ESCAPE '\\'",
        [pattern, pattern]).fetchall():
        con.execute(f'DROP {kind} IF EXISTS "{name}"')
