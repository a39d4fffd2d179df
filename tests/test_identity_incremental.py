"""Incremental identity linking: a run links only the records whose result could change, with the stored model of
the last full link, and gets the persons a full link with that model gets on the same data."""

from __future__ import annotations

import json
import random
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from samlet_overblik.identity import engine
from samlet_overblik.identity.linking import link_person_records
from samlet_overblik.identity.staged import stage_sources
from samlet_overblik.synthetic import generate


@pytest.fixture(scope="module")
def linked_once(tmp_path_factory) -> Path:
    """A staged warehouse of a generated municipality after one full link."""
    folder = tmp_path_factory.mktemp("incremental")
    sources = folder / "sources"
    generate(2000, 20261130, sources)
    path = folder / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        stage_sources(sources, con)
        first = link_person_records(con, "run1", datetime(2026, 11, 1))
    assert first.mode == "full" and first.relinked == first.records
    return path


def _copy(src: Path, dst: Path) -> duckdb.DuckDBPyConnection:
    shutil.copy(src, dst)
    return duckdb.connect(str(dst))


def _persons(con) -> tuple[set[frozenset], dict]:
    """The partition of the records into persons, and per record the CPR its person stands for and the method
    and score of its link."""
    rows = con.execute(
        """SELECT l.source, l."table", l.record_id, l.person_key, k.cpr, l.method, round(l.score, 9)
           FROM identity.person_links l JOIN identity.person_keys k USING (person_key)""").fetchall()
    groups: dict[str, set] = {}
    for source, table, record_id, key, *_ in rows:
        groups.setdefault(key, set()).add((source, table, record_id))
    return {frozenset(g) for g in groups.values()}, {r[:3]: r[4:] for r in rows}


_REVIEW = """SELECT source, "table", record_id, candidate_source, candidate_table, candidate_record_id, round(score, 9),
                    evidence::VARCHAR FROM identity.review_queue ORDER BY ALL"""


