"""Real browser end to end (Playwright + Debian's chromium; never a downloaded browser): a caseworker logs in,
searches a citizen by CPR, sees the timeline and only the consented departments, and logs out.
Screenshots go to test-output/browser/ (and the test's tmp_path)."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_web_support import PASSWORD, dashed, desk_world, served, web_env, world

CHROMIUM = "/usr/bin/chromium"
IN_CI = os.environ.get("CI", "").lower() == "true"
OUT = Path(__file__).resolve().parents[1] / "test-output" / "browser"

pytestmark = pytest.mark.browser


@contextmanager
def _browser_page():
    """A page in Debian's chromium, started with the flags this project's browser tests use (never a download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            yield browser.new_page(viewport={"width": 1200, "height": 900})
        finally:
            browser.close()


def _need_chromium():
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is missing; under CI=true the browser test must run (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); browser test skipped locally")


@pytest.fixture
def server(tmp_path_factory, small_municipality, tmp_path):
    _need_chromium()
    w = world(tmp_path_factory, small_municipality)
    env = web_env(w, f"sqlite:///{tmp_path / 'audit.sqlite'}")
    with served(env, tmp_path / "server.log", url_host="localhost") as url:
        yield w, url, env["SAMLET_AUDIT_URL"], tmp_path / "server.log"


def test_caseworker_logs_in_searches_sees_timeline_and_logs_out(server, tmp_path):
    from samlet_overblik.access import audit
    from samlet_overblik.core.labels import DEPARTMENT_NAMES

    w, url, audit_url, server_log = server
    OUT.mkdir(parents=True, exist_ok=True)

    def shot(page, name):
        page.screenshot(path=str(tmp_path / name), full_page=True)
        shutil.copy(tmp_path / name, OUT / name)

    with _browser_page() as page:
        page.goto(url + "/")
        assert page.url.endswith("/login")
        shot(page, "01_login.png")
        page.get_by_label("Brugernavn").fill("anne")
        page.get_by_label("Adgangskode").fill(PASSWORD)
        page.get_by_role("button", name="Log ind").click()
        page.wait_for_url("**/soeg")
        shot(page, "02_soeg.png")
        page.get_by_label("CPR-nummer eller navn").fill(dashed(w.cpr))
        page.get_by_label("Formål med opslaget").select_option("Koordinering af indsatser (én plan)")
        page.get_by_role("button", name="Søg").click()
        page.wait_for_selector("svg.tidslinje")
        shot(page, "03_borger.png")
        assert "/opslag/" in page.url and w.cpr not in page.url and w.cpr[:6] not in page.url  # POST, then a handle
        page.reload()  # post/redirect/get: a reload shows the lookup again without re-posting the form
        page.wait_for_selector("svg.tidslinje")
        body = page.inner_text("main")
        assert "ikke delt med dig" in body and f"{w.hidden} registrering" in body
        assert page.locator("svg.tidslinje g.bar").count() >= 2
        headings = page.locator("section h3").all_inner_texts()
        shown = {d for d, name in DEPARTMENT_NAMES.items() if any(h.startswith(name) for h in headings)}
        assert "beskaeftigelse" in shown and w.shared_from in shown
        import duckdb
        with duckdb.connect(str(w.warehouse.parent / "exports" / "beskaeftigelse.duckdb"), read_only=True) as con:
            allowed = {r[0] for r in con.execute("SELECT DISTINCT source_department FROM interventions "
                                                 "WHERE person_key = ?", [w.person_key]).fetchall()}
        assert shown == allowed  # exactly the consented departments
        page.get_by_role("button", name="Vis familien").click()
        page.wait_for_selector("text=Familieoverblik")
        shot(page, "04_familie.png")
        page.get_by_role("button", name="Log ud").click()
        page.wait_for_url("**/login")
        page.goto(url + "/soeg")
        assert page.url.endswith("/login")  # the session is gone
        shot(page, "05_logget_ud.png")
    rows = audit.lookups(audit_url, person_key=w.person_key)
    assert rows and rows[-1]["channel"] == "web:borger" and rows[-1]["purpose"] == "Koordinering af indsatser (én plan)"
    log_text = server_log.read_text()
    assert w.cpr not in log_text and dashed(w.cpr) not in log_text and "POST /soeg 303" in log_text


def test_compliance_pages_in_the_browser(server, tmp_path):
    w, url, _, _ = server
    OUT.mkdir(parents=True, exist_ok=True)
    with _browser_page() as page:
        page.goto(url + "/login")
        page.get_by_label("Brugernavn").fill("carl")
        page.get_by_label("Adgangskode").fill(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url("**/compliance")
        page.screenshot(path=str(OUT / "06_compliance.png"), full_page=True)
        page.locator("#cpr1").fill(w.cpr)
        page.locator("#f1").select_option("compliance: samtykkesporing")  # no purpose is preset
        page.get_by_role("button", name="Vis samtykkespor").click()
        page.wait_for_selector("text=Samtykker over tid")
        page.screenshot(path=str(OUT / "07_samtykkespor.png"), full_page=True)
        page.goto(url + "/compliance")
        page.locator("#cpr2").fill(w.cpr)
        page.locator("#f2").select_option("compliance: adgangslog")
        page.get_by_role("button", name="Vis adgangslog").click()
        page.wait_for_selector("text=Adgangslog for borger")
        page.screenshot(path=str(OUT / "08_adgangslog.png"), full_page=True)
        assert w.cpr not in page.content() and "/compliance/opslag/" in page.url
        # The citizen's right of access: the report is downloaded as a file (PDF), named without the CPR number.
        page.goto(url + "/compliance")
        page.locator("#cpr3").fill(w.cpr)
        page.locator("#f3").select_option("compliance: indsigtsanmodning fra borgeren")
        with page.expect_download() as download:
            page.get_by_role("button", name="Hent indsigtsrapport").click()
        report = download.value
        assert report.suggested_filename.endswith(".pdf") and w.cpr[:6] not in report.suggested_filename
        saved = OUT / "09_indsigt.pdf"
        report.save_as(saved)
        assert saved.read_bytes().startswith(b"%PDF-")


def test_a_steward_works_the_review_desk_by_keyboard(tmp_path_factory, small_municipality, tmp_path):
    """Log in, show the queue, open the first pair and decide it with the keyboard alone (focus and Enter; the
    reason field has focus when the pair opens, and Enter there only skips). The access keys (Alt+M/N/S) are in the
    page for real browsers; headless Chromium does not act on synthetic Alt+key presses, so they are checked as
    attributes."""
    from samlet_overblik.access import audit

    _need_chromium()
    desk = desk_world(tmp_path_factory, small_municipality)
    env = web_env(desk, f"sqlite:///{tmp_path / 'audit.sqlite'}")
    OUT.mkdir(parents=True, exist_ok=True)
    with served(env, tmp_path / "server.log", url_host="localhost") as url, _browser_page() as page:
        page.goto(url + "/login")
        page.get_by_label("Brugernavn").fill("sofie")
        page.get_by_label("Adgangskode").fill(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url("**/identitet")
        page.locator("#formaal").focus()  # no purpose is preset: the steward chooses one with the arrow keys
        page.keyboard.press("ArrowDown")
        assert page.locator("#formaal").input_value() == "identitet: afklaring af et uafklaret par"
        page.get_by_role("button", name="Vis køen").focus()
        page.keyboard.press("Enter")
        page.wait_for_selector("text=Køen (")
        before = page.locator("form[action='/identitet/par']").count()
        page.screenshot(path=str(OUT / "09_identitetskoe.png"), full_page=True)
        page.get_by_role("button", name="Åbn par").first.focus()
        page.keyboard.press("Enter")
        page.wait_for_selector("text=Evidens felt for felt")
        page.screenshot(path=str(OUT / "10_identitetspar.png"), full_page=True)
        assert page.evaluate("document.activeElement.id") == "begrundelse"
        assert {page.get_attribute(f"button[value='{v}']", "accesskey") for v in ("match", "no_match", "skip")} == {
            "m", "n", "s"}
        page.keyboard.type("Samme adresse som i CPR, bekræftet telefonisk")
        page.keyboard.press("Tab")  # past "Spring over" (the harmless default) to "Samme person"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.value") == "match"
        page.keyboard.press("Enter")
        page.wait_for_selector("text=Gemt: samme person")
        assert page.locator("form[action='/identitet/par']").count() == before - 1
    (stored,) = audit.steward_decisions(env["SAMLET_AUDIT_URL"])
    assert stored["decided_by"] == "sofie" and stored["reason"].startswith("Samme adresse")
