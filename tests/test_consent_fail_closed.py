"""Fail closed: when the registry cannot be trusted, nothing crosses a department boundary."""

from __future__ import annotations

from consent_fixtures import (
    RUN, add_consent, add_person, add_record, decision, new_warehouse, run_consent,
)

ADULT = "0303801235"


def _setup():
    con = new_warehouse()
    key = add_person(con, ADULT)
    add_record(con, "r1", key, "beskaeftigelse", "ydelser")
    return con


def test_registry_unreachable_fails_closed():
    con = _setup()
    add_consent(con, "S1", 1, ADULT, [("beskaeftigelse", "social_voksen", "ydelser")])
    state, access = run_consent(con, registry_status="stale")
    assert state.fail_closed and state.reason == "registry_unreachable"
    assert decision(con, "r1", "social_voksen") == ("blocked", None, "fail_closed")
    assert decision(con, "r1", "beskaeftigelse")[0] == "admitted"  # own department still sees its own
    assert access.cross_department_admitted == 0


def test_registry_emptied_after_a_good_run_fails_closed():
    con = _setup()
    add_consent(con, "S1", 1, ADULT, [("beskaeftigelse", "social_voksen", "ydelser")])
    state, _ = run_consent(con, run_id="run-1")
    assert not state.fail_closed
    con.execute("DELETE FROM staging.consents")
    con.execute("DELETE FROM staging.consent_scopes")
    state, access = run_consent(con, run_id="run-2")
    assert state.fail_closed and state.reason == "registry_empty"
    assert access.cross_department_admitted == 0


def test_registry_with_too_many_invalid_rows_fails_closed():
    con = _setup()
    add_consent(con, "S1", 1, ADULT, [("beskaeftigelse", "social_voksen", "ydelser")])
    for i in range(5):
        con.execute(
            "INSERT INTO quarantine.rejected_rows VALUES (?, 'samtykke__samtykke', 'samtykke', 'samtykke', NULL, "
            "'invalid_cpr', ?, now())",
            [RUN, f'{{"samtykke_id": "BAD{i}", "version": 1}}'],
        )
    state, access = run_consent(con)
    assert state.fail_closed and state.reason == "registry_invalid"
    assert access.cross_department_admitted == 0


def test_empty_registry_on_first_run_is_not_an_error_but_shares_nothing():
    con = _setup()
    state, access = run_consent(con)
    assert not state.fail_closed
    assert access.cross_department_admitted == 0
