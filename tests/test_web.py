"""The web app through FastAPI's TestClient: each role, CSRF, sessions, tampering, the access log, fail closed."""

from __future__ import annotations

import pytest
from test_web_support import PASSWORD, client, dashed, logged_in, login, lookup, world

from samlet_overblik.access import audit
from samlet_overblik.web import WebSettings


@pytest.fixture
def w(tmp_path_factory, small_municipality):
    return world(tmp_path_factory, small_municipality)


def test_every_page_needs_a_session(app):
    c = client(app)
    for path in ("/", "/soeg", "/compliance", "/drift"):
        r = c.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    for path in ("/soeg", "/borger", "/familie", "/compliance/samtykke", "/compliance/adgangslog"):
        assert c.post(path, data={"soegning": "x"}).status_code == 303
    assert c.post("/api/borger", json={"cpr": "0101801234"}).status_code == 401
    assert c.get("/api/mig").status_code == 401


def test_session_cookie_flags_and_security_headers(app):
    c = client(app)
    r = c.get("/login")
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=strict" in cookie
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"


def test_refuses_to_start_without_a_secret(w):
    from samlet_overblik.web.app import WebConfigError

    with pytest.raises(WebConfigError, match="SAMLET_SESSION_SECRET"):
        WebSettings.from_env(warehouse=w.warehouse, env={})
    dev = WebSettings.from_env(warehouse=w.warehouse, env={"SAMLET_DEV_MODE": "1"})
    assert dev.dev_mode and len(dev.session_secret) >= 32


def test_login_wrong_password_and_csrf(app):
    c = client(app)
    assert login(c, "anne", "forkert-kodeord").status_code == 401
    assert c.post("/login", data={"csrf": "falsk", "brugernavn": "anne", "adgangskode": PASSWORD}).status_code == 403


def test_login_rate_limited(app):
    c = client(app)
    for _ in range(5):
        assert login(c, "bente", "forkert").status_code == 401
    r = login(c, "bente")  # even the right password is refused while blocked
    assert r.status_code == 429 and "For mange" in r.text and "retry-after" in r.headers


def test_caseworker_sees_overview_with_timeline_and_count_only(app, w, audit_url):
    c, token = logged_in(app, "anne")
    r = lookup(c, "/soeg", {"csrf": token, "soegning": dashed(w.cpr), "formaal": "Opfølgning på indsats",
                              "afdeling": "beskaeftigelse"})
    assert r.status_code == 200, r.text
    html = r.text
    assert "<svg" in html and "Tidslinje" in html and "Jobcenter / Beskæftigelse" in html
    assert f"{w.hidden} registrering" in html and "ikke delt med dig" in html
    assert w.cpr not in html and dashed(w.cpr) not in html  # only the masked number
    assert "samtykke SAM-" in html  # the basis of a shared record
    rows = audit.lookups(audit_url, person_key=w.person_key)
    assert len(rows) == 1
    row = rows[0]
    assert (row["user_id"], row["role"], row["department"], row["purpose"], row["channel"], row["outcome"]) == (
        "anne", "sagsbehandler", "beskaeftigelse", "Opfølgning på indsats", "web:borger", "shown")
    assert row["result_count"] > 0 and row["logged_at"] is not None