def _change_the_sources(con, seed: int) -> None:
    """What a night brings, in staging: names and addresses that change, CPR numbers lost or mistyped, records
    that go or arrive, a register person who marries and one who moves, and a steward's decisions."""
    rnd = random.Random(seed)
    records = con.execute(
        "SELECT source, source_table, record_id FROM staging.person_records WHERE source <> 'cpr' ORDER BY ALL"
    ).fetchall()
    sample = rnd.sample(records, 60)
    where = "source = ? AND source_table = ? AND record_id = ?"
    for key in sample[:6]:
        con.execute(f"UPDATE staging.person_records SET family_name = family_name || 'e' WHERE {where}", key)
    for key in sample[6:12]:  # another name altogether: the CPR alone no longer settles it
        con.execute(f"UPDATE staging.person_records SET given_name = 'Xenia', family_name = 'Quist' WHERE {where}", key)
    for key in sample[12:20]:
        con.execute(f"UPDATE staging.person_records SET national_id = NULL, national_id_status = 'missing' WHERE {where}",
                    key)
    for key in sample[20:26]:
        con.execute(f"UPDATE staging.person_records SET address = NULL, postcode = NULL WHERE {where}", key)
    for key in sample[26:32]:
        con.execute(f"DELETE FROM staging.person_records WHERE {where}", key)
    for i, key in enumerate(sample[32:40]):  # the same person again, in another source table, without a CPR
        con.execute(
            f"""INSERT INTO staging.person_records BY NAME
                SELECT * REPLACE ('new-' || ? AS record_id, NULL AS national_id, 'missing' AS national_id_status)
                FROM staging.person_records WHERE {where}""", [str(i), *key])
    married, moved = rnd.sample(con.execute("SELECT cpr FROM staging.cpr_persons ORDER BY cpr").fetchall(), 2)
    con.execute("INSERT INTO staging.cpr_name_history (record_id, cpr, given_name, family_name) "
                "SELECT 'marriage', cpr, given_name, family_name FROM staging.cpr_persons WHERE cpr = ?", married)
    con.execute("UPDATE staging.cpr_persons SET family_name = 'Nyborg-' || family_name WHERE cpr = ?", married)
    con.execute("UPDATE staging.cpr_persons SET address = 'Flyttevej 1', postcode = '9999' WHERE cpr = ?", moved)
    # A birth date the register corrects (its records no longer agree with it by CPR alone), and a person who
    # leaves the register (emigrated, say): their records must be judged again.
    corrected, gone = rnd.sample(con.execute(
        "SELECT national_id FROM staging.person_records WHERE source <> 'cpr' AND national_id_status = 'valid' "
        "GROUP BY 1 HAVING count(*) >= 2 ORDER BY 1").fetchall(), 2)
    con.execute("UPDATE staging.cpr_persons SET birth_date = birth_date + INTERVAL 400 DAY WHERE cpr = ?", corrected)
    con.execute("DELETE FROM staging.cpr_persons WHERE cpr = ?", gone)
    con.execute("DELETE FROM staging.person_records WHERE source = 'cpr' AND record_id = ?", gone)
    # One who leaves having changed name and moved before: the history stays behind, no feature of theirs may
    # (a kept feature once outlived its person; found when the day's data happened to remove such a person).
    left = rnd.choice(con.execute(
        "SELECT cpr FROM staging.cpr_persons WHERE cpr IN (SELECT cpr FROM staging.cpr_name_history) "
        "AND cpr IN (SELECT cpr FROM staging.cpr_address_history) AND cpr NOT IN (?, ?, ?) ORDER BY cpr",
        [married[0], moved[0], corrected[0]]).fetchall())
    con.execute("DELETE FROM staging.cpr_persons WHERE cpr = ?", left)
    con.execute("DELETE FROM staging.person_records WHERE source = 'cpr' AND record_id = ?", left)
    # A namesake arrives in the register: same names, birth date and sex as the person a record was linked to by
    # the model. That record did not change, but its link no longer holds.
    linked_by_model = con.execute(
        """SELECT p.given_name, p.family_name, p.birth_date, p.sex, k.cpr FROM identity.person_links l
           JOIN identity.person_keys k USING (person_key)
           JOIN staging.person_records p ON p.source = l.source AND p.source_table = l."table" AND p.record_id = l.record_id
           WHERE l.method = 'probabilistic' AND k.cpr IS NOT NULL AND p.birth_date IS NOT NULL ORDER BY ALL""").fetchall()
    given, family, born, sex, cpr = rnd.choice(linked_by_model)
    twin = cpr[:7] + ("999" if cpr[7:] != "999" else "998")
    con.execute("INSERT INTO staging.cpr_persons BY NAME SELECT ? AS cpr, ? AS given_name, ? AS family_name, "
                "? AS birth_date, ? AS sex", [twin, given, family, born, sex])
    con.execute(
        """INSERT INTO staging.person_records BY NAME
           SELECT 'cpr' AS source, 'personer' AS source_table, ? AS record_id, ? AS national_id,
                  'valid' AS national_id_status, ? AS given_name, ? AS family_name, ? AS birth_date, ? AS sex""",
        [twin, twin, given, family, born, sex])
    a, b = sample[40:42]
    c, d = sample[42:44]
    con.execute(
        """INSERT INTO identity.steward_decisions (decision_id, source_a, table_a, record_id_a, source_b, table_b, record_id_b, decision, decided_by, decided_at, reason) VALUES
           ('n1', ?, ?, ?, ?, ?, ?, 'no_match', 'steward1', TIMESTAMP '2026-11-01 12:00', 'different people'),
           ('m1', ?, ?, ?, ?, ?, ?, 'match', 'steward1', TIMESTAMP '2026-11-01 12:00', 'same person')""",
        [*a, *b, *c, *d])


