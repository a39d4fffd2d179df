"""The Arrow read of a whole SQLite table: the raw copy it makes is the general read's, value for value, or it
leaves the table to the general read. The general read is the oracle: every test reads the same file both ways."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from samlet_overblik.core.settings import sqlite_file
from samlet_overblik.core.warehouse import apply_ddl, empty_warehouse
from samlet_overblik.sources import ingest
from samlet_overblik.sources.specs import SourceSpec, TableSpec

pytestmark = pytest.mark.integration

COLUMNS = {"klient_id": "INTEGER", "antal": "INTEGER", "aktiv": "BOOLEAN", "navn": "VARCHAR(20)",
           "pris": "NUMERIC(12,2)", "aendret": "TIMESTAMP"}
SPEC = SourceSpec(name="probe", department="social_voksen", description="Arrow read probe",
                  default_file="probe.sqlite",
                  tables={"klient": TableSpec(name="klient", columns=COLUMNS, primary_key=("klient_id",),
                                              update_stamp="aendret")})
WHEN = datetime(2026, 1, 5)


class Undecodable(bytes):
    """Text stored in SQLite whose bytes are not UTF-8 (written with CAST(? AS TEXT))."""


def _create(path: Path, rows: list[tuple], ddl: str | None = None) -> None:
    db = sqlite3.connect(path)
    if ddl:
        db.execute(ddl)
    else:
        SPEC.metadata().create_all(sa.create_engine(f"sqlite:///{path}"))
    for row in rows:
        marks = ", ".join("CAST(? AS TEXT)" if isinstance(v, Undecodable) else "?" for v in row)
        db.execute(f"INSERT INTO klient VALUES ({marks})", [bytes(v) if isinstance(v, Undecodable) else v for v in row])
    db.commit()
    db.close()


def _read(path: Path, chunk_rows: int, how: str, monkeypatch) -> tuple[ingest.TableIngest, list, list, str]:
    """Ingest the file's table into a new warehouse: ``how`` is "arrow" (the Arrow read must take it), "general"
    (the Arrow read is never tried) or "either" (whatever ingest_table chooses); the result, rows and types, and
    the read that made them."""
    used: list[str] = []
    arrow_read, general_read = ingest._read_sqlite_arrow, ingest._read_into

    def arrow(*a, **k):
        n = None if how == "general" else arrow_read(*a, **k)
        if n is not None:
            used.append("arrow")
        elif how == "arrow":
            raise AssertionError("the Arrow read gave the table to the general read")
        return n

    def general(*a, **k):
        used.append("general")
        return general_read(*a, **k)

    with monkeypatch.context() as m:
        m.setattr(ingest, "_read_sqlite_arrow", arrow)
        m.setattr(ingest, "_read_into", general)
        warehouse = path.with_name(f"{how}.duckdb")
        shutil.copy(empty_warehouse(), warehouse)  # applying the DDL takes longer than the read
        con = duckdb.connect(str(warehouse))
        engine = sa.create_engine(f"sqlite:///{path}")
        try:
            result = ingest.ingest_table(con, engine, SPEC, SPEC.tables["klient"], "run-1", WHEN,
                                         chunk_rows=chunk_rows)
        finally:
            engine.dispose()
    rows = con.execute("SELECT * FROM raw.probe__klient ORDER BY klient_id").fetchall()
    types = con.execute("SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_schema = 'raw' AND table_name = 'probe__klient' ORDER BY ordinal_position").fetchall()
    con.close()
    return result, rows, types, used[0]


def _summary(result: ingest.TableIngest) -> tuple:
    return result.rows_read, result.rows_total, result.problem_rows, result.mode


def _same_both_ways(path: Path, chunk_rows: int, monkeypatch, expect: str | None = None) -> str:
    fast, fast_rows, fast_types, used = _read(path, chunk_rows, "arrow" if expect == "arrow" else "either", monkeypatch)
    oracle, rows, types, _ = _read(path, chunk_rows, "general", monkeypatch)
    assert fast_types == types
    assert fast_rows == rows
    assert _summary(fast) == _summary(oracle)
    if expect:
        assert used == expect
    return used


# ------------------------------------------------------------------------------------------------ plain tables

PLAIN = [
    (1, 2, 1, "Søren Ærø", 12345.67, "2026-01-02 03:04:05.123456"),
    (2, None, None, None, None, None),
    (3, -(2**63), 0, "", 0.1 + 0.2, "2026-01-03"),
    (4, 2**63 - 1, 1, "x" * 25, 3, "2026-01-04"),  # an oversized text: marked in SQL after either read
    (5, 7, 0, "é ü 😀", -0.0, "not a stamp"),       # a garbage stamp: marked in SQL after either read
]


@pytest.mark.parametrize("chunk_rows", [1, 2, 5, 6, 1000])
def test_a_plain_table_is_read_through_arrow_as_the_general_read_reads_it(tmp_path, monkeypatch, chunk_rows):
    _create(tmp_path / "s.sqlite", PLAIN)
    _same_both_ways(tmp_path / "s.sqlite", chunk_rows, monkeypatch, expect="arrow")


def test_a_column_null_in_the_first_chunk_keeps_its_type(tmp_path, monkeypatch):
    rows = [(i, None, None, None, None, None) for i in range(1, 4)] + [(4, 9, 1, "navn", 2.5, "2026-01-01")]
    _create(tmp_path / "s.sqlite", rows)
    _same_both_ways(tmp_path / "s.sqlite", 3, monkeypatch, expect="arrow")


def test_an_empty_table(tmp_path, monkeypatch):
    _create(tmp_path / "s.sqlite", [])
    _same_both_ways(tmp_path / "s.sqlite", 10, monkeypatch, expect="arrow")


def test_rows_with_gaps_in_the_rowid(tmp_path, monkeypatch):
    _create(tmp_path / "s.sqlite", [(i * 1000, i, 1, "n", 1.0, "2026-01-01") for i in range(1, 8)])
    _same_both_ways(tmp_path / "s.sqlite", 2, monkeypatch, expect="arrow")


# ------------------------------------------------------------------------------------------------ left to the general read

LOOSE = {
    "text in an integer column": (2, "3113991234-x", 1, "a", 1.0, "2026-01-01"),
    "a boolean that is not 0 or 1": (2, 3, 2, "a", 1.0, "2026-01-01"),
    "text in a boolean column": (2, 3, "ja", "a", 1.0, "2026-01-01"),
    "a real in an integer column": (2, 3.5, 1, "a", 1.0, "2026-01-01"),
    "a blob in a text column": (2, 3, 1, b"\x00\xff", 1.0, "2026-01-01"),
    "text that is not UTF-8": (2, 3, 1, Undecodable(b"S\xf8ren"), 1.0, "2026-01-01"),
    "text in a numeric column": (2, 3, 1, "a", "12,50", "2026-01-01"),
    "a number as the stamp": (2, 3, 1, "a", 1.0, 20260101),
}


@pytest.mark.parametrize("row", LOOSE.values(), ids=LOOSE.keys())
def test_a_value_the_general_read_would_repair_leaves_the_table_to_it(tmp_path, monkeypatch, row):
    _create(tmp_path / "s.sqlite", [(1, 1, 1, "a", 1.0, "2026-01-01"), row, (3, 1, 0, "b", 2.0, "2026-01-02")])
    _same_both_ways(tmp_path / "s.sqlite", 2, monkeypatch, expect="general")


def test_text_that_is_not_utf8_after_valid_text_leaves_the_table_to_the_general_read(tmp_path, monkeypatch):
    # The driver types the column as text by its first values and would hand the later bytes on unchecked.
    rows = [(i, 1, 1, "Søren", 1.0, "2026-01-01") for i in range(1, 11)]
    _create(tmp_path / "s.sqlite", rows + [(11, 1, 1, Undecodable(b"S\xf8ren 3113991234"), 1.0, "2026-01-01")])
    _same_both_ways(tmp_path / "s.sqlite", 1000, monkeypatch, expect="general")


def test_a_column_named_rowid_leaves_the_table_to_the_general_read(tmp_path, monkeypatch):
    ddl = ("CREATE TABLE klient (klient_id INTEGER, antal INTEGER, aktiv BOOLEAN, navn VARCHAR(20), "
           "pris NUMERIC(12,2), aendret TIMESTAMP, rowid INTEGER)")
    # The spec does not name the rowid column, but SQLite's rowid is then that column: the chunks cannot use it.
    _create(tmp_path / "s.sqlite", [(1, 1, 1, "a", 1.0, "2026-01-01", 5), (2, 1, 1, "a", 1.0, "2026-01-01", 5)], ddl)
    _same_both_ways(tmp_path / "s.sqlite", 1, monkeypatch, expect="general")


def test_a_table_without_rowid_leaves_the_table_to_the_general_read(tmp_path, monkeypatch):
    ddl = ("CREATE TABLE klient (klient_id INTEGER PRIMARY KEY, antal INTEGER, aktiv BOOLEAN, navn VARCHAR(20), "
           "pris NUMERIC(12,2), aendret TIMESTAMP) WITHOUT ROWID")
    _create(tmp_path / "s.sqlite", [(1, 1, 1, "a", 1.0, "2026-01-01"), (2, 1, 1, "a", 1.0, "2026-01-01")], ddl)
    _same_both_ways(tmp_path / "s.sqlite", 1, monkeypatch, expect="general")


def test_a_view_leaves_the_table_to_the_general_read(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE k0 (klient_id INTEGER, antal INTEGER, aktiv BOOLEAN, navn VARCHAR(20), "
               "pris NUMERIC(12,2), aendret TIMESTAMP)")
    db.executemany("INSERT INTO k0 VALUES (?, ?, ?, ?, ?, ?)", [(i, i, 1, "a", 1.0, "2026-01-01") for i in range(1, 6)])
    db.execute("CREATE VIEW klient AS SELECT * FROM k0 UNION ALL SELECT * FROM k0")  # no rowid to cut chunks by
    db.commit()
    db.close()
    _same_both_ways(path, 2, monkeypatch, expect="general")


def test_a_vanished_file_is_never_created_by_the_arrow_read(tmp_path, monkeypatch):
    path = tmp_path / "gone.sqlite"
    con = duckdb.connect()
    apply_ddl(con)
    assert ingest._read_sqlite_arrow(con, path, "klient", "_t", list(COLUMNS), [], 10, ("probe", WHEN, "r")) is None
    assert not path.exists()


def test_only_a_plain_sqlite_url_names_a_file(tmp_path):
    assert sqlite_file(f"sqlite:///{tmp_path / 'a.sqlite'}") == tmp_path / "a.sqlite"
    assert sqlite_file("sqlite://") is None
    assert sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file(f"sqlite:///file:{tmp_path / 'a.sqlite'}?mode=ro&uri=true") is None
    assert sqlite_file(f"postgresql://u@localhost/{tmp_path / 'a'}") is None


# ------------------------------------------------------------------------------------------------ any mix of values

_ANY = st.one_of(
    st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), st.text(max_size=8),
    st.binary(max_size=4), st.sampled_from([0, 1, "0", "1", "true", " 7 ", "3.0", 2.0]),
    st.binary(max_size=3).map(lambda b: Undecodable(b"\xff" + b)),  # 0xff starts no UTF-8 sequence
)
_OWN = [  # each column's own storage class (or NULL): what a well-kept source holds
    st.none() | st.integers(-(2**63), 2**63 - 1),
    st.none() | st.sampled_from([0, 1]),
    st.none() | st.text(max_size=25),
    st.none() | st.floats(allow_nan=False) | st.integers(-(2**53), 2**53),
    st.none() | st.text(max_size=30),
]


@st.composite
def _tables(draw) -> list[tuple]:
    n = draw(st.integers(0, 12))
    ids = sorted(draw(st.sets(st.integers(-50, 10**6), min_size=n, max_size=n)))
    loose = draw(st.just(0.0) | st.floats(0, 0.3))  # half the tables plain, half with a few values of any class
    rows = []
    for klient_id in ids:
        values = [draw(_ANY if draw(st.floats(0, 1)) < loose else own) for own in _OWN]
        rows.append((klient_id, *values))
    return rows


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=_tables(), chunk_rows=st.integers(1, 6))
def test_any_table_reads_the_same_both_ways(tmp_path_factory, monkeypatch, rows, chunk_rows):
    path = tmp_path_factory.mktemp("p") / "s.sqlite"
    _create(path, rows)
    event(f"read by the {_same_both_ways(path, chunk_rows, monkeypatch)} read")