def test_caseworker_only_sees_departments_the_export_allows(app, w, audit_url):
    """The JSON API returns exactly the department's export for the citizen: nothing from the restricted warehouse."""
    import duckdb

    c, token = logged_in(app, "anne")
    r = c.post("/api/borger", json={"cpr": w.cpr, "formaal": "Sagsbehandling i egen sag"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200, r.text
    view = r.json()
    with duckdb.connect(str(w.warehouse.parent / "exports" / "beskaeftigelse.duckdb"), read_only=True) as con:
        expected = con.execute("SELECT count(*) FROM interventions WHERE person_key = ?", [w.person_key]).fetchall()[0][0]
    assert len(view["indsatser"]) == expected
    assert all(i["grundlag"] == "lov:egen_afdeling" or i["afdeling"] != "beskaeftigelse" for i in view["indsatser"])
    assert view["ikke_delt"] == w.hidden and w.cpr not in r.text
    # CSRF header required on the API
    assert c.post("/api/borger", json={"cpr": w.cpr, "formaal": "Akut henvendelse"}).status_code == 403


def test_cross_department_tampering_gets_nothing_and_is_logged(app, w, audit_url):
    c, token = logged_in(app, "anne")
    r = lookup(c, "/soeg", {"csrf": token, "soegning": w.cpr, "formaal": "Opfølgning på indsats",
                              "afdeling": "social_voksen"})
    assert r.status_code == 403 and "Forsøget er logget" in r.text
    assert "<svg" not in r.text and "SAM-" not in r.text
    api = c.post("/api/borger", json={"cpr": w.cpr, "formaal": "Akut henvendelse", "afdeling": "sundhed_aeldre"},
                 headers={"X-CSRF-Token": token})
    assert api.status_code == 403 and "indsatser" not in api.text
    rows = audit.lookups(audit_url, user_id="anne")
    assert [r["outcome"] for r in rows] == ["denied_department", "denied_department"]
    assert {r["requested_department"] for r in rows} == {"social_voksen", "sundhed_aeldre"}
    assert all(r["person_key"] == w.person_key and r["result_count"] == 0 for r in rows)


def test_caseworker_cannot_see_a_citizen_without_records_in_the_department(app, w, audit_url):
    c, token = logged_in(app, "anne")
    r = lookup(c, "/borger", {"csrf": token, "ref": "p-does-not-exist", "formaal": "Opfølgning på indsats"})
    assert r.status_code == 404
    r = lookup(c, "/soeg", {"csrf": token, "soegning": w.stranger_cpr, "formaal": "Opfølgning på indsats"})
    assert "ingen registreringer" in r.text and "ikke delt" not in r.text and "<svg" not in r.text
    assert [x["outcome"] for x in audit.lookups(audit_url, user_id="anne")] == ["no_visible_records", "not_found"]


def test_name_search_and_family_view(app, w, audit_url):
    c, token = logged_in(app, "anne")
    view = c.post("/api/borger", json={"cpr": w.cpr, "formaal": "Akut henvendelse"}, headers={"X-CSRF-Token": token}).json()
    surname = view["person"]["navn"].split()[-1]
    r = lookup(c, "/soeg", {"csrf": token, "soegning": surname, "formaal": "Opfølgning på indsats"})
    assert r.status_code == 200 and view["person"]["navn"] in r.text and w.person_key in r.text
    r = lookup(c, "/familie", {"csrf": token, "ref": w.person_key, "formaal": "Opfølgning på indsats"})
    assert r.status_code == 200 and "Familieoverblik" in r.text
    fam = audit.lookups(audit_url, user_id="anne")
    assert {x["channel"] for x in fam} == {"api:borger", "web:navnesoeg", "web:familie"}
    assert len([x for x in fam if x["channel"] == "web:familie"]) == 1 + len(view["familie"])


@pytest.mark.parametrize("user, allowed, denied", [
    ("carl", ["/compliance", "/drift"], ["/soeg"]),
    ("dorte", ["/drift"], ["/soeg", "/compliance"]),
    ("anne", ["/soeg"], ["/compliance", "/drift"]),
])
def test_each_role_reaches_only_its_pages(app, user, allowed, denied):
    c, _ = logged_in(app, user)
    for path in allowed:
        assert c.get(path).status_code == 200, path
    for path in denied:
        assert c.get(path).status_code == 403, path


@pytest.mark.parametrize("user", ["carl", "dorte"])
def test_non_caseworkers_cannot_look_up_citizens(app, w, audit_url, user):
    c, token = logged_in(app, user)
    r = c.post("/api/borger", json={"cpr": w.cpr, "formaal": "Akut henvendelse"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 403 and "indsatser" not in r.text


def test_compliance_lineage_and_access_log(app, w, audit_url):
    a, atoken = logged_in(app, "anne")
    lookup(a, "/soeg", {"csrf": atoken, "soegning": w.cpr, "formaal": "Opfølgning på indsats", "afdeling": "beskaeftigelse"})
    c, token = logged_in(app, "carl")
    r = lookup(c, "/compliance/samtykke", {"csrf": token, "cpr": w.cpr, "formaal": "compliance: klage fra borgeren"})
    assert r.status_code == 200 and "Samtykkesporing" in r.text and w.cpr not in r.text
    r = lookup(c, "/compliance/adgangslog", {"csrf": token, "cpr": dashed(w.cpr), "formaal": "compliance: indsigtsanmodning fra borgeren"})
    assert r.status_code == 200 and "Hvem har slået borgeren op" in r.text and "anne" in r.text
    assert "Opfølgning på indsats" in r.text and "Sagsbehandler" in r.text  # the role in words
    r = lookup(c, "/compliance/adgangslog", {"csrf": token, "bruger": "anne", "formaal": "compliance: tilsyn og kontrol"})
    # Compliance reads whom the user looked up by name and masked CPR, not by person key.
    assert r.status_code == 200 and w.person_key not in r.text and f"{w.cpr[:6]}-xxxx" in r.text
    rows = audit.lookups(audit_url, user_id="carl")
    assert {x["channel"] for x in rows} == {"web:samtykkespor", "web:adgangslog"} and len(rows) == 3
    # caseworkers cannot read the log
    assert a.post("/compliance/adgangslog", data={"csrf": atoken, "bruger": "anne"}).status_code == 403


def test_lookup_fails_closed_when_the_log_cannot_be_written(app, w, monkeypatch, tmp_path):
    c, token = logged_in(app, "anne")
    (tmp_path / "blocked").mkdir()
    monkeypatch.setenv("SAMLET_AUDIT_URL", f"sqlite:///{tmp_path / 'blocked'}")  # a directory: cannot be opened
    r = lookup(c, "/soeg", {"csrf": token, "soegning": w.cpr, "formaal": "Opfølgning på indsats"})
    assert r.status_code == 503 and "Adgangsloggen kan ikke skrives" in r.text
    assert "<svg" not in r.text and "SAM-" not in r.text and "ikke delt" not in r.text
    api = c.post("/api/borger", json={"cpr": w.cpr, "formaal": "Akut henvendelse"}, headers={"X-CSRF-Token": token})
    assert api.status_code == 503 and "indsatser" not in api.text


def test_no_cpr_in_urls_logs_or_error_pages(app, w, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="samlet_overblik.web")
    c, token = logged_in(app, "anne")
    lookup(c, "/soeg", {"csrf": token, "soegning": w.cpr, "formaal": "Opfølgning på indsats"})
    bad = lookup(c, "/soeg", {"csrf": token, "soegning": "12345678901", "formaal": "Akut henvendelse"})
    assert "12345678901" not in bad.text
    assert c.get(f"/borger/{w.cpr}").status_code == 404
    assert w.cpr not in c.get(f"/borger/{w.cpr}").text
    assert w.cpr not in caplog.text and "POST /soeg 303" in caplog.text and "GET /opslag/" in caplog.text


def test_logout_ends_the_session(app):
    c, token = logged_in(app, "anne")
    assert c.post("/logout", data={"csrf": token}).status_code == 303
    assert c.get("/soeg").status_code == 303


def test_search_takes_every_accepted_spelling_as_a_cpr_and_nothing_looser(app, w, audit_url):
    """The search had its own, looser CPR rule: text that merely looked like a CPR had every non-digit stripped, so
    '010190_1234' was looked up as 0101901234 while the CLI refused it. Now the one rule (cpr.normalise) decides."""
    c, token = logged_in(app, "anne")
    dotted = f"{w.cpr[:2]}.{w.cpr[2:4]}.{w.cpr[4:6]}-{w.cpr[6:]}"
    r = lookup(c, "/soeg", {"csrf": token, "soegning": dotted, "formaal": "Opfølgning på indsats"})
    assert r.status_code == 200 and "<svg" in r.text  # accepted spelling: the citizen's overview
    r = lookup(c, "/soeg", {"csrf": token, "soegning": f"{w.cpr[:6]}_{w.cpr[6:]}", "formaal": "Opfølgning på indsats"})
    assert r.status_code == 400 and "<svg" not in r.text  # not a CPR under the rule: refused, not looked up
    assert w.cpr not in r.text
    assert [x["outcome"] for x in audit.lookups(audit_url, user_id="anne")] == ["shown"]


def test_compliance_reports_narrow_to_a_period_and_a_department_in_danish(app, w, audit_url):
    a, atoken = logged_in(app, "anne")
    lookup(a, "/soeg", {"csrf": atoken, "soegning": w.cpr, "formaal": "Opfølgning på indsats"})
    c, token = logged_in(app, "carl")
    trail = lookup(c, "/compliance/samtykke", {"csrf": token, "cpr": w.cpr, "formaal": "compliance: klage fra borgeren"})
    assert "beskaeftigelse&gt;" not in trail.text and "beskaeftigelse>" not in trail.text  # scopes in words
    assert "samtykke:" not in trail.text and "lov:" not in trail.text  # bases in the one wording
    assert "Samtykket givet" in trail.text and "Personnøgle" not in trail.text
    narrowed = lookup(c, "/compliance/samtykke", {"csrf": token, "cpr": w.cpr, "formaal": "compliance: klage fra borgeren",
                                                    "afdeling_filter": "sundhed_aeldre", "fra": "01-01-2020"})
    assert narrowed.status_code == 200 and "Afgrænset til periode 01-01-2020" in narrowed.text
    assert "afdeling Sundhed og Ældre" in narrowed.text
    future = lookup(c, "/compliance/adgangslog", {"csrf": token, "cpr": w.cpr, "fra": "01-01-2099",
                                                    "formaal": "compliance: tilsyn og kontrol"})
    assert future.status_code == 200 and "Ingen opslag registreret" in future.text
    today = lookup(c, "/compliance/adgangslog", {"csrf": token, "cpr": w.cpr, "afdeling_filter": "beskaeftigelse",
                                                   "formaal": "compliance: tilsyn og kontrol"})
    assert "anne" in today.text
    other = lookup(c, "/compliance/adgangslog", {"csrf": token, "cpr": w.cpr, "afdeling_filter": "boern_familie",
                                                   "formaal": "compliance: tilsyn og kontrol"})
    assert "anne" not in other.text.split("<table>")[-1]
    bad = lookup(c, "/compliance/adgangslog", {"csrf": token, "cpr": w.cpr, "fra": "i går",
                                                 "formaal": "compliance: tilsyn og kontrol"})
    assert bad.status_code == 400 and "dato som 30-11-2026" in bad.text
