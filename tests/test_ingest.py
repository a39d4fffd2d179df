"""Ingestion: values survive the trip from SQLite, PostgreSQL and MariaDB into DuckDB raw exactly."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import duckdb
import pytest
import sqlalchemy as sa

from samlet_overblik.ingest import SourceUnavailable, ingest_source
from samlet_overblik.specs import SourceSpec, TableSpec

pytestmark = pytest.mark.integration

SPEC = SourceSpec(
    name="probe",
    department="social_voksen",
    description="round-trip probe",
    default_file="probe.sqlite",
    tables={
        "klient": TableSpec(
            name="klient",
            columns={
                "klient_id": "INTEGER",
                "navn": "VARCHAR(200)",
                "foedt": "DATE",
                "aendret": "TIMESTAMP",
                "pris": "NUMERIC(12,2)",
                "note": "TEXT",
            },
            primary_key=("klient_id",),
            update_stamp="aendret",
        )
    },
)

ROWS = [
    dict(klient_id=1, navn="Søren Ærø Ågård", foedt=date(1958, 2, 28), aendret=datetime(2026, 1, 2, 3, 4, 5, 123456),
         pris=Decimal("12345.67"), note="æøå ÆØÅ é ü"),
    dict(klient_id=2, navn=None, foedt=None, aendret=datetime(2026, 1, 2, 3, 4, 6), pris=None, note=None),
    dict(klient_id=3, navn="Bjørn", foedt=date(2000, 1, 1), aendret=datetime(2026, 1, 3), pris=Decimal("0.10"), note=""),
]


def _write(url: str, rows: list[dict]) -> None:
    engine = sa.create_engine(url)
    md = SPEC.metadata()
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(md.tables["klient"].insert(), rows)
    engine.dispose()


def _normalise(value):
    # SQLite has no date type: its raw copy keeps ISO text; compare on meaning.
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-" and value[7:8] == "-":
        return datetime.fromisoformat(value) if len(value) > 10 else date.fromisoformat(value)
    if isinstance(value, float):
        return Decimal(str(value)).quantize(Decimal("0.01"))
    return value


def test_round_trip_exact(any_dialect_url, tmp_path):
    _write(any_dialect_url, ROWS)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    results = ingest_source(con, SPEC, any_dialect_url, "run-1", datetime(2026, 1, 5))
    assert results[0].rows_read == 3 and not results[0].incremental
    got = con.execute(
        "SELECT klient_id, navn, foedt, aendret, pris, note, _source, _run_id FROM raw.probe__klient ORDER BY klient_id"
    ).fetchall()
    for row, expected in zip(got, ROWS):
        values = [_normalise(v) for v in row[:6]]
        assert values == [expected[k] for k in ("klient_id", "navn", "foedt", "aendret", "pris", "note")]
        assert row[6:] == ("probe", "run-1")


def test_incremental_by_update_stamp(any_dialect_url, tmp_path):
    _write(any_dialect_url, ROWS)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ingest_source(con, SPEC, any_dialect_url, "run-1", datetime(2026, 1, 5))
    engine = sa.create_engine(any_dialect_url)
    with engine.begin() as conn:
        t = SPEC.metadata().tables["klient"]
        conn.execute(t.update().where(t.c.klient_id == 2).values(navn="Åse", aendret=datetime(2026, 2, 1)))
        conn.execute(t.insert(), [dict(klient_id=4, navn="Ny", foedt=None, aendret=datetime(2026, 2, 2), pris=None, note=None)])
    engine.dispose()
    results = ingest_source(con, SPEC, any_dialect_url, "run-2", datetime(2026, 2, 5))
    assert results[0].incremental
    # The changed row, the new one, and row 3 whose stamp equals the last one seen (re-read by design).
    assert results[0].rows_read == 3
    assert results[0].rows_total == 4
    names = dict(con.execute("SELECT klient_id, navn FROM raw.probe__klient").fetchall())
    assert names[2] == "Åse" and names[4] == "Ny" and names[1] == "Søren Ærø Ågård"


def test_unreachable_source_names_source_not_password(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    url = "postgresql+psycopg2://someone:hemmeligt@127.0.0.1:1/nowhere"
    with pytest.raises(SourceUnavailable) as info:
        ingest_source(con, SPEC, url, "run-1", datetime(2026, 1, 5))
    message = str(info.value)
    assert "probe" in message and "hemmeligt" not in message and "\n" not in message
