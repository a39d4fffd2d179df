"""Coordination signals on hand-made cases, and that a department's copy never shows a record it may not see."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from consent_fixtures import add_consent, run_consent
from samlet_overblik.unified import exports as publish, view as unified

from test_unified_helpers import add_iv, add_person, add_plan, add_visit, build, new_warehouse, record_ids, signals

SKP = dict(kind="kontakt", category="kontakt", paragraph="SEL § 99", title="Støtte- og kontaktperson (SKP)", cost=2500)
SANCTION = dict(kind="sanktion", category="ydelser", paragraph="LAS", title="Sanktion: Udeblivelse fra samtale")


def test_every_rule_file_is_a_rule_with_a_danish_description():
    rules = unified.load_signal_rules()
    files = sorted(p.stem for p in (unified.data_dir("assets") / "signals").glob("*.sql"))
    assert [r.id for r in rules] == files and len(files) >= 4
    assert all(r.description and r.title for r in rules)


NEW_RULE = """-- id: mange_aktive_indsatser
-- title: Mange aktive indsatser
-- description: Borgeren har tre eller flere aktive indsatser på én gang.
SELECT person_key, max(start_date) AS signal_date, 'mange indsatser' AS detail,
       list_sort(list(DISTINCT department)) AS departments,
       list({'source': source, 'source_table': source_table, 'record_id': record_id}
            ORDER BY source, source_table, record_id) AS records
