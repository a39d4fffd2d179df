"""Great Expectations suites: each runs on a real warehouse; a crafted bad batch fails the right expectation;
a critical failure blocks publishing, a warning does not."""

from __future__ import annotations

import json
import shutil

import duckdb
import pytest

from samlet_overblik.quality import checks as quality
from samlet_overblik.runner import run_job

from pipeline_helpers import query, run, settings_for

SUITES = {s.name: s for s in quality.load_suites()}


@pytest.fixture(scope="module")
def built(small_municipality, tmp_path_factory):
    warehouse = tmp_path_factory.mktemp("q") / "w.duckdb"
    run(small_municipality, warehouse)
    return warehouse


def test_one_suite_per_source_plus_invariants():
    assert set(SUITES) >= {"boern_familie", "beskaeftigelse", "social_voksen", "sundhed_aeldre", "samtykke", "cpr", "unified", "identity"}


@pytest.mark.parametrize("name", sorted(SUITES))
def test_each_suite_passes_on_a_good_run_and_is_recorded(built, name):
    assert query(built, "SELECT count(*) FROM quality.validation_results WHERE suite = ? AND severity = 'critical' AND NOT success",
                 [name])[0][0] == 0
    assert query(built, "SELECT count(*) FROM quality.validation_results WHERE suite = ?", [name])[0][0] == len(
        SUITES[name].doc["expectations"])


def _validate_after(built, tmp_path, name, sql):
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(built, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute(sql)
        return quality.validate_suite(con, SUITES[name], "crafted")


@pytest.mark.parametrize(
    "name, sql, expectation, column",
    [
        ("beskaeftigelse", "UPDATE staging.interventions SET category = 'skole' WHERE rowid IN "
                           "(SELECT rowid FROM staging.interventions WHERE source = 'beskaeftigelse' LIMIT 3)",
         "expect_column_values_to_be_in_set", "category"),
        ("sundhed_aeldre", "UPDATE staging.person_records SET national_id = '12345' WHERE source = 'sundhed_aeldre' AND national_id IS NOT NULL",
         "expect_column_values_to_match_regex", "national_id"),
        ("cpr", "INSERT INTO staging.cpr_persons (cpr, birth_date, sex) SELECT cpr || 'X', birth_date, 'Q' FROM staging.cpr_persons LIMIT 1",
         "expect_column_values_to_be_in_set", "sex"),
        ("unified", "UPDATE unified.access_grants SET basis = 'lov:egen_afdeling' WHERE rowid IN "
                    "(SELECT rowid FROM unified.access_grants WHERE viewer_department <> source_department LIMIT 1)",
         "expect_column_values_to_be_in_set", "basis_fits"),
        ("samtykke", "INSERT INTO staging.consents (samtykke_id, version, cpr, given_at, withdrawn_at) "
                     "VALUES ('X', 1, '0101801234', TIMESTAMP '2026-01-02', TIMESTAMP '2026-01-01')",
         "expect_column_pair_values_a_to_be_greater_than_b", None),
    ],
)
def test_crafted_bad_batch_fails_the_right_expectation(built, tmp_path, name, sql, expectation, column):
    outcome = _validate_after(built, tmp_path, name, sql)
    failed = [(o.expectation, o.kwargs.get("column")) for o in outcome.critical_failures]
    assert (expectation, column) in failed


def test_warning_is_reported_but_does_not_fail_critical(built, tmp_path):
    outcome = _validate_after(built, tmp_path, "social_voksen",
                              "UPDATE staging.interventions SET monthly_cost = 999999 WHERE source = 'social_voksen'")
    assert not outcome.critical_failures
    assert [o.expectation for o in outcome.warnings] == ["expect_column_values_to_be_between"]


def test_critical_failure_blocks_publishing(small_municipality, tmp_path, monkeypatch):
    # An edited copy of the suites whose critical expectation cannot hold on real data.
    folder = tmp_path / "expectations"
    shutil.copytree(quality.data_dir("expectations"), folder)
    doc = json.loads((folder / "cpr.json").read_text())
    doc["expectations"].append({"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "sex", "value_set": ["M"]},
                                "meta": {"severity": "critical"}})
    (folder / "cpr.json").write_text(json.dumps(doc))
    monkeypatch.setenv("SAMLET_EXPECTATIONS_DIR", str(folder))
    warehouse = tmp_path / "w.duckdb"
    outcome = run_job(settings_for(small_municipality, warehouse), "nightly")
    assert not outcome.success and "ge_cpr" in outcome.failure
    assert not warehouse.exists() and not (tmp_path / "exports").exists()
