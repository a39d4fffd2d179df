"""Each consent edge case of DESIGN.md's definition, decided set-based in DuckDB."""

from __future__ import annotations

from datetime import timedelta

import pytest

from consent_fixtures import (
    REF, add_consent, add_custody, add_person, add_record, decision, new_warehouse, run_consent,
)

CHILD, PARENT, ADULT = "0101201234", "0202851234", "0303801235"


@pytest.fixture
def con():
    c = new_warehouse()
    yield c
    c.close()


def _adult_with_job_record(con):
    key = add_person(con, ADULT)
    add_record(con, "r1", key, "beskaeftigelse", "ydelser")
    return key


def test_own_department_always_sees_its_records(con):
    _adult_with_job_record(con)
    run_consent(con)
    assert decision(con, "r1", "beskaeftigelse") == ("admitted", "lov:egen_afdeling", None)
    assert decision(con, "r1", "social_voksen") == ("blocked", None, "no_consent")


def test_consent_in_force_admits_with_its_basis(con):
    _adult_with_job_record(con)
    add_consent(con, "S1", 1, ADULT, [("beskaeftigelse", "social_voksen", "ydelser")])
    run_consent(con)
    assert decision(con, "r1", "social_voksen") == ("admitted", "samtykke:S1@1", None)
    assert decision(con, "r1", "sundhed_aeldre")[0] == "blocked"  # the scope names one receiver only


@pytest.mark.parametrize(
    "withdrawn, expected",
    [(REF - timedelta(seconds=1), ("blocked", None, "consent_withdrawn")),
     (REF, ("blocked", None, "consent_withdrawn")),
     (REF + timedelta(seconds=1), ("admitted", "samtykke:S1@1", None))],
    ids=["a-second-before", "at-the-instant", "a-second-after"],
)
def test_withdrawal_around_the_reference_time(con, withdrawn, expected):
    _adult_with_job_record(con)
    add_consent(con, "S1", 1, ADULT, [("beskaeftigelse", "social_voksen", "ydelser")], withdrawn=withdrawn.isoformat(sep=" "))
    run_consent(con)
    assert decision(con, "r1", "social_voksen") == expected


@pytest.mark.parametrize(
    "valid_until, admitted",
    [(REF.date(), True), (REF.date() - timedelta(days=1), False), (REF.date() + timedelta(days=1), True)],
    ids=["expiring-today", "expired-yesterday", "expires-tomorrow"],
)
def test_expiry_by_date(con, valid_until, admitted):
    _adult_with_job_record(con)
    add_consent(con, "S1", 1, ADULT, [("beskaeftigelse", "social_voksen", "ydelser")], valid_until=valid_until.isoformat())
    run_consent(con)
    got = decision(con, "r1", "social_voksen")
    assert (got[0] == "admitted") is admitted
    if not admitted:
        assert got[2] == "consent_expired"


def test_superseded_version_narrowing_the_scope(con):
    key = add_person(con, ADULT)
    add_record(con, "benefit", key, "beskaeftigelse", "ydelser")
    add_record(con, "offer", key, "beskaeftigelse", "indsatser")
    add_consent(con, "S1", 1, ADULT, [("beskaeftigelse", "social_voksen", "ydelser"), ("beskaeftigelse", "social_voksen", "indsatser")])
    add_consent(con, "S1", 2, ADULT, [("beskaeftigelse", "social_voksen", "indsatser")], given="2026-03-01 09:00:00")
    run_consent(con)
    assert decision(con, "offer", "social_voksen") == ("admitted", "samtykke:S1@2", None)
    assert decision(con, "benefit", "social_voksen") == ("blocked", None, "scope_excludes")
    status = dict(con.execute("SELECT version, status FROM consent.evaluated").fetchall())
    assert status == {1: "superseded", 2: "in_force"}


def test_newer_version_given_after_the_reference_time_does_not_replace_yet(con):
    _adult_with_job_record(con)
    add_consent(con, "S1", 1, ADULT, [("beskaeftigelse", "social_voksen", "ydelser")])
    add_consent(con, "S1", 2, ADULT, [], given=(REF + timedelta(days=1)).isoformat(sep=" "))
    run_consent(con)
    assert decision(con, "r1", "social_voksen") == ("admitted", "samtykke:S1@1", None)


