"""unified.interventions, citizen_overview (Høje-Taastrup flags) and family_overview on hand-made cases."""

from __future__ import annotations

from samlet_overblik.unified import view as unified

from test_unified_helpers import add_iv, add_person, add_plan, add_relation, build, new_warehouse


def overview(con, key):
    cols = [d[0] for d in con.execute("SELECT * FROM unified.citizen_overview LIMIT 0").description]
    rows = con.execute("SELECT * FROM unified.citizen_overview WHERE person_key = ?", [key]).fetchall()
    assert len(rows) == 1, rows
    return dict(zip(cols, rows[0]))


def test_interventions_carry_person_status_and_freshness():
    con = new_warehouse()
    a = add_person(con, "0101801234")
    add_iv(con, "1", a, "beskaeftigelse", kind="ydelse", category="ydelser", paragraph="LAS", cost=14000, caseworker="Ida")
    add_iv(con, "2", a, "social_voksen", start="2025-01-01", end="2025-12-31")
    add_iv(con, "3", a, "sundhed_aeldre", start="2026-09-01")
    con.execute("INSERT INTO meta.source_loads (run_id, source, source_table, rows_read, rows_total, incremental, status, loaded_at, message) VALUES ('r0', 'beskaeftigelse', 'indsats', 1, 1, FALSE, 'ok', TIMESTAMP '2026-06-14 02:00', NULL)")
    con.execute("INSERT INTO meta.source_loads (run_id, source, source_table, rows_read, rows_total, incremental, status, loaded_at, message) VALUES ('r1', 'beskaeftigelse', 'indsats', 0, 1, FALSE, 'stale', TIMESTAMP '2026-06-14 02:00', 'down')")
    build(con)
    rows = dict((r[0], r[1:]) for r in con.execute(
        "SELECT record_id, person_key, status, sector, data_status, data_as_of IS NOT NULL, monthly_cost FROM unified.interventions").fetchall())
    assert rows["1"][:4] == (a, "aktiv", "Jobcenter / Beskæftigelse", "stale")
    assert rows["2"][1] == "afsluttet" and rows["3"][1] == "kommende"
    assert rows["1"][4] is True and rows["2"][4] is False  # freshness only where the source was loaded


def test_flag_departments_positive_negative_and_threshold_configurable():
    con = new_warehouse()
    two = add_person(con, "0101801111")
    one = add_person(con, "0101801112")
    add_iv(con, "1", two, "beskaeftigelse")
    add_iv(con, "2", two, "social_voksen")
    add_iv(con, "3", one, "beskaeftigelse")
    add_iv(con, "4", one, "social_voksen", end="2026-01-31")  # ended: not an active entry
    build(con)
    o = overview(con, two)
    assert o["flag_departments"] and o["n_departments"] == 2 and o["departments"] == ["beskaeftigelse", "social_voksen"]
    assert "Aktiv i 2 afdelinger" in o["flags_explained"] and "grænsen er 2" in o["flags_explained"]
    assert not overview(con, one)["flag_departments"]
    build(con, thresholds=unified.Thresholds(min_departments=3))
    assert not overview(con, two)["flag_departments"]


def test_flag_services_counts_benefits_and_services_not_meetings():
    con = new_warehouse()
    yes = add_person(con, "0101801111")
    no = add_person(con, "0101801112")
    for i, kind in enumerate(["indsats", "ydelse", "indsats"]):
        add_iv(con, f"y{i}", yes, "beskaeftigelse", kind=kind)
    add_iv(con, "n1", no, "beskaeftigelse", kind="ydelse")
    add_iv(con, "n2", no, "beskaeftigelse", kind="indsats")
    add_iv(con, "n3", no, "beskaeftigelse", kind="kontakt", category="kontakt", start="2026-06-15", end="2026-06-15")
    add_iv(con, "n4", no, "beskaeftigelse", kind="sanktion", category="ydelser", start="2026-06-15", end="2026-06-15")
    build(con)
    o = overview(con, yes)
    assert o["flag_services"] and o["active_services"] == 3 and "3 aktive ydelser/indsatser" in o["flags_explained"]
    n = overview(con, no)
    assert not n["flag_services"] and n["active_services"] == 2 and n["active_interventions"] == 4


