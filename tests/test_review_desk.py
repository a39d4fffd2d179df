"""The data steward's review desk: the queue of uncertain pairs, a pair with its evidence, a decision with a reason,
stored and logged, and honoured by the next identity run. (``app`` and ``audit_url``: conftest.py, over this
module's ``w``.)"""

from __future__ import annotations

import re
import shutil
from datetime import datetime

import duckdb
import pytest
from test_web_support import desk_world, logged_in

from samlet_overblik.access import audit
from samlet_overblik.core import warehouse as wh
from samlet_overblik.identity.linking import link_person_records

PURPOSE = "identitet: afklaring af et uafklaret par"


@pytest.fixture(scope="module")
def w(tmp_path_factory, small_municipality):
    return desk_world(tmp_path_factory, small_municipality)


def _pair_ids(html: str) -> list[str]:
    return re.findall(r'name="par" value="([0-9a-f]{16})"', html)


def test_the_steward_decides_a_pair_and_the_next_run_honours_it(app, w, audit_url, tmp_path):
    with duckdb.connect(str(wh.published_set(w.warehouse).warehouse), read_only=True) as con:
        open_pairs = con.execute("SELECT count(*) FROM identity.review_queue").fetchall()[0][0]
        cprs = [r[0] for r in con.execute("SELECT cpr FROM staging.cpr_persons").fetchall()]
    assert open_pairs >= 3, "the name-only patients did not come up for review"
    c, token = logged_in(app, "sofie")
    queue = c.post("/identitet", data={"csrf": token, "formaal": PURPOSE})
    assert queue.status_code == 200 and f"Køen ({open_pairs} par)" in queue.text
    first = _pair_ids(queue.text)[0]
    shown = c.post("/identitet/par", data={"csrf": token, "par": first, "formaal": PURPOSE})
    assert shown.status_code == 200 and "Evidens felt for felt" in shown.text and 'accesskey="m"' in shown.text
    assert not any(cpr in shown.text for cpr in cprs)  # identifying fields, the CPR number masked
    assert "Indsatser" not in shown.text and "kr./md." not in shown.text  # never case content
    # The lines of the evidence add up to the pair's weight.
    total = float(re.search(r"samlet vægt (-?[0-9.]+) bit", shown.text).group(1))
    parts = [float(x) for x in re.findall(r'<td class="num">([+-][0-9.]+)</td>', shown.text)]
    assert abs(sum(parts) - total) < 0.1 * len(parts)

    no_reason = c.post("/identitet/afgoer", data={"csrf": token, "par": first, "afgoerelse": "match",
                                                  "begrundelse": "", "formaal": PURPOSE})
    assert no_reason.status_code == 400 and "begrundelse" in no_reason.text
    assert audit.steward_decisions(audit_url) == []
    decided = c.post("/identitet/afgoer", data={"csrf": token, "par": first, "afgoerelse": "match",
                                                "begrundelse": f"ringet til borgeren {cprs[0]}", "formaal": PURPOSE})
    assert decided.status_code == 200 and "Gemt: samme person" in decided.text
    assert first not in _pair_ids(decided.text)  # decided pairs leave the queue
    (stored,) = audit.steward_decisions(audit_url)
    assert stored["decided_by"] == "sofie" and stored["decision"] == "match" and cprs[0] not in stored["reason"]
    log = audit.lookups(audit_url, user_id="sofie")
    assert {r["outcome"] for r in log} == {"queue", "shown", "decided_match"}
    assert all(r["channel"] == "web:identitet" and r["purpose"] == PURPOSE for r in log)

    # The next identity run copies the decision into the warehouse and links the pair as one person.
    copy = tmp_path / "next.duckdb"
    shutil.copy(wh.published_set(w.warehouse).warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        link_person_records(con, "next-run", datetime(2026, 12, 1), decisions=audit.steward_decisions(audit_url))
        keys = con.execute(
            """SELECT l.person_key, l.method FROM identity.person_links l
               WHERE (l.source, l."table", l.record_id) IN ((?, ?, ?), (?, ?, ?))""",
            [stored["source_a"], stored["table_a"], stored["record_id_a"],
             stored["source_b"], stored["table_b"], stored["record_id_b"]]).fetchall()
        assert len(keys) == 2 and keys[0][0] == keys[1][0]
        assert con.execute("SELECT decided_by, reason FROM identity.steward_decisions").fetchall() == [
            ("sofie", stored["reason"])]
        cpr = con.execute(
            """SELECT k.cpr FROM identity.person_links l JOIN identity.person_keys k USING (person_key)
               WHERE (l.source, l."table", l.record_id) = (?, ?, ?)""",
            [stored["source_b"], stored["table_b"], stored["record_id_b"]]).fetchall()[0][0]
    # Compliance sees the decision in the citizen's consent trail.
    from samlet_overblik.consent.lineage import lineage_report

    next_set = tmp_path / "next_set"
    next_set.mkdir()
    shutil.copy(copy, next_set / "samlet_overblik.duckdb")
    report = lineage_report(next_set / "samlet_overblik.duckdb", cpr)
    assert [(d.decided_by, d.decision) for d in report.steward_decisions] == [("sofie", "samme person")]


def test_only_stewards_reach_the_desk(app, audit_url):
    c, token = logged_in(app, "anne")
    assert c.get("/identitet").status_code == 403
    assert c.post("/identitet", data={"csrf": token, "formaal": PURPOSE}).status_code == 403
    assert [r["outcome"] for r in audit.lookups(audit_url, user_id="anne")] == ["denied_role", "denied_role"]


def test_a_pair_id_that_is_not_open_is_refused(app, audit_url):
    c, token = logged_in(app, "sofie")
    for bad in ("0123456789abcdef", "'; DROP TABLE x", ""):
        r = c.post("/identitet/par", data={"csrf": token, "par": bad, "formaal": PURPOSE})
        assert r.status_code == 404 and "'; DROP" not in r.text