@pytest.mark.parametrize("custody_until, expected, status", [
    # Custody from birth until after the consent was given: valid (DESIGN: custody at the time it was given).
    ("2026-03-01", ("admitted", "samtykke:S1@1", None), "in_force"),
    # Custody lost before the consent was given: the parent could not give it.
    ("2025-12-31", ("blocked", None, "consent_giver_without_custody"), "giver_without_custody"),
])
def test_a_custody_holder_may_consent_for_the_child_only_while_holding_custody(con, custody_until, expected, status):
    key = add_person(con, CHILD, birth="2020-01-01")
    add_person(con, PARENT)
    add_record(con, "c1", key, "boern_familie", "indsatser")
    add_custody(con, CHILD, PARENT, "2020-01-01", custody_until)
    add_consent(con, "S1", 1, CHILD, [("boern_familie", "beskaeftigelse", "indsatser")], given_by=PARENT, given="2026-02-01 10:00:00")
    run_consent(con)
    assert decision(con, "c1", "beskaeftigelse") == expected
    assert con.execute("SELECT status FROM consent.evaluated").fetchall() == [(status,)]


def test_parent_without_any_custody_relation_is_rejected(con):
    key = add_person(con, CHILD, birth="2020-01-01")
    add_record(con, "c1", key, "boern_familie", "indsatser")
    add_consent(con, "S1", 1, CHILD, [("boern_familie", "beskaeftigelse", "indsatser")], given_by=PARENT)
    run_consent(con)
    assert decision(con, "c1", "beskaeftigelse")[2] == "consent_giver_without_custody"


@pytest.mark.parametrize("named", [True, False], ids=["consent-names-helbred", "consent-without-helbred"])
def test_health_data_flows_only_when_named(con, named):
    key = add_person(con, ADULT)
    add_record(con, "h1", key, "sundhed_aeldre", "helbred")
    add_record(con, "i1", key, "sundhed_aeldre", "indsatser")
    scopes = [("sundhed_aeldre", "social_voksen", "indsatser")]
    if named:
        scopes.append(("sundhed_aeldre", "social_voksen", "helbred"))
    add_consent(con, "S1", 1, ADULT, scopes)
    run_consent(con)
    assert decision(con, "i1", "social_voksen")[0] == "admitted"
    assert (decision(con, "h1", "social_voksen")[0] == "admitted") is named


def test_purpose_outside_the_policy_does_not_count(con):
    _adult_with_job_record(con)
    add_consent(con, "S1", 1, ADULT, [("beskaeftigelse", "social_voksen", "ydelser")], purpose="markedsfoering")
    run_consent(con)
    assert decision(con, "r1", "social_voksen") == ("blocked", None, "consent_purpose_not_covered")


def test_unlinked_record_never_crosses(con):
    con.execute(
        "INSERT INTO staging.interventions (source, source_table, record_id, person_table, person_record_id, department, "
        "category, kind) VALUES ('social_voksen', 'bevilling', 'x', 'klient', 'anon', 'social_voksen', 'misbrug', 'indsats')"
    )
    run_consent(con)
    assert decision(con, "x", "social_voksen")[0] == "admitted"
    assert decision(con, "x", "beskaeftigelse") == ("blocked", None, "no_identified_person")


def test_quarantined_newer_version_disables_the_whole_consent(con):
    _adult_with_job_record(con)
    add_consent(con, "S1", 1, ADULT, [("beskaeftigelse", "social_voksen", "ydelser")])
    con.execute(
        "INSERT INTO quarantine.rejected_rows (run_id, asset, source, source_table, record_id, reason, raw_row, rejected_at) VALUES ('run-test', 'samtykke__samtykke', 'samtykke', 'samtykke', NULL, "
        "'unparseable_date', '{\"samtykke_id\": \"S1\", \"version\": 2}', now())"
    )
    from samlet_overblik.consent.policy import load_policy
    import dataclasses

    lenient = dataclasses.replace(load_policy(), registry_max_invalid_share=1.0)  # isolate the per-consent rule
    run_consent(con, policy=lenient)
    assert decision(con, "r1", "social_voksen") == ("blocked", None, "consent_invalid_version")
