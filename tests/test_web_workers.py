"""Several `serve` workers on one port stay correct (issue 13): a session made by one is good in all, a lookup
handle written by one is shown by another, the login limit counts failures made at any of them, and every
lookup is in the one access log."""

from __future__ import annotations

import re

import httpx
import pytest
from test_web_support import PASSWORD, served, web_env, world

from samlet_overblik.access import audit

PURPOSE = "Opfølgning på indsats"


@pytest.fixture
def w(tmp_path_factory, small_municipality):
    return world(tmp_path_factory, small_municipality)


def _login(c: httpx.Client, user: str, password: str = PASSWORD) -> httpx.Response:
    """The cookie is Secure, so httpx keeps it only for https: it is carried by hand on plain-http loopback."""
    page = c.get("/login", headers={"connection": "close"})
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return c.post("/login", data={"csrf": token, "brugernavn": user, "adgangskode": password},
                  headers={"cookie": page.headers["set-cookie"].split(";")[0], "connection": "close"})


def test_two_workers_share_sessions_handles_the_login_limit_and_the_log(w, tmp_path):
    url = f"sqlite:///{tmp_path / 'audit.sqlite'}"
    with served(web_env(w, url), tmp_path / "server.log", workers=2) as base:
        with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as c:
            r = _login(c, "anne")
            assert r.status_code == 303, r.text
            jar = {"cookie": r.headers["set-cookie"].split(";")[0]}
            shown = 0
            for _ in range(12):  # a new connection each time: they land on either worker
                page = c.get("/soeg", headers={**jar, "connection": "close"})
                assert page.status_code == 200, page.status_code  # the session is good at both workers
                token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
                r = c.post("/soeg", data={"csrf": token, "soegning": w.cpr, "formaal": PURPOSE},
                           headers={**jar, "connection": "close"})
                assert r.status_code == 303
                again = c.get(r.headers["location"], headers={**jar, "connection": "close"})
                assert again.status_code == 200 and "tidslinje" in again.text
                shown += 1
            for _ in range(5):
                assert _login(c, "bente", "forkert-kodeord").status_code == 401
            blocked = _login(c, "bente")  # the right password, at whichever worker: refused
            assert blocked.status_code == 429
    rows = audit.lookups(url)
    assert len([r for r in rows if r["outcome"] == "shown" and r["user_id"] == "anne"]) == shown
    assert len([r for r in rows if r["outcome"] == "denied_login" and r["user_id"] == "bente"]) == 5
    pids = {m.group(1) for m in re.finditer(r"Started server process \[(\d+)\]", (tmp_path / "server.log").read_text())}
    assert len(pids) == 2  # two workers served
