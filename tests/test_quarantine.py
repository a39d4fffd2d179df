"""Every kind of bad row is quarantined with its reason and raw row; nothing is dropped silently."""

from __future__ import annotations

from datetime import date

import pandas as pd
import sqlalchemy as sa

from samlet_overblik.synthetic import generate
from samlet_overblik.sources.specs import load_source_specs

from pipeline_helpers import copy_sources, query, run

EXPECTED_REASON = {"invalid_code": "unknown_code", "end_before_start": "end_before_start"}


def test_generated_noise_lands_in_quarantine_with_the_right_reason(tmp_path):
    sources = tmp_path / "src"
    generate(3000, 21, sources, noise="high", as_of=date(2026, 11, 1))
    warehouse = tmp_path / "w.duckdb"
    run(sources, warehouse)
    noise = pd.read_parquet(sources / "noise_log.parquet")
    quarantined = {(s, t, r): reason for s, t, r, reason in query(
        warehouse, "SELECT source, source_table, record_id, reason FROM quarantine.rejected_rows")}
    # A row can carry several kinds of noise; it is quarantined for one of them.
    expected: dict[tuple, set[str]] = {}
    for row in noise.itertuples():
        reason = EXPECTED_REASON.get(row.kind)
        if row.kind == "invalid_date_text" and row.table == "services":
            reason = "unparseable_date"
        if reason:
            expected.setdefault((row.source, row.table, str(row.record_id)), set()).add(reason)
    for key, reasons in expected.items():
        assert quarantined.get(key) in reasons, key
    checked = len(expected)
    assert checked > 10
    # Staged + quarantined = raw, per intervention table: nothing vanished.
    for source, table in [("beskaeftigelse", "ydelse"), ("sundhed_aeldre", "services"), ("social_voksen", "bevilling")]:
        raw = query(warehouse, f"SELECT count(*) FROM raw.{source}__{table}")[0][0]
        staged = query(warehouse, "SELECT count(*) FROM staging.interventions WHERE source = ? AND source_table = ?", [source, table])[0][0]
        rejected = query(warehouse, "SELECT count(*) FROM quarantine.rejected_rows WHERE source = ? AND source_table = ?", [source, table])[0][0]
        assert raw == staged + rejected


def test_hand_made_bad_rows_each_get_their_reason(small_municipality, tmp_path):
    sources = copy_sources(small_municipality, tmp_path / "src")
    specs = load_source_specs()

    def insert(source: str, table: str, **values):
        engine = sa.create_engine(f"sqlite:///{sources / specs[source].default_file}")
        with engine.begin() as conn:
            conn.execute(specs[source].metadata().tables[table].insert(), [values])
        engine.dispose()

    from datetime import datetime

    stamp = datetime(2026, 11, 1)
    insert("beskaeftigelse", "ydelse", ydelse_id=9_000_001, borger_id=987654321, ydelsestype="kontanthjaelp",
           beloeb_pr_maaned=1000, fra_dato=date(2026, 1, 1), til_dato=None, sagsbehandler="x", sidst_aendret=stamp)
    some_borger = query_one(sources / "beskaeftigelse.sqlite", "SELECT borger_id FROM borger LIMIT 1")
    insert("beskaeftigelse", "ydelse", ydelse_id=9_000_002, borger_id=some_borger, ydelsestype="kontanthjaelp",
           beloeb_pr_maaned=-5, fra_dato=date(2026, 1, 1), til_dato=None, sagsbehandler="x", sidst_aendret=stamp)
    engine = sa.create_engine(f"sqlite:///{sources / 'beskaeftigelse.sqlite'}")
    with engine.begin() as conn:  # SQLite accepts text in a NUMERIC column: a real source quirk
        conn.execute(sa.text("INSERT INTO ydelse (ydelse_id, borger_id, ydelsestype, beloeb_pr_maaned, fra_dato, sidst_aendret) "
                             "VALUES (9000003, :b, 'kontanthjaelp', 'tolv tusind', '2026-01-01', :s)"), {"b": some_borger, "s": "2026-11-01 00:00:00"})
    engine.dispose()
    insert("samtykke", "samtykke_omfang", samtykke_id="NOPE", version=1, fra_afdeling="beskaeftigelse",
           til_afdeling="skolen", kategori="indsatser")
    insert("samtykke", "samtykke_omfang", samtykke_id="NOPE", version=1, fra_afdeling="beskaeftigelse",
           til_afdeling="social_voksen", kategori="alt")
    insert("samtykke", "samtykke_omfang", samtykke_id="NOPE", version=1, fra_afdeling="beskaeftigelse",
           til_afdeling="social_voksen", kategori="ydelser")

    warehouse = tmp_path / "w.duckdb"
    run(sources, warehouse)
    got = dict(query(warehouse, "SELECT record_id, reason FROM quarantine.rejected_rows WHERE source = 'beskaeftigelse' "
                                "AND record_id IN ('9000001', '9000002', '9000003')"))
    assert got == {"9000001": "orphan_person_reference", "9000002": "negative_amount", "9000003": "invalid_amount"}
    scope_reasons = sorted(r for (r,) in query(warehouse, "SELECT reason FROM quarantine.rejected_rows WHERE asset = 'samtykke__samtykke_omfang'"))
    assert scope_reasons == ["orphan_consent_reference", "unknown_category", "unknown_department"]
    raw = query(warehouse, "SELECT raw_row FROM quarantine.rejected_rows WHERE record_id = '9000003'")[0][0]
    assert "tolv tusind" in raw  # the raw row is kept as it was


def query_one(path, sql):
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        value = conn.execute(sa.text(sql)).scalar()
    engine.dispose()
    return value