def test_a_run_with_nothing_changed_links_only_the_people_without_a_register_entry(linked_once, tmp_path):
    """Records of people not in the register are matched among themselves, all together, every run; every other
    record keeps its link when nothing it is judged on changed."""
    with _copy(linked_once, tmp_path / "w.duckdb") as con:
        before = _persons(con)
        result = link_person_records(con, "run2", datetime(2026, 11, 2))
        assert result.mode == "incremental"
        without_register = con.execute(
            """SELECT count(*) FROM identity.person_links l JOIN identity.person_keys k USING (person_key)
               WHERE k.cpr IS NULL""").fetchall()[0][0]
        assert result.relinked == without_register < result.records / 50
        assert _persons(con) == before and (result.merges, result.splits, result.new_keys) == (0, 0, 0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_and_full_linking_find_the_same_persons(linked_once, tmp_path, seed):
    with _copy(linked_once, tmp_path / "a.duckdb") as con:
        model = engine.Model.from_json(json.loads(con.execute("SELECT model FROM identity.link_model").fetchall()[0][0]))
        _change_the_sources(con, seed)
        con.execute("CHECKPOINT")
    shutil.copy(tmp_path / "a.duckdb", tmp_path / "b.duckdb")
    with duckdb.connect(str(tmp_path / "a.duckdb")) as con:
        incremental = link_person_records(con, "run2", datetime(2026, 11, 2))
        assert incremental.mode == "incremental" and incremental.relinked < incremental.records / 5
        persons_a, cpr_a = _persons(con)
        review_a = con.execute(_REVIEW).fetchall()
    with duckdb.connect(str(tmp_path / "b.duckdb")) as con:
        full = link_person_records(con, "run2", datetime(2026, 11, 2), engine.Params(frozen=model))
        assert full.mode == "full" and full.relinked == full.records
        persons_b, cpr_b = _persons(con)
        review_b = con.execute(_REVIEW).fetchall()
    assert persons_a == persons_b
    assert cpr_a == cpr_b
    assert (incremental.merges, incremental.splits) == (full.merges, full.splits)
    assert review_a == review_b


def test_full_relink_when_asked_and_on_the_schedule(linked_once, tmp_path, monkeypatch):
    with _copy(linked_once, tmp_path / "w.duckdb") as con:
        assert link_person_records(con, "run2", datetime(2026, 11, 2), full_relink=True).mode == "full"
        # job.yaml: identity.full_relink_every_days (7): a week after the last full link, the next one is full.
        assert link_person_records(con, "run3", datetime(2026, 11, 8)).mode == "incremental"
        assert link_person_records(con, "run4", datetime(2026, 11, 9, 1)).mode == "full"
        # Other linking settings than the stored model's: a full link.
        assert link_person_records(con, "run5", datetime(2026, 11, 9, 2), engine.Params(accept_p=0.99)).mode == "full"
        runs = con.execute("SELECT run_id, mode FROM identity.link_runs ORDER BY finished_at").fetchall()
        assert [m for _, m in runs] == ["full", "full", "incremental", "full", "full"]


def test_a_full_link_with_the_kept_register_features_equals_one_that_normalises_the_register_again(
        linked_once, tmp_path):
    """The register's normalised names and addresses are kept and redone only for changed persons; a full link on
    them gives what a full link that normalises every register person again gives."""
    with _copy(linked_once, tmp_path / "a.duckdb") as con:
        model = engine.Model.from_json(json.loads(con.execute("SELECT model FROM identity.link_model").fetchall()[0][0]))
        _change_the_sources(con, 4)
        con.execute("CHECKPOINT")
    shutil.copy(tmp_path / "a.duckdb", tmp_path / "b.duckdb")
    results = []
    for name, forget in (("a.duckdb", False), ("b.duckdb", True)):
        with duckdb.connect(str(tmp_path / name)) as con:
            if forget:
                con.execute("DELETE FROM identity.register_name_features")
                con.execute("DELETE FROM identity.register_address_features")
            link_person_records(con, "run2", datetime(2026, 11, 2), engine.Params(frozen=model))
            results.append((_persons(con), con.execute(_REVIEW).fetchall(),
                            con.execute("SELECT * FROM identity.register_name_features ORDER BY ALL").fetchall()))
    assert results[0] == results[1]


def test_a_full_relink_writes_only_the_links_that_changed(linked_once, tmp_path):
    """A weekly full link re-decides every record, but a link that came out the same is left where it is: the
    primary key's index takes every deleted row out one by one at commit. Every staged record still has exactly
    its one link, with the values this run decided."""
    columns = 'source, "table", record_id, person_key, method, score, run_id, fingerprint, rowid'
    with _copy(linked_once, tmp_path / "w.duckdb") as con:
        _change_the_sources(con, 1)
        before = {r[:3]: r for r in con.execute(f"SELECT {columns} FROM identity.person_links").fetchall()}
        last_row = max(r[8] for r in before.values())
        result = link_person_records(con, "run2", datetime(2026, 11, 2), full_relink=True)
        assert result.mode == "full"
        after = {r[:3]: r for r in con.execute(f"SELECT {columns} FROM identity.person_links").fetchall()}
        staged = set(con.execute("SELECT source, source_table, record_id FROM staging.person_records").fetchall())
    assert set(after) == staged and len(after) == result.records
    same = {k for k in after if k in before and before[k][3:8] == after[k][3:8]}
    changed = [k for k in after if k not in same]
    assert changed and len(same) > 10 * len(changed)
    # Unchanged links are the very rows they were; only the changed ones were written, after the last old row.
    assert all(after[k][8] == before[k][8] for k in same)
    assert all(after[k][8] > last_row for k in changed)
    # A changed link names this run, unless the record kept its person and method (then the run that made it).
    for k in changed:
        kept = k in before and before[k][3:5] == after[k][3:5]
        assert after[k][6] == (before[k][6] if kept else "run2")
