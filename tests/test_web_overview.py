"""The caseworker's coordination overview (issue 13): active records first, filters that narrow the list, the one
plan or where a tovholder is registered when the plan is not shared, and a print for a coordination meeting
(HTML and PDF) that holds only what the viewer may see and is logged as a print."""

from __future__ import annotations

import re

import duckdb
import pytest
from test_web_support import logged_in, world

from samlet_overblik.access import audit
from samlet_overblik.core.labels import DEPARTMENT_NAMES

PURPOSE = "Koordinering af indsatser (én plan)"


@pytest.fixture
def w(tmp_path_factory, small_municipality):
    return world(tmp_path_factory, small_municipality)


def _open(c, token, cpr) -> str:
    r = c.post("/soeg", data={"csrf": token, "soegning": cpr, "formaal": PURPOSE})
    assert r.status_code == 303, r.text
    return r.headers["location"]


def _statuses(html: str) -> list[list[str]]:
    """Each department table's statuses, in the order shown."""
    tables = html.split('<table class="interventions">')[1:]
    return [re.findall(r'<tr class="st-(\w+)">', t.split("</table>")[0]) for t in tables]


def test_active_first_and_filters(app, w):
    c, token = logged_in(app, "anne")
    where = _open(c, token, w.cpr)
    page = c.get(where).text
    rank = {"aktiv": 0, "kommende": 1, "afsluttet": 2}
    for statuses in _statuses(page):
        assert [rank[s] for s in statuses] == sorted(rank[s] for s in statuses)
    active = c.get(where + "?vis=aktive").text
    assert "afsluttet" not in {s for t in _statuses(active) for s in t}
    finished = c.get(where + "?vis=afsluttede").text
    assert {s for t in _statuses(finished) for s in t} <= {"afsluttet"}
    own = c.get(where + "?afdeling=beskaeftigelse").text
    headings = re.findall(r'<h3><span class="swatch d-(\w+)">', own)
    assert set(headings) <= {"beskaeftigelse"}
    assert c.get(where + "?vis=<script>&afdeling=../../etc").status_code == 200  # unknown filters mean "all"


def test_a_hidden_plan_is_named_by_department_only(app, w):
    with duckdb.connect(str(w.warehouse), read_only=True) as con:
        rows = con.execute(
            """SELECT k.cpr, d.source_department FROM consent.record_decisions d
               JOIN staging.coordination_plans p USING (source, source_table, record_id)
               JOIN identity.person_keys k ON k.person_key = d.person_key AND k.merged_into IS NULL
               WHERE d.viewer_department = 'beskaeftigelse' AND d.source_department <> 'beskaeftigelse'
                 AND d.decision <> 'admitted' AND k.cpr IS NOT NULL""").fetchall()
    with duckdb.connect(str(w.warehouse.parent / "exports" / "beskaeftigelse.duckdb"), read_only=True) as econ:
        seen = {r[0] for r in econ.execute("SELECT DISTINCT cpr FROM interventions").fetchall()}
        shared_plans = {r[0] for r in econ.execute(
            "SELECT DISTINCT k.person_key FROM coordination_plans k").fetchall()}
    candidates = [(cpr, dept) for cpr, dept in rows if cpr in seen]
    assert candidates, "the test municipality has no citizen whose plan is hidden from the job centre"
    cpr, dept = candidates[0]
    c, token = logged_in(app, "anne")
    page = c.get(_open(c, token, cpr)).text
    assert f"En tovholder er registreret i {DEPARTMENT_NAMES[dept]}; planen er ikke delt med dig" in page
    person = re.search(r'name="ref" value="([^"]+)"', page).group(1)
    if person not in shared_plans:  # no plan shared either: the facts say where one is, never "ingen registreret"
        assert "ingen registreret" not in page


def test_a_plan_shows_its_next_follow_up_and_says_when_it_is_overdue(app, w):
    """The plan's next follow-up as the source has it, in Danish; one before the overview's reference date is
    marked overskredet."""
    with duckdb.connect(str(w.warehouse.parent / "exports" / "beskaeftigelse.duckdb"), read_only=True) as econ:
        plans = econ.execute(
            """SELECT k.cpr, p.follow_up_date, p.follow_up_date < o.reference_date FROM coordination_plans p
               JOIN citizen_overview o USING (person_key) JOIN (SELECT DISTINCT person_key, cpr FROM interventions) k
               USING (person_key)
               WHERE p.follow_up_date IS NOT NULL AND k.cpr IS NOT NULL
                 AND person_key IN (SELECT person_key FROM coordination_plans GROUP BY 1 HAVING count(*) = 1)
               ORDER BY 3, 1""").fetchall()
    overdue = [p for p in plans if p[2]]
    ahead = [p for p in plans if not p[2]]
    assert overdue and ahead, "the test municipality has no shared plan with an overdue and one with a coming follow-up"
    c, token = logged_in(app, "anne")
    for cpr, when, late in (overdue[0], ahead[0]):
        page = c.get(_open(c, token, cpr)).text
        facts = page.split("Næste opfølgning</dt><dd>")[1].split("</dd>")[0]
        assert when.strftime("%d-%m-%Y") in facts
        assert ("(overskredet)" in facts) == late


