"""WCAG 2.1 A/AA (webtilgængelighedsloven, EN 301 549) in a real browser: every page of the app, as each role sees
it, has zero axe-core violations; a caseworker can look a citizen up with the keyboard alone, and focus is visible.

axe-core runs inside Debian's chromium through Playwright (axe-playwright-python ships axe-core; nothing is
downloaded). Each page's screenshot goes to test-output/a11y/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_browser_e2e import _browser_page, _need_chromium
from test_web_support import PASSWORD, dashed, desk_world, served, web_env, world

pytestmark = pytest.mark.browser

OUT = Path(__file__).resolve().parents[1] / "test-output" / "a11y"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PURPOSE = "Opfølgning på indsats"


def _violations(page, name: str) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations on the page now (one line each), and a screenshot of it."""
    from axe_playwright_python.sync_playwright import Axe

    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_21_AA}, "resultTypes": ["violations"]})
    return [f"{name}: {v['id']} ({v['impact']}) {v['help']} — {len(v['nodes'])}× e.g. {v['nodes'][0]['target']}"
            for v in results.response["violations"]]


def _login(page, url: str, user: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Brugernavn").fill(user)
    page.get_by_label("Adgangskode").fill(PASSWORD)
    page.get_by_role("button", name="Log ind").click()
    page.wait_for_load_state()


def _logout(page, url: str) -> None:
    page.goto(url + "/")  # the user's home page (an error page need not know who is logged in)
    page.get_by_role("button", name="Log ud").click()
    page.wait_for_url("**/login")


@pytest.fixture
def served_world(tmp_path_factory, small_municipality, tmp_path):
    _need_chromium()
    w = world(tmp_path_factory, small_municipality)
    env = web_env(w, f"sqlite:///{tmp_path / 'audit.sqlite'}")
    with served(env, tmp_path / "server.log", url_host="localhost") as url:
        yield w, url


def test_every_page_has_no_wcag_21_aa_violations(served_world):
    w, url = served_world
    found: list[str] = []
    with _browser_page() as page:
        page.goto(url + "/login")
        found += _violations(page, "login")
        page.get_by_label("Brugernavn").fill("anne")
        page.get_by_label("Adgangskode").fill("forkert-kodeord")
        page.get_by_role("button", name="Log ind").click()
        found += _violations(page, "login_fejl")

        _login(page, url, "anne")
        found += _violations(page, "soeg")
        page.get_by_label("CPR-nummer eller navn").fill("3201901234")
        page.get_by_label("Formål med opslaget").select_option(PURPOSE)
        page.get_by_role("button", name="Søg").click()
        found += _violations(page, "soeg_ugyldigt_cpr")
        page.get_by_label("CPR-nummer eller navn").fill(dashed(w.cpr))
        page.get_by_label("Formål med opslaget").select_option(PURPOSE)
        page.get_by_role("button", name="Søg").click()
        page.wait_for_selector("svg.tidslinje")
        found += _violations(page, "borger")
        lookup_url = page.url
        page.goto(lookup_url + "?vis=aktive")
        found += _violations(page, "borger_aktive")
        page.goto(lookup_url + "/udskrift")
        found += _violations(page, "udskrift")
        page.goto(lookup_url)
        surname = page.locator("h1").inner_text().split()[1]
        page.get_by_role("button", name="Vis familien").click()
        page.wait_for_selector("text=Familieoverblik")
        found += _violations(page, "familie")
        page.goto(url + "/soeg")
        page.get_by_label("CPR-nummer eller navn").fill(surname)
        page.get_by_label("Formål med opslaget").select_option(PURPOSE)
        page.get_by_role("button", name="Søg").click()
        page.wait_for_selector("text=Resultater")
        found += _violations(page, "navnesoegning")
        page.goto(url + "/opslag/findes-ikke")
        found += _violations(page, "opslag_udloebet")
        page.goto(url + "/compliance")  # a caseworker on a compliance page: the refusal page
        found += _violations(page, "ingen_adgang")
        page.goto(url + "/findes/ikke")
        found += _violations(page, "ikke_fundet")
        _logout(page, url)

        _login(page, url, "carl")
        found += _violations(page, "compliance")
        page.locator("#cpr1").fill(w.cpr)
        page.locator("#f1").select_option("compliance: samtykkesporing")
        page.get_by_role("button", name="Vis samtykkespor").click()
        page.wait_for_selector("text=Samtykker over tid")
        found += _violations(page, "samtykkespor")
        page.goto(url + "/compliance")
        page.locator("#cpr2").fill(w.cpr)
        page.locator("#f2").select_option("compliance: adgangslog")
        page.get_by_role("button", name="Vis adgangslog").click()
        page.wait_for_selector("text=Adgangslog for borger")
        found += _violations(page, "adgangslog_borger")
        page.goto(url + "/compliance")
        page.locator("#cpr1").fill(w.cpr)
        page.locator("#f1").select_option("compliance: samtykkesporing")
        page.locator("#p1-afd").select_option("beskaeftigelse")
        page.get_by_role("button", name="Vis samtykkespor").click()
        page.wait_for_selector("text=Samtykker over tid")
        found += _violations(page, "samtykkespor_afgraenset")
        page.goto(url + "/drift")
        found += _violations(page, "drift")
        _logout(page, url)
    assert not found, "\n".join(found)


def test_the_review_desk_has_no_wcag_21_aa_violations(tmp_path_factory, small_municipality, tmp_path):
    _need_chromium()
    desk = desk_world(tmp_path_factory, small_municipality)
    env = web_env(desk, f"sqlite:///{tmp_path / 'audit.sqlite'}")
    found: list[str] = []
    with served(env, tmp_path / "server.log", url_host="localhost") as url, _browser_page() as page:
        _login(page, url, "sofie")
        found += _violations(page, "identitet")
        page.locator("#formaal").select_option("identitet: afklaring af et uafklaret par")
        page.get_by_role("button", name="Vis køen").click()
        page.wait_for_selector("text=Køen (")
        found += _violations(page, "identitet_koe")
        page.get_by_role("button", name="Åbn par").first.click()
        page.wait_for_selector("text=Evidens felt for felt")
        found += _violations(page, "identitet_par")
    assert not found, "\n".join(found)


def test_a_caseworker_looks_a_citizen_up_with_the_keyboard_alone(served_world):
    """Tab from the top of the page, type, choose the purpose with the arrow keys, press Enter: no mouse. Every
    focused control shows a visible focus ring."""
    w, url = served_world

    def focused() -> dict:
        return page.evaluate("""() => { const e = document.activeElement; const s = getComputedStyle(e);
            return {tag: e.tagName, id: e.id, name: e.getAttribute('name'), text: (e.innerText || '').trim(),
                    outline: s.outlineStyle, width: parseFloat(s.outlineWidth)}; }""")

    def tab_to(predicate, limit: int = 25) -> dict:
        for _ in range(limit):
            page.keyboard.press("Tab")
            now = focused()
            assert now["outline"] != "none" and now["width"] >= 2, f"no visible focus on {now}"
            if predicate(now):
                return now
        raise AssertionError("not reached by Tab")

    with _browser_page() as page:
        page.goto(url + "/login")
        assert focused()["id"] == "brugernavn"  # the login form has focus when the page opens
        page.keyboard.type("anne")
        tab_to(lambda f: f["id"] == "adgangskode")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url("**/soeg")
        first = tab_to(lambda f: True)
        assert first["text"] == "Gå til indhold"  # the skip link comes first on every page
        tab_to(lambda f: f["id"] == "soegning")
        page.keyboard.type(dashed(w.cpr))
        tab_to(lambda f: f["id"] == "formaal")
        options = page.locator("#formaal option").all_inner_texts()
        for _ in range(options.index(PURPOSE)):
            page.keyboard.press("ArrowDown")
        assert page.locator("#formaal").input_value() == PURPOSE
        tab_to(lambda f: f["tag"] == "BUTTON" and f["text"] == "Søg")
        page.keyboard.press("Enter")
        page.wait_for_selector("svg.tidslinje")
        assert re.search(r"/opslag/[A-Za-z0-9_-]+$", page.url)
        page.screenshot(path=str(OUT / "tastatur_borger.png"), full_page=True)
        # The timeline has a text alternative: the same records as a list a screen reader reads.
        assert page.locator("svg.tidslinje[role='img']").count() == 1
        assert page.locator("svg.tidslinje title").count() >= 1


def test_the_check_finds_violations_where_there_are_some():
    """The check is not vacuous: a page without a language, an image without an alternative and an unlabelled
    field is reported."""
    _need_chromium()
    with _browser_page() as page:
        page.set_content('<html><head><title>x</title></head><body><main><img src="data:,">'
                         '<input type="text"><p style="color:#bbb;background:#fff">grå tekst</p></main></body></html>')
        found = " ".join(_violations(page, "selvtest"))
    for rule in ("html-has-lang", "image-alt", "label", "color-contrast"):
        assert rule in found, found