def test_flag_cost_uses_the_last_365_days_across_departments():
    con = new_warehouse()
    rich = add_person(con, "0101801111")
    poor = add_person(con, "0101801112")
    half = add_person(con, "0101801113")
    add_iv(con, "1", rich, "beskaeftigelse", cost=6250, start="2024-01-01")
    add_iv(con, "2", rich, "social_voksen", cost=6250, start="2024-01-01")  # 12,500 a month = 150,000 a year
    add_iv(con, "3", poor, "beskaeftigelse", cost=12400, start="2024-01-01")
    add_iv(con, "4", half, "social_voksen", cost=20000, start="2024-01-01", end="2025-12-15")  # half a year inside
    build(con)
    o = overview(con, rich)
    assert o["flag_cost"] and o["complex_case"] and round(float(o["annual_cost_dkk"])) == 150000
    assert "150.000 kr." in o["flags_explained"]
    assert not overview(con, poor)["flag_cost"] and overview(con, poor)["flags_explained"] is None
    h = overview(con, half)
    assert 110000 < float(h["annual_cost_dkk"]) < 130000 and not h["flag_cost"] and h["monthly_cost_dkk"] == 0


def test_thresholds_come_from_job_yaml():
    t = unified.load_thresholds()
    assert (t.min_departments, t.min_services, t.min_annual_cost_dkk) == (2, 3, 150000)


def test_coordinating_caseworker_from_the_newest_plan():
    con = new_warehouse()
    a = add_person(con, "0101801111")
    add_iv(con, "1", a, "beskaeftigelse", caseworker="Ida")
    add_plan(con, "p1", a, "social_voksen", "Gammel Tovholder", "2024-01-01")
    add_plan(con, "p2", a, "beskaeftigelse", "Ny Tovholder", "2026-03-01")
    build(con)
    o = overview(con, a)
    assert (o["coordinating_caseworker"], o["coordinating_department"]) == ("Ny Tovholder", "beskaeftigelse")
    assert o["caseworkers"] == ["Ida"] and o["n_caseworkers"] == 1


def _family(con):
    child = add_person(con, "0101151111", birth="2015-01-01")
    sibling = add_person(con, "0101181112", birth="2018-01-01")
    mother = add_person(con, "0101851112", birth="1985-01-01")
    father = add_person(con, "0101831113", birth="1983-01-01")
    stranger = add_person(con, "0101701114", birth="1970-01-01")
    for kid in (child, sibling):
        for adult in ("0101851112", "0101831113"):
            add_relation(con, con.execute("SELECT cpr FROM identity.person_keys WHERE person_key = ?", [kid]).fetchall()[0][0], adult)
    add_iv(con, "bf1", child, "boern_familie", title="Familiebehandling", paragraph="BL § 32", cost=5000)
    add_iv(con, "b1", mother, "beskaeftigelse", kind="ydelse", category="ydelser", title="Kontanthjælp", paragraph="LAS", cost=14000)
    add_iv(con, "s1", father, "social_voksen", title="Bostøtte", paragraph="SEL § 85", cost=9000)
    add_iv(con, "x1", stranger, "beskaeftigelse", kind="ydelse", category="ydelser", title="Kontanthjælp", cost=14000)
    return child, sibling, mother, father, stranger


def test_child_case_and_parents_on_benefits_is_one_family():
    con = new_warehouse()
    child, sibling, mother, father, stranger = _family(con)
    build(con)
    fams = con.execute("SELECT family_id, n_children, n_adults, children, adults, child_measures, adult_benefits, "
                       "adult_social_services, child_case_and_adult_benefits, n_departments FROM unified.family_overview").fetchall()
    assert len(fams) == 1
    fid, n_children, n_adults, children, adults, measures, benefits, social, both, n_dep = fams[0]
    assert (n_children, n_adults) == (2, 2)
    assert set(children) == {child, sibling} and set(adults) == {mother, father}
    assert measures == ["Familiebehandling"] and benefits == ["Kontanthjælp"] and social == ["Bostøtte"]
    assert both and n_dep == 3
    members = dict(con.execute("SELECT person_key, role FROM unified.family_members WHERE family_id = ?", [fid]).fetchall())
    assert members == {child: "barn", sibling: "barn", mother: "voksen", father: "voksen"}
    assert stranger not in members


def test_no_family_without_active_records_and_ended_custody_is_ignored():
    con = new_warehouse()
    child = add_person(con, "0101151111", birth="2015-01-01")
    add_person(con, "0101851112", birth="1985-01-01")
    add_relation(con, "0101151111", "0101851112")
    build(con)
    assert con.execute("SELECT count(*) FROM unified.family_overview").fetchall()[0][0] == 0
    add_iv(con, "bf1", child, "boern_familie")
    con.execute("UPDATE staging.cpr_relations SET valid_to = DATE '2020-01-01'")
    build(con)
    assert con.execute("SELECT count(*) FROM unified.family_overview").fetchall()[0][0] == 0
