"""Honest search (issue 13): post/redirect/get with a short-lived server-side handle (never a CPR number in a URL),
the query kept in the form, an invalid CPR number told apart from an unknown one, no preset purpose, and a name
search that says what it cannot find."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from test_web_support import dashed, logged_in, lookup, world

from samlet_overblik.access import audit, handles
from samlet_overblik.core import cpr as cpr_rule

PURPOSE = "Opfølgning på indsats"


@pytest.fixture
def w(tmp_path_factory, small_municipality):
    return world(tmp_path_factory, small_municipality)


def test_a_lookup_is_posted_once_redirected_and_logged_once(app, w, audit_url):
    c, token = logged_in(app, "anne")
    r = c.post("/soeg", data={"csrf": token, "soegning": dashed(w.cpr), "formaal": PURPOSE})
    assert r.status_code == 303
    where = r.headers["location"]
    assert re.fullmatch(r"/opslag/[A-Za-z0-9_-]{32}", where) and w.cpr[:6] not in where
    first = c.get(where)
    assert first.status_code == 200 and "Tidslinje" in first.text
    # Reload and back: the same page again, read afresh, not a second lookup in the log.
    again = c.get(where)
    assert again.status_code == 200 and "Tidslinje" in again.text
    shown = [x for x in audit.lookups(audit_url, user_id="anne") if x["outcome"] == "shown"]
    assert len(shown) == 1 and shown[0]["person_key"] == w.person_key and shown[0]["purpose"] == PURPOSE
    # The handle row holds the person key, never the CPR number.
    rows = audit.read(audit_url, sa.select(handles.LOOKUP_HANDLES))
    assert rows and all(w.cpr not in str(v) for row in rows for v in row.values())


def test_a_handle_belongs_to_its_user_and_expires(app, w, audit_url):
    anne, token = logged_in(app, "anne")
    where = anne.post("/soeg", data={"csrf": token, "soegning": w.cpr, "formaal": PURPOSE}).headers["location"]
    bente, _ = logged_in(app, "bente")
    other = bente.get(where)
    assert other.status_code == 404 and "Tidslinje" not in other.text and "udløbet" in other.text
    audit.write(audit_url, sa.update(handles.LOOKUP_HANDLES).values(
        expires_at=datetime.now() - timedelta(minutes=1)))
    late = anne.get(where)
    assert late.status_code == 404 and "Tidslinje" not in late.text
    assert anne.get("/opslag/" + "x" * 200).status_code == 404


def test_an_invalid_cpr_number_is_told_apart_from_an_unknown_one(app, w, audit_url):
    c, token = logged_in(app, "anne")
    day_32 = "3201901234"
    assert cpr_rule.status(day_32) == "invalid"
    bad = lookup(c, "/soeg", {"csrf": token, "soegning": day_32, "formaal": PURPOSE})
    assert bad.status_code == 400 and "ikke en gyldig dato" in bad.text and "findes ikke" not in bad.text
    unknown = next(n for n in (f"010190{i:04d}" for i in range(10000))
                   if cpr_rule.status(n) == "valid" and n != w.cpr and n != w.stranger_cpr)
    miss = lookup(c, "/soeg", {"csrf": token, "soegning": unknown, "formaal": PURPOSE})
    assert miss.status_code == 404 and "findes i overblikket" in miss.text and "gyldig dato" not in miss.text
    for page in (bad.text, miss.text):  # neither number is echoed back into the page
        assert day_32 not in page and unknown not in page
    assert [x["outcome"] for x in audit.lookups(audit_url, user_id="anne")] == ["not_found"]


def test_no_purpose_is_preset_and_a_refused_form_keeps_the_query(app, w):
    c, token = logged_in(app, "anne")
    form = c.get("/soeg").text
    assert '<option value="" selected>' in form and form.count(" selected") == 1
    r = c.post("/soeg", data={"csrf": token, "soegning": "Hansen", "formaal": ""})
    assert r.status_code == 400 and "Vælg formålet" in r.text and 'value="Hansen"' in r.text
    r = c.post("/soeg", data={"csrf": token, "soegning": w.cpr, "formaal": ""})
    assert r.status_code == 400 and w.cpr not in r.text  # a CPR number is never echoed back


def test_name_search_keeps_the_query_explains_its_limits_and_is_logged_once(app, w, audit_url):
    c, token = logged_in(app, "anne")
    view = c.post("/api/borger", json={"cpr": w.cpr, "formaal": PURPOSE}, headers={"X-CSRF-Token": token}).json()
    surname = view["person"]["navn"].split()[-1]
    r = c.post("/soeg", data={"csrf": token, "soegning": surname, "formaal": PURPOSE, "note": "møde i morgen"})
    assert r.status_code == 303
    page = c.get(r.headers["location"])
    assert page.status_code == 200 and view["person"]["navn"] in page.text
    assert f'value="{surname}"' in page.text and "møde i morgen" in page.text
    assert f"<option selected>{PURPOSE}</option>" in page.text
    assert "Navnesøgning finder kun borgere" in page.text
    c.get(r.headers["location"])
    searches = [x for x in audit.lookups(audit_url, user_id="anne") if x["outcome"] == "search"]
    assert len(searches) == 1 and searches[0]["channel"] == "web:navnesoeg"


def test_compliance_lookups_are_posted_once_too(app, w, audit_url):
    c, token = logged_in(app, "carl")
    r = c.post("/compliance/samtykke", data={"csrf": token, "cpr": dashed(w.cpr), "formaal": "compliance: samtykkesporing",
                                             "afdeling_filter": "beskaeftigelse", "fra": "01-01-2020"})
    assert r.status_code == 303
    where = r.headers["location"]
    assert where.startswith("/compliance/opslag/") and w.cpr[:6] not in where and "afdeling_filter=beskaeftigelse" in where
    for _ in range(2):  # reload: the same report, logged once
        page = c.get(where)
        assert page.status_code == 200 and "Samtykker over tid" in page.text and "afdeling Jobcenter" in page.text
    by_user = c.post("/compliance/adgangslog", data={"csrf": token, "bruger": "anne", "formaal": "compliance: tilsyn og kontrol"})
    assert c.get(by_user.headers["location"]).status_code == 200
    rows = [(x["channel"], x["outcome"]) for x in audit.lookups(audit_url, user_id="carl")]
    assert rows.count(("web:samtykkespor", "shown")) == 1 and rows.count(("web:adgangslog", "search")) == 1
    anne, _ = logged_in(app, "anne")  # a caseworker cannot open a compliance handle
    assert anne.get(where).status_code == 403
