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
            "INSERT INTO quarantine.rejected_rows (run_id, asset, source, source_table, record_id, reason, raw_row, rejected_at) VALUES (?, 'samtykke__samtykke', 'samtykke', 'samtykke', NULL, "
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


# Finding 2: deleted consents went unnoticed. The registry is compared by key with the last run that trusted it.

def _ten_consents(con):
    for i in range(10):
        add_consent(con, f"S{i}", 1, ADULT, [("beskaeftigelse", "social_voksen", "ydelser")])


def _delete(con, *ids):
    for sid in ids:
        con.execute("DELETE FROM staging.consents WHERE samtykke_id = ?", [sid])
        con.execute("DELETE FROM staging.consent_scopes WHERE samtykke_id = ?", [sid])


def test_registry_that_lost_many_consents_fails_closed_until_they_are_back():
    con = _setup()
    _ten_consents(con)
    state, _ = run_consent(con, run_id="run-1")
    assert not state.fail_closed
    _delete(con, "S0", "S1", "S2", "S3", "S4")  # half the registry gone at once (a bad restore, a truncated table)
    state, access = run_consent(con, run_id="run-2")
    assert state.fail_closed and state.reason == "registry_shrunk" and state.lost_versions == 5
    assert access.cross_department_admitted == 0
    # The next run compares with the last *trusted* registry, not with the shrunken one: still closed.
    state, _ = run_consent(con, run_id="run-3")
    assert state.fail_closed and state.reason == "registry_shrunk"
    assert con.execute("SELECT fail_closed, reason, lost_versions FROM consent.run_status WHERE run_id = 'run-3'").fetchall() == [
        (True, "registry_shrunk", 5)]
    _ten_consents(con)  # restored (the rows that were still there are re-added next to themselves: dedupe first)
    con.execute("CREATE OR REPLACE TABLE staging.consents AS SELECT DISTINCT * FROM staging.consents")
    con.execute("CREATE OR REPLACE TABLE staging.consent_scopes AS SELECT DISTINCT * FROM staging.consent_scopes")
    state, access = run_consent(con, run_id="run-4")
    assert not state.fail_closed and access.cross_department_admitted > 0


def test_one_deleted_consent_is_accepted_and_its_grants_are_gone():
    con = _setup()
    _ten_consents(con)
    run_consent(con, run_id="run-1")
    _delete(con, "S0")
    state, _ = run_consent(con, run_id="run-2")
    assert not state.fail_closed and state.lost_versions == 1
    assert con.execute("SELECT count(*) FROM consent.effective_grants WHERE samtykke_id = 'S0'").fetchall() == [(0,)]
    # The accepted registry is the new baseline.
    assert con.execute("SELECT count(*) FROM consent.registry_keys").fetchall() == [(9,)]


def test_lost_share_is_configurable():
    from consent_fixtures import REF, mark_registry_loaded

    from samlet_overblik.consent import state as consent_state
    from samlet_overblik.consent.policy import load_policy

    policy = load_policy()
    verdicts = {}
    for share in (0.5, 0.1):
        con = _setup()
        _ten_consents(con)
        run_consent(con, run_id="run-1")
        _delete(con, "S0", "S1", "S2")  # 30 % gone
        mark_registry_loaded(con, run_id="run-2")
        consent_state.evaluate_consents(con, policy, REF)
        verdicts[share] = consent_state.check_registry(con, policy, "run-2", REF, max_lost_share=share).reason
    assert verdicts == {0.5: None, 0.1: "registry_shrunk"}
