"""One gate decides every cross-department datum: records, coordination plans with their tovholder, home visits.

Finding 8 of issue 10, reproduced (each failed on the commit before the gate took plans and visits):
- coordination plans reached other departments through a second, hand-written consent check in ``unified.py`` (now unified/view.py)
  that never entered ``unified.access_grants``, so lineage could not explain them;
- that check decided fail-closed by "the latest run by reference time", not by the run being built.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from consent_fixtures import RUN, add_consent, run_consent
from samlet_overblik.unified import exports as publish
from samlet_overblik.consent import gate

from test_unified_helpers import add_iv, add_person, add_plan, add_visit, build, new_warehouse

CPR = "0101801111"


def _export(con, tmp_path, department: str):
    publish.build_export(con, tmp_path, department, "run-test")
    return duckdb.connect(str(tmp_path / f"{department}.duckdb"), read_only=True)


def _case():
    con = new_warehouse()
    a = add_person(con, CPR)
    add_iv(con, "sv1", a, "social_voksen", caseworker="Ole")
    add_iv(con, "bs1", a, "beskaeftigelse", caseworker="Ida")
    add_plan(con, "plan1", a, "social_voksen", "Tove Tovholder")
    return con, a


def test_a_withdrawn_kontakt_consent_removes_the_plan_and_its_tovholder(tmp_path):
    con, a = _case()
    add_consent(con, "c1", 1, CPR, [("social_voksen", "beskaeftigelse", "kontakt")])
    run_consent(con)
    build(con)
    grant = con.execute("SELECT basis FROM unified.access_grants WHERE record_id = 'plan1' AND viewer_department = "
                        "'beskaeftigelse'").fetchall()
    assert grant == [("samtykke:c1@1",)]  # the plan is a datum of the gate, with its basis (lineage explains it)
    ex = _export(con, tmp_path / "before", "beskaeftigelse")
    assert ex.execute("SELECT coordinator, basis FROM coordination_plans").fetchall() == [("Tove Tovholder", "samtykke:c1@1")]
    assert ex.execute("SELECT coordinating_caseworker FROM citizen_overview").fetchall() == [("Tove Tovholder",)]
    ex.close()

    con.execute("UPDATE staging.consents SET withdrawn_at = TIMESTAMP '2026-06-01 09:00:00'")
    run_consent(con, run_id="run-2")
    build(con)
    assert con.execute("SELECT count(*) FROM unified.access_grants WHERE record_id = 'plan1' AND viewer_department = "
                       "'beskaeftigelse'").fetchall() == [(0,)]
    assert con.execute("SELECT decision, reason FROM consent.record_decisions WHERE record_id = 'plan1' AND "
                       "viewer_department = 'beskaeftigelse'").fetchall() == [("blocked", "consent_withdrawn")]
    ex = _export(con, tmp_path / "after", "beskaeftigelse")
    assert ex.execute("SELECT count(*) FROM coordination_plans").fetchall() == [(0,)]
    assert ex.execute("SELECT coordinating_caseworker FROM citizen_overview").fetchall() == [(None,)]
    ex.close()
    # The lead department keeps its own plan.
    ex = _export(con, tmp_path / "after", "social_voksen")
    assert ex.execute("SELECT coordinator, basis FROM coordination_plans").fetchall() == [("Tove Tovholder", "lov:egen_afdeling")]
    ex.close()


def test_a_closed_run_lets_no_plan_cross_whatever_an_earlier_run_decided(tmp_path):
    """The old check asked "did the run with the latest reference time fail closed?", not "did this run?"."""
    con, a = _case()
    add_consent(con, "c1", 1, CPR, [("social_voksen", "beskaeftigelse", "kontakt")])
    run_consent(con, run_id="run-late", ref=datetime(2026, 6, 20, 12, 0))  # a run with a later reference time, ok
    run_consent(con, run_id="run-now", ref=datetime(2026, 6, 15, 12, 0), registry_status="unreachable")
    assert gate.run_is_closed(con, "run-now") == (True, "registry_unreachable")
    assert gate.run_is_closed(con, "run-late") == (False, None)
    assert gate.run_is_closed(con, "never-ran") == (True, "no_consent_verdict")
    build(con)
    ex = _export(con, tmp_path, "beskaeftigelse")
    assert ex.execute("SELECT count(*) FROM coordination_plans").fetchall() == [(0,)]
    assert ex.execute("SELECT coordinating_caseworker FROM citizen_overview").fetchall() == [(None,)]
    ex.close()


def test_home_visits_cross_with_their_service_and_carry_its_basis(tmp_path):
    con = new_warehouse()
    old = add_person(con, CPR)
    add_iv(con, "srv", old, "sundhed_aeldre", title="Personlig pleje", paragraph="SEL § 83", source_table="services")
    add_iv(con, "bf", old, "boern_familie")
    add_visit(con, "v1", old, "sundhed_aeldre", "2026-06-10 08:00", "Amsterdamvej 59", service_record_id="srv")
    add_visit(con, "v2", old, "sundhed_aeldre", "2026-06-11 08:00", "Amsterdamvej 59", service_record_id="missing")
    add_consent(con, "c1", 1, CPR, [("sundhed_aeldre", "boern_familie", "indsatser")])
    run_consent(con)
    build(con)
    ex = _export(con, tmp_path, "boern_familie")
    # v1 delivers a shared service; v2's service is unknown, so it counts as health data and stays home.
    assert ex.execute("SELECT record_id, basis, category FROM home_visits").fetchall() == [("v1", "samtykke:c1@1", "indsatser")]
    ex.close()
    assert con.execute("SELECT category, reason FROM consent.record_decisions WHERE record_id = 'v2' AND "
                       "viewer_department = 'boern_familie'").fetchall() == [("helbred", "scope_excludes")]


def test_the_not_shared_count_is_the_gates_own(tmp_path):
    con, a = _case()
    run_consent(con)
    # No consent: beskaeftigelse may not see social_voksen's record nor its plan; the count is of records only.
    assert gate.hidden_count(con, a, "beskaeftigelse", set()) == 1
    assert gate.hidden_count(con, a, "social_voksen", set()) == 1
    # What the viewer is actually shown is not counted as hidden (e.g. rows of exports carried over a closed run).
    assert gate.hidden_count(con, a, "beskaeftigelse", {("social_voksen", "indsats", "sv1")}) == 0
    assert RUN