def test_the_meeting_print_holds_what_the_viewer_may_see_and_is_logged(app, w, audit_url):
    c, token = logged_in(app, "anne")
    where = _open(c, token, w.cpr)
    overview = c.get(where).text
    printed = c.get(where + "/udskrift")
    assert printed.status_code == 200 and "Til koordineringsmøde" in printed.text
    assert "Udskriften indeholder kun det, Jobcenter / Beskæftigelse må se" in printed.text
    assert w.cpr not in printed.text and f"{w.hidden} registrering" in printed.text
    for title in re.findall(r'<tr class="st-\w+"><td>([^<]+?) <span', overview):
        assert title in printed.text  # every record shown on screen is in the print
    pdf = c.get(where + "/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert w.cpr not in pdf.headers["content-disposition"]
    rows = [(x["channel"], x["outcome"]) for x in audit.lookups(audit_url, user_id="anne")]
    assert ("web:udskrift", "printed") in rows and ("web:pdf", "printed") in rows
    assert rows.count(("web:borger", "shown")) == 1
    bente, _ = logged_in(app, "bente")  # another user's handle prints nothing
    assert bente.get(where + "/udskrift").status_code == 404 and bente.get(where + "/pdf").status_code == 404


def test_family_names_co_parents_and_household_and_links_each_member(app, w, audit_url):
    """A parent in the job centre whose child's other parent is in the job centre too: the co-parent is named
    (medforælder), the household at the address is included, and each member opens their own overview through a
    new, logged lookup."""
    with duckdb.connect(str(w.warehouse.parent / "exports" / "beskaeftigelse.duckdb"), read_only=True) as econ:
        seen = {r[0] for r in econ.execute("SELECT DISTINCT cpr FROM interventions WHERE cpr IS NOT NULL").fetchall()}
    with duckdb.connect(str(w.warehouse), read_only=True) as con:
        pairs = con.execute(
            """SELECT DISTINCT a.related_cpr, b.related_cpr FROM staging.cpr_relations a
               JOIN staging.cpr_relations b ON a.child_cpr = b.child_cpr AND a.related_cpr < b.related_cpr
               WHERE a.relation = 'foraelder' AND b.relation = 'foraelder' AND a.valid_to IS NULL
                 AND b.valid_to IS NULL""").fetchall()
        keys = dict(con.execute("SELECT cpr, person_key FROM identity.person_keys WHERE merged_into IS NULL").fetchall())
    both = [(x, y) for x, y in pairs if x in seen and y in seen]
    assert both, "the test municipality has no two parents of one child both seen by the job centre"
    parent, other = both[0]
    c, token = logged_in(app, "anne")
    page = c.get(_open(c, token, parent)).text
    row = page.split(f'value="{keys[other]}"')[0].rsplit("<tr>", 1)[-1]
    assert "medforælder" in row
    before = len(audit.lookups(audit_url, user_id="anne"))
    r = c.post("/borger", data={"csrf": token, "ref": keys[other], "formaal": PURPOSE})
    assert r.status_code == 303 and keys[other] not in r.headers["location"]
    assert c.get(r.headers["location"]).status_code == 200
    after = audit.lookups(audit_url, user_id="anne")
    assert len(after) == before + 1 and after[0]["person_key"] == keys[other] and after[0]["outcome"] == "shown"


def test_the_next_planned_meeting_per_department_soonest_first():
    """Only contacts still to come count; per department the first; departments by date."""
    from samlet_overblik.access.borger import next_meetings
    from samlet_overblik.access.views import Record

    def rec(dept, title, start, status, category="kontakt", cw="Ida"):
        return Record(department=dept, department_name=DEPARTMENT_NAMES[dept], category=category, category_name="",
                      kind="kontakt", title=title, paragraph="", start=start, end=start, status=status, caseworker=cw,
                      monthly_cost=None, basis="lov:egen_afdeling", basis_text="egen afdeling")

    records = [rec("beskaeftigelse", "Jobsamtale", "2026-12-10", "kommende"),
               rec("beskaeftigelse", "Opfølgningssamtale", "2026-12-03", "kommende"),
               rec("beskaeftigelse", "Jobsamtale", "2026-11-01", "afsluttet"),
               rec("boern_familie", "Netværksmøde", "2026-12-01", "kommende", cw="Bo"),
               rec("social_voksen", "Bostøtte", "2026-12-02", "kommende", category="indsatser")]
    got = [(m.department, m.date, m.title, m.caseworker) for m in next_meetings(records)]
    assert got == [("boern_familie", "2026-12-01", "Netværksmøde", "Bo"),
                   ("beskaeftigelse", "2026-12-03", "Opfølgningssamtale", "Ida")]


def test_each_record_says_how_to_reach_its_caseworker(app, w):
    """The departments' staff directories reach the export: team, telephone and e-mail beside the caseworker."""
    with duckdb.connect(str(w.warehouse.parent / "exports" / "beskaeftigelse.duckdb"), read_only=True) as econ:
        total, reachable = econ.execute(
            "SELECT count(*), count(caseworker_email) FILTER (caseworker IS NOT NULL) FROM interventions "
            "WHERE caseworker IS NOT NULL").fetchall()[0]
        email, phone, team = econ.execute(
            "SELECT caseworker_email, caseworker_phone, caseworker_team FROM interventions WHERE cpr = ? "
            "AND caseworker_email IS NOT NULL LIMIT 1", [w.cpr]).fetchall()[0]
    assert reachable / total > 0.9  # names mangled by the source's own noise may not match the directory
    c, token = logged_in(app, "anne")
    page = c.get(_open(c, token, w.cpr)).text
    assert f'href="mailto:{email}"' in page and phone in page and team in page
