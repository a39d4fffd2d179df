"""Ingestion: values survive the trip from SQLite, PostgreSQL and MariaDB into DuckDB raw exactly."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import duckdb
import pytest
import sqlalchemy as sa

from samlet_overblik.sources.ingest import SourceUnavailable, ingest_source
from samlet_overblik.sources.specs import SourceSpec, TableSpec

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


# ------------------------------------------------------------------------------------------------ reading safely
# Finding 1: the next read-from point was the *text* maximum of the stamp, so one row stamped in the future (or with
# a garbage stamp) hid every later change. Finding 2: incremental reads never noticed deleted rows.

def _ingest(con, url, run, when, spec=SPEC, **kw):
    return ingest_source(con, spec, url, run, when, **kw)[0]


def _set(url: str, klient_id: int, **values) -> None:
    engine = sa.create_engine(url)
    t = SPEC.metadata().tables["klient"]
    with engine.begin() as conn:
        conn.execute(t.update().where(t.c.klient_id == klient_id).values(**values))
    engine.dispose()


def test_stamp_in_the_future_never_hides_a_later_change(any_dialect_url, tmp_path):
    _write(any_dialect_url, ROWS + [dict(klient_id=9, navn="Fremtid", foedt=None, aendret=datetime(2099, 1, 1),
                                         pris=None, note=None)])
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    first = _ingest(con, any_dialect_url, "run-1", datetime(2026, 1, 5))
    assert first.future_stamped_rows == 1
    # The read-from point is the newest stamp not after the read, minus the overlap: never 2099.
    assert first.next_read_from is not None and first.next_read_from < datetime(2026, 1, 5)
    _set(any_dialect_url, 2, navn="Åse", aendret=datetime(2026, 2, 1))
    second = _ingest(con, any_dialect_url, "run-2", datetime(2026, 2, 5))
    assert second.incremental and second.future_stamped_rows == 1
    assert dict(con.execute("SELECT klient_id, navn FROM raw.probe__klient").fetchall())[2] == "Åse"
    assert con.execute("SELECT future_stamped_rows FROM meta.source_reads WHERE run_id = 'run-2'").fetchall() == [(1,)]


def test_read_from_point_is_never_after_the_read_started(any_dialect_url, tmp_path):
    # Every stamp is after the read (a source clock ahead of ours): nothing moves the read-from point.
    _write(any_dialect_url, ROWS)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    first = _ingest(con, any_dialect_url, "run-1", datetime(2025, 12, 1))
    assert first.future_stamped_rows == 3 and first.next_read_from is None
    second = _ingest(con, any_dialect_url, "run-2", datetime(2026, 1, 5))
    assert not second.incremental and second.rows_read == 3  # read whole again: nothing can have been missed


def test_garbage_stamp_is_quarantined_and_hides_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'source.sqlite'}"
    _write(url, ROWS)
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # SQLite keeps whatever text it is given
        conn.execute(sa.text("INSERT INTO klient (klient_id, navn, aendret) VALUES (7, 'Skrald', 'i går')"))
        conn.execute(sa.text("INSERT INTO klient (klient_id, navn, aendret) VALUES (8, 'Dansk', '31-12-2026')"))
    engine.dispose()
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    first = _ingest(con, url, "run-1", datetime(2026, 1, 5))
    assert first.problem_rows == 2
    assert con.execute("SELECT klient_id, _problem, _problem_columns FROM raw.probe__klient WHERE _problem IS NOT NULL "
                       "ORDER BY 1").fetchall() == [(7, "unparseable_update_stamp", "aendret"),
                                                     (8, "unparseable_update_stamp", "aendret")]
    _set(url, 2, navn="Åse", aendret=datetime(2026, 2, 1))
    second = _ingest(con, url, "run-2", datetime(2026, 2, 5))
    assert second.incremental
    names = dict(con.execute("SELECT klient_id, navn FROM raw.probe__klient").fetchall())
    assert names[2] == "Åse" and names[7] == "Skrald" and names[8] == "Dansk"  # rows without a usable stamp: read again


@pytest.mark.parametrize("stamp", ["infinity", "-infinity", "-inf", float("inf"), float("-inf")])
def test_an_infinite_stamp_is_quarantined_and_the_read_goes_on(tmp_path, stamp):
    # Found by the Arrow read's property test: a stamp of -inf stopped the read (no Python datetime holds it).
    url = f"sqlite:///{tmp_path / 'source.sqlite'}"
    _write(url, ROWS)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO klient (klient_id, navn, aendret) VALUES (7, 'Uendelig', :s)"), {"s": stamp})
    engine.dispose()
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    first = _ingest(con, url, "run-1", datetime(2026, 1, 5))
    assert first.problem_rows == 1 and first.next_read_from == datetime(2026, 1, 2, 23, 0)  # newest finite stamp
    assert con.execute("SELECT _problem FROM raw.probe__klient WHERE klient_id = 7").fetchall() == [
        ("unparseable_update_stamp",)]
    _set(url, 2, navn="Åse", aendret=datetime(2026, 2, 1))
    assert _ingest(con, url, "run-2", datetime(2026, 2, 5)).incremental
    assert con.execute("SELECT navn FROM raw.probe__klient WHERE klient_id = 2").fetchall() == [("Åse",)]


TEXT_STAMP_SPEC = SourceSpec(
    name="probe", department="sundhed_aeldre", description="text stamps", default_file="probe.sqlite",
    tables={"klient": TableSpec(name="klient", columns={"klient_id": "INTEGER", "navn": "VARCHAR(200)", "aendret": "VARCHAR(26)"},
                                primary_key=("klient_id",), update_stamp="aendret")},
)


def test_text_stamps_in_any_shape_are_read_again(any_dialect_url, tmp_path):
    engine = sa.create_engine(any_dialect_url)
    md = TEXT_STAMP_SPEC.metadata()
    md.create_all(engine)
    t = md.tables["klient"]
    with engine.begin() as conn:
        conn.execute(t.insert(), [dict(klient_id=1, navn="a", aendret="2026-01-02T03:04:05"),
                                  dict(klient_id=2, navn="b", aendret="2099-01-01T00:00:00"),
                                  dict(klient_id=3, navn="c", aendret="02.01.2026")])
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    first = _ingest(con, any_dialect_url, "run-1", datetime(2026, 1, 5), spec=TEXT_STAMP_SPEC)
    assert (first.future_stamped_rows, first.problem_rows) == (1, 1)
    with engine.begin() as conn:
        conn.execute(t.update().where(t.c.klient_id == 1).values(navn="ændret", aendret="2026-01-03T00:00:00"))
        conn.execute(t.update().where(t.c.klient_id == 3).values(navn="rettet"))
    engine.dispose()
    second = _ingest(con, any_dialect_url, "run-2", datetime(2026, 2, 5), spec=TEXT_STAMP_SPEC)
    assert second.incremental
    assert dict(con.execute("SELECT klient_id, navn FROM raw.probe__klient").fetchall()) == {1: "ændret", 2: "b", 3: "rettet"}


def test_deleted_rows_leave_the_raw_copy_and_are_counted(any_dialect_url, tmp_path):
    _write(any_dialect_url, ROWS)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    _ingest(con, any_dialect_url, "run-1", datetime(2026, 1, 5))
    engine = sa.create_engine(any_dialect_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM klient WHERE klient_id = 1"))
    engine.dispose()
    second = _ingest(con, any_dialect_url, "run-2", datetime(2026, 2, 5))
    assert second.incremental and second.keys_compared and second.rows_deleted == 1
    assert sorted(r[0] for r in con.execute("SELECT klient_id FROM raw.probe__klient").fetchall()) == [2, 3]
    assert con.execute("SELECT rows_deleted FROM meta.source_reads WHERE run_id = 'run-2'").fetchall() == [(1,)]


def test_large_tables_compare_keys_when_the_last_comparison_is_old(tmp_path):
    from datetime import timedelta

    from samlet_overblik.sources.specs import IngestSettings

    url = f"sqlite:///{tmp_path / 'source.sqlite'}"
    _write(url, ROWS)
    settings = IngestSettings(key_check_max_rows=0, key_check_every=timedelta(hours=20))  # every table is "large"
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    _ingest(con, url, "run-1", datetime(2026, 1, 5, 2), settings=settings)  # a whole read compares keys
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM klient WHERE klient_id = 1"))
    engine.dispose()
    soon = _ingest(con, url, "run-2", datetime(2026, 1, 5, 8), settings=settings)
    assert soon.incremental and not soon.keys_compared
    nightly = _ingest(con, url, "run-3", datetime(2026, 1, 6, 2), settings=settings)
    assert nightly.keys_compared and nightly.rows_deleted == 1


def test_consent_registry_is_read_whole_every_run(tmp_path):
    from samlet_overblik.sources.specs import load_source_specs

    spec = load_source_specs()["samtykke"]
    assert spec.snapshot
    url = f"sqlite:///{tmp_path / 'samtykke.sqlite'}"
    engine = sa.create_engine(url)
    spec.metadata().create_all(engine)
    t = spec.metadata().tables["samtykke"]
    row = dict(samtykke_id="S1", version=1, cpr="0101801234", givet_af_cpr="0101801234", formaal="x",
               givet_tid=datetime(2026, 1, 1), opdateret_tid=datetime(2099, 1, 1))
    with engine.begin() as conn:
        conn.execute(t.insert(), [row, {**row, "samtykke_id": "S2", "opdateret_tid": datetime(2026, 1, 1)}])
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ingest_source(con, spec, url, "run-1", datetime(2026, 1, 5))
    with engine.begin() as conn:
        conn.execute(t.delete().where(t.c.samtykke_id == "S2"))
    engine.dispose()
    results = {r.table: r for r in ingest_source(con, spec, url, "run-2", datetime(2026, 1, 6))}
    assert results["samtykke"].mode == "snapshot" and results["samtykke"].rows_deleted == 1
    assert con.execute("SELECT samtykke_id FROM raw.samtykke__samtykke").fetchall() == [("S1",)]


# ------------------------------------------------------------------------------------------------ bad values
# Finding 9: one invalid UTF-8 value made the whole source stale; a non-integer consent version aborted the run.

def test_invalid_utf8_marks_the_row_and_the_rest_is_read(tmp_path):
    url = f"sqlite:///{tmp_path / 'source.sqlite'}"
    _write(url, ROWS)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO klient (klient_id, navn, aendret) VALUES (5, CAST(:b AS TEXT), '2026-01-04')"),
                     {"b": b"S\xf8ren 3113991234"})
    engine.dispose()
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    result = _ingest(con, url, "run-1", datetime(2026, 1, 5))
    assert result.rows_total == 4 and result.problem_rows == 1
    row = con.execute("SELECT navn, _problem, _problem_columns FROM raw.probe__klient WHERE klient_id = 5").fetchall()[0]
    assert row == ("S\\xf8ren 3113991234", "invalid_encoding", "navn")
    assert con.execute("SELECT navn FROM raw.probe__klient WHERE klient_id = 1").fetchall() == [("Søren Ærø Ågård",)]


LOOSE_SPEC = SourceSpec(
    name="probe", department="social_voksen", description="loose SQLite values", default_file="probe.sqlite",
    tables={"klient": TableSpec(name="klient", columns={"klient_id": "INTEGER", "antal": "INTEGER", "aktiv": "BOOLEAN",
                                                        "navn": "VARCHAR(20)", "aendret": "TIMESTAMP"},
                                primary_key=("klient_id",), update_stamp="aendret")},
)


def test_values_that_do_not_fit_are_marked_not_fatal(tmp_path):
    url = f"sqlite:///{tmp_path / 'source.sqlite'}"
    engine = sa.create_engine(url)
    LOOSE_SPEC.metadata().create_all(engine)
    with engine.begin() as conn:  # SQLite keeps text in an INTEGER or BOOLEAN column and any length in a VARCHAR(n)
        conn.execute(sa.text("INSERT INTO klient VALUES (1, 2, 1, 'ok', '2026-01-04'), (2, '3113991234-x', 0, 'a', '2026-01-04'), "
                             "(3, 4, 'ja 3113991234', 'b', '2026-01-04'), (4, 5, 1, :n, '2026-01-04')"),
                     {"n": "3213881234" + "x" * 20})
    engine.dispose()
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    result = _ingest(con, url, "run-1", datetime(2026, 1, 5), spec=LOOSE_SPEC)
    assert result.rows_total == 4 and result.problem_rows == 3
    assert con.execute("SELECT klient_id, antal, aktiv, _problem, _problem_columns FROM raw.probe__klient ORDER BY 1").fetchall() == [
        (1, 2, True, None, None), (2, None, False, "invalid_integer", "antal"), (3, 4, None, "invalid_boolean", "aktiv"),
        (4, 5, True, "oversized_value", "navn")]
    # The typed columns keep their type (staging never compares text with numbers); the oversized text is kept.
    types = dict((r[0], r[1]) for r in con.execute("DESCRIBE raw.probe__klient").fetchall())
    assert (types["klient_id"], types["antal"], types["aktiv"]) == ("BIGINT", "BIGINT", "BOOLEAN")


def test_driver_error_text_never_reaches_the_message(pg_url, tmp_path):
    # A read that fails in the source with an error quoting a value (like MariaDB's "Incorrect datetime value: '...'").
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE loose (v TEXT)"))
        conn.execute(sa.text("INSERT INTO loose VALUES ('3113991234-x')"))
        conn.execute(sa.text("CREATE VIEW klient AS SELECT 1 AS klient_id, 'a' AS navn, DATE '2000-01-01' AS foedt, "
                             "CAST(v AS TIMESTAMP) AS aendret, 1.0 AS pris, 'n' AS note FROM loose"))
    engine.dispose()
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with pytest.raises(SourceUnavailable) as info:
        ingest_source(con, SPEC, pg_url, "run-1", datetime(2026, 1, 5))
    message = str(info.value)
    assert "probe" in message and "klient" in message and "3113991234" not in message and "\n" not in message


def test_value_free_takes_out_quoted_text_and_cpr_shaped_numbers():
    from samlet_overblik.sources.ingest import value_free

    text = "(1292, \"Incorrect datetime value: '31-13-99 1234' for column `aendret` at row 1\") 3113991234 31.12.99-1234\nLINE 2"
    cleaned = value_free(text)
    assert "1234" not in cleaned and "31-13" not in cleaned and "LINE" not in cleaned
    assert "Incorrect datetime value" not in cleaned or "'…'" in cleaned