FROM scope_interventions WHERE status = 'aktiv' AND person_key IS NOT NULL
GROUP BY person_key HAVING count(*) >= 3
"""


def test_a_rule_is_one_file_dropped_in_assets_signals(tmp_path, monkeypatch):
    """No registry: a new file in (a copy of) assets/signals/ is a rule the next build runs, in the warehouse and in
    every department's copy; a file whose header does not name itself is refused with the file's name."""
    assets = tmp_path / "assets"
    shutil.copytree(unified.data_dir("assets"), assets)
    (assets / "signals" / "mange_aktive_indsatser.sql").write_text(NEW_RULE, encoding="utf-8")
    monkeypatch.setenv("SAMLET_ASSETS_DIR", str(assets))
    con = new_warehouse()
    a, b = add_person(con, "0101801111"), add_person(con, "0101801112")
    for n, dept in enumerate(("social_voksen", "social_voksen", "beskaeftigelse")):
        add_iv(con, f"a{n}", a, dept, start="2026-01-01")
    add_iv(con, "b0", b, "social_voksen", start="2026-01-01")
    build(con)
    found = signals(con, "mange_aktive_indsatser")
    assert [row[1] for row in found] == [a] and record_ids(found[0]) == {"a0", "a1", "a2"}
    assert "mange_aktive_indsatser" in {r[0] for r in con.execute("SELECT signal_id FROM unified.signal_rules").fetchall()}
    (assets / "signals" / "uden_id.sql").write_text("-- description: x\nSELECT 1", encoding="utf-8")
    with pytest.raises(ValueError, match="uden_id.sql"):
        unified.load_signal_rules()


def test_randers_sanction_while_contact_person_is_active():
    con = new_warehouse()
    a = add_person(con, "0101801111")
    b = add_person(con, "0101801112")
    add_iv(con, "skp", a, "social_voksen", start="2026-01-01", **SKP)
    add_iv(con, "s1", a, "beskaeftigelse", start="2026-05-01", end="2026-05-01", **SANCTION)
    # negative: the sanction came after the contact person's period ended
    add_iv(con, "skp2", b, "social_voksen", start="2025-01-01", end="2025-12-31", **SKP)
    add_iv(con, "s2", b, "beskaeftigelse", start="2026-05-01", end="2026-05-01", **SANCTION)
    build(con)
    found = signals(con, "randers_sanktion_under_kontaktperson")
    assert len(found) == 1 and found[0][1] == a and record_ids(found[0]) == {"skp", "s1"}


def test_home_visits_from_two_departments_same_home_same_day():
    con = new_warehouse()
    old = add_person(con, "0101401111")
    kid = add_person(con, "0101151112")
    other = add_person(con, "0101401113")
    add_visit(con, "v1", old, "sundhed_aeldre", "2026-06-10 08:00", "Amsterdamvej 59")
    add_visit(con, "v2", kid, "boern_familie", "2026-06-10 14:00", "  amsterdamvej   59 ")  # same home, spelled loosely
    add_visit(con, "v3", old, "sundhed_aeldre", "2026-06-11 08:00", "Amsterdamvej 59")  # next day: one department
    add_visit(con, "v4", other, "sundhed_aeldre", "2026-06-10 08:00", "Rosenvænget 1")
    add_visit(con, "v5", other, "sundhed_aeldre", "2026-06-10 15:00", "Rosenvænget 1")  # same department twice: fine
    add_visit(con, "v6", other, "boern_familie", "2026-06-12 09:00", "Rosenvænget 1")  # other department, other day
    build(con)
    found = signals(con, "hjemmebesoeg_samme_dag")
    assert {f[1] for f in found} == {old, kid}
    assert all(record_ids(f) == {"v1", "v2"} for f in found)
    assert all(str(f[2]) == "2026-06-10" for f in found)


def test_double_compensation_same_need_two_paragraphs():
    con = new_warehouse()
    a = add_person(con, "0101801111")
    b = add_person(con, "0101801112")
    c = add_person(con, "0101801113")
    ydelse = dict(kind="ydelse", category="ydelser")
    add_iv(con, "a1", a, "beskaeftigelse", title="Kontanthjælp", paragraph="LAS", start="2026-01-01", cost=14000, **ydelse)
    add_iv(con, "a2", a, "beskaeftigelse", title="Sygedagpenge", paragraph="Sygedagpengeloven", start="2026-03-01", cost=17000, **ydelse)
    add_iv(con, "a3", a, "sundhed_aeldre", title="Rengøring", paragraph="SEL § 83", start="2026-01-01", cost=1000)
    add_iv(con, "a4", a, "social_voksen", title="Bostøtte", paragraph="SEL § 85", start="2026-02-01", cost=9000)
    # negatives: a hand-over (one day of overlap); the same paragraph and title twice; different needs
    add_iv(con, "b1", b, "beskaeftigelse", title="Sygedagpenge", paragraph="Sygedagpengeloven", start="2025-06-01", end="2026-03-01", **ydelse)
    add_iv(con, "b2", b, "beskaeftigelse", title="Kontanthjælp", paragraph="LAS", start="2026-03-01", **ydelse)
    add_iv(con, "c1", c, "social_voksen", title="Bostøtte", paragraph="SEL § 85", start="2026-01-01")
    add_iv(con, "c2", c, "social_voksen", title="Bostøtte", paragraph="SEL § 85", start="2026-02-01")
    add_iv(con, "c3", c, "social_voksen", title="Midlertidigt botilbud", paragraph="SEL § 107", start="2026-01-01")
    build(con)
    found = signals(con, "dobbelt_kompensation")
    assert {frozenset(record_ids(f)) for f in found} == {frozenset({"a1", "a2"}), frozenset({"a3", "a4"})}
    assert {f[1] for f in found} == {a}


def test_three_caseworkers_without_coordinator():
    con = new_warehouse()
    a = add_person(con, "0101801111")
    b = add_person(con, "0101801112")
    c = add_person(con, "0101801113")
    for key in (a, b):
        add_iv(con, f"{key}1", key, "beskaeftigelse", caseworker="Ida")
        add_iv(con, f"{key}2", key, "social_voksen", caseworker="Ole")
        add_iv(con, f"{key}3", key, "sundhed_aeldre", caseworker="Eva")
    add_plan(con, "plan", b, "social_voksen", "Tove")  # b has a coordinating caseworker
    add_iv(con, "c1", c, "beskaeftigelse", caseworker="Ida")
    add_iv(con, "c2", c, "social_voksen", caseworker="Ole")
    add_iv(con, "c3", c, "social_voksen", caseworker="Ole")
    build(con)
    found = signals(con, "mange_sagsbehandlere_uden_tovholder")
    assert [f[1] for f in found] == [a] and record_ids(found[0]) == {f"{a}1", f"{a}2", f"{a}3"}


def _export(con, tmp_path, department):
    publish.build_export(con, tmp_path, department, "run-test")
    return duckdb.connect(str(tmp_path / f"{department}.duckdb"), read_only=True)


def _assert_signals_only_name_visible_records(ex):
    visible = {tuple(r) for r in ex.execute(
        "SELECT source, source_table, record_id FROM interventions UNION ALL SELECT source, source_table, record_id FROM home_visits").fetchall()}
    for (records,) in ex.execute("SELECT records FROM coordination_signals").fetchall():
        for r in records:
            assert (r["source"], r["source_table"], r["record_id"]) in visible


def test_export_shows_no_signal_built_from_records_it_may_not_see(tmp_path):
    con = new_warehouse()
    a = add_person(con, "0101801111")
    add_iv(con, "skp", a, "social_voksen", start="2026-01-01", caseworker="Ole", **SKP)
    add_iv(con, "s1", a, "beskaeftigelse", start="2026-05-01", end="2026-05-01", caseworker="Ida", **SANCTION)
    add_iv(con, "b1", a, "beskaeftigelse", caseworker="Ida", title="Mentorstøtte", paragraph="LAB")
    add_iv(con, "h1", a, "sundhed_aeldre", caseworker="Eva", paragraph="SEL § 83", title="Rengøring")
    run_consent(con)  # no consent at all: nothing crosses
    build(con)
    assert {s[0] for s in signals(con)} == {"randers_sanktion_under_kontaktperson", "mange_sagsbehandlere_uden_tovholder"}
    for dept in ("beskaeftigelse", "social_voksen", "sundhed_aeldre", "boern_familie"):
        ex = _export(con, tmp_path, dept)
        assert ex.execute("SELECT count(*) FROM coordination_signals").fetchall()[0][0] == 0, dept
        _assert_signals_only_name_visible_records(ex)
        # the overview in the export is built from the visible records only
        rows = ex.execute("SELECT departments, n_caseworkers, cpr FROM citizen_overview").fetchall()
        if dept == "boern_familie":
            assert rows == []
        else:
            assert rows == [([dept], 1, "0101801111")]
        ex.close()


def test_export_shows_the_signal_when_consent_lets_both_records_through(tmp_path):
    con = new_warehouse()
    a = add_person(con, "0101801111")
    add_iv(con, "skp", a, "social_voksen", start="2026-01-01", **SKP)
    add_iv(con, "s1", a, "beskaeftigelse", start="2026-05-01", end="2026-05-01", **SANCTION)
    add_consent(con, "c1", 1, "0101801111", [("social_voksen", "beskaeftigelse", "kontakt")])
    run_consent(con)
    build(con)
    ex = _export(con, tmp_path, "beskaeftigelse")
    found = signals(ex, "randers_sanktion_under_kontaktperson", table="coordination_signals")
    assert len(found) == 1 and record_ids(found[0]) == {"skp", "s1"}
    _assert_signals_only_name_visible_records(ex)
    ex.close()
    ex = _export(con, tmp_path, "social_voksen")  # the consent is one-way: social_voksen does not see the sanction
    assert signals(ex, table="coordination_signals") == []
    ex.close()
