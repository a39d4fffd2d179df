"""Frames are compacted before Great Expectations sees them: text columns that repeat a few values become
categoricals, mostly distinct ones (keys, CPR numbers) stay text. Either way every expectation's outcome is the one
GX gives on the frame as read."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from samlet_overblik.quality import checks as quality

SUITES = {s.name: s for s in quality.load_suites()}


def _interventions(rows: int) -> pd.DataFrame:
    """A department suite's batch with a few rows that break its expectations (a duplicate key, an unknown
    category, a malformed and a missing CPR number, an end before the start, no start)."""
    start = date(2024, 1, 1)
    frame = pd.DataFrame({
        "record_id": [f"sag:{i}" for i in range(rows)],
        "department": ["beskaeftigelse"] * rows,
        "category": [("indsatser", "ydelser", "kontakt")[i % 3] for i in range(rows)],
        "start_date": [start + timedelta(days=i % 300) for i in range(rows)],
        "end_date": [start + timedelta(days=i % 300 + 30) for i in range(rows)],
        "monthly_cost": [1000.0 + i % 50 for i in range(rows)],
        "national_id": [f"{(i * 7919) % 10**10:010d}" for i in range(rows)],
        "national_id_status": [("valid", "valid", "replacement")[i % 3] for i in range(rows)],
    })
    frame.loc[5, "record_id"] = frame.loc[4, "record_id"]
    frame.loc[6, "category"] = "skole"
    frame.loc[7, "national_id"] = "12-34"
    frame.loc[8, "national_id"] = None
    frame.loc[9, "end_date"] = start - timedelta(days=1)
    frame.loc[10, "start_date"] = None
    return frame


def _categorical(frame: pd.DataFrame) -> set[str]:
    return {c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)}


def _outcomes(outcome: quality.SuiteOutcome) -> list[tuple]:
    return [(o.expectation, o.success, o.element_count, o.unexpected_count) for o in outcome.outcomes]


def test_compacting_keeps_every_outcome_and_leaves_distinct_columns_as_text():
    suite = SUITES["beskaeftigelse"]
    plain = _interventions(20_000)
    compact = plain.copy()
    quality._compact(compact, suite)

    # Few values: categorical. Mostly distinct (key, CPR) or compared pairwise (the dates): as read.
    assert _categorical(compact) == {"department", "category", "national_id_status"}
    assert compact["record_id"].dtype == object and compact["national_id"].dtype == object

    expected = _outcomes(quality.validate_frame(suite, plain))
    assert _outcomes(quality.validate_frame(suite, compact)) == expected
    # The crafted rows are found, so the comparison is not between two empty results.
    failed = {e for e, ok, _n, _bad in expected if not ok}
    assert {"expect_column_values_to_be_unique", "expect_column_values_to_be_in_set",
            "expect_column_values_to_match_regex", "expect_column_values_to_not_be_null",
            "expect_column_pair_values_a_to_be_greater_than_b"} <= failed


def test_small_frames_are_left_as_read():
    suite = SUITES["beskaeftigelse"]
    frame = _interventions(500)
    quality._compact(frame, suite)
    assert _categorical(frame) == set()


def test_the_identity_suite_reads_only_what_it_checks():
    """Its batch is the person keys: every column an expectation names, no other (a per-key link count was read,
    fingerprinted and converted for every citizen and checked by nothing)."""
    suite = SUITES["identity"]
    checked = {e["kwargs"]["column"] for e in suite.doc["expectations"]}
    assert checked == {"person_key", "cpr"}
    assert suite.query == "SELECT person_key, cpr FROM identity.person_keys"
