"""Shared by the web, borger, audit and browser tests: one small published warehouse per test session,
a users file with one user per role, and a citizen whose records are partly shared, partly not."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

PASSWORD = "korrekt-hest-batteri"
SECRET = "test-secret-" + "x" * 40
_CACHE: dict[str, "World | Desk"] = {}


@dataclass
class World:
    warehouse: Path
    users_file: Path
    cpr: str               # a citizen the job centre sees, with records shared from another department and some not
    person_key: str
    shared_from: str       # a department whose records reach beskaeftigelse by consent
    hidden: int            # records in other departments not shared with beskaeftigelse
    stranger_cpr: str      # a citizen beskaeftigelse has no record of


def world(tmp_path_factory, small_municipality) -> World:
    if "w" in _CACHE:
        return _CACHE["w"]
    from pipeline_helpers import run

    from samlet_overblik.access.users import add_user

    root = tmp_path_factory.mktemp("web_world")
    warehouse = root / "wh" / "samlet_overblik.duckdb"
    run(small_municipality, warehouse)
    users = root / "users.yaml"
    add_user(users, "anne", "Anne Jensen", "sagsbehandler", "beskaeftigelse", PASSWORD)
    add_user(users, "bente", "Bente Holm", "sagsbehandler", "boern_familie", PASSWORD)
    add_user(users, "carl", "Carl Compliance", "compliance", None, PASSWORD)
    add_user(users, "dorte", "Dorte Data", "dataingenioer", None, PASSWORD)
    ex = warehouse.parent / "exports" / "beskaeftigelse.duckdb"
    with duckdb.connect(str(ex), read_only=True) as con:
        shared = con.execute(
            "SELECT person_key, any_value(cpr), any_value(source_department) FROM interventions "
            "WHERE source_department <> 'beskaeftigelse' AND cpr IS NOT NULL GROUP BY person_key").fetchall()
        seen = {r[0] for r in con.execute("SELECT DISTINCT person_key FROM interventions").fetchall()}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        best = None
        for pk, cpr, dept in shared:
            total = con.execute("SELECT count(*) FROM unified.interventions WHERE person_key = ? AND department <> "
                                "'beskaeftigelse'", [pk]).fetchall()[0][0]
            with duckdb.connect(str(ex), read_only=True) as econ:
                vis = econ.execute("SELECT count(*) FROM interventions WHERE person_key = ? AND source_department <> "
                                   "'beskaeftigelse'", [pk]).fetchall()[0][0]
            if total - vis > 0 and (best is None or total - vis > best[3]):
                best = (pk, cpr, dept, total - vis)
        assert best, "the test municipality has no partly shared citizen"
        stranger = con.execute(
            "SELECT k.cpr FROM identity.person_keys k JOIN unified.interventions i USING (person_key) "
            "WHERE k.cpr IS NOT NULL AND NOT list_contains(?, k.person_key) LIMIT 1", [list(seen)]).fetchall()[0][0]
    w = World(warehouse, users, best[1], best[0], best[2], best[3], stranger)
    _CACHE["w"] = w
    return w


@dataclass
class Desk:
    warehouse: Path
    users_file: Path


def desk_world(tmp_path_factory, small_municipality) -> Desk:
    """A municipality with uncertain pairs: the health system has patients known by a name only, a name two
    register persons share (the model cannot tell which, so each pair waits for a steward)."""
    if "desk" in _CACHE:
        return _CACHE["desk"]
    import sqlite3

    from pipeline_helpers import copy_sources, run

    from samlet_overblik.access.users import add_user

    root = tmp_path_factory.mktemp("desk")
    sources = copy_sources(small_municipality, root / "sources")
    with sqlite3.connect(sources / "cpr.sqlite") as con:
        shared = con.execute(
            """SELECT fornavn, efternavn FROM personer GROUP BY fornavn, efternavn HAVING count(*) = 2
               ORDER BY fornavn, efternavn LIMIT 3""").fetchall()
    assert shared, "the test municipality has no namesakes"
    with sqlite3.connect(sources / "sundhed_aeldre.sqlite") as con:
        top = con.execute("SELECT max(patient_id) FROM patients").fetchone()[0]
        con.executemany(
            "INSERT INTO patients (patient_id, ssn, first_name, last_name, birth_date, street, zip, updated_at) "
            "VALUES (?, NULL, ?, ?, NULL, NULL, NULL, '2026-10-30T10:00:00')",
            [(top + 1 + i, given, family) for i, (given, family) in enumerate(shared)])
    warehouse = root / "wh" / "samlet_overblik.duckdb"
    run(sources, warehouse)
    users = root / "users.yaml"
    add_user(users, "sofie", "Sofie Steward", "datasteward", None, PASSWORD)
    add_user(users, "anne", "Anne Jensen", "sagsbehandler", "beskaeftigelse", PASSWORD)
    desk = Desk(warehouse, users)
    _CACHE["desk"] = desk
    return desk


def dashed(cpr: str) -> str:
    return f"{cpr[:6]}-{cpr[6:]}"


def web_env(w: World | Desk, audit_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMLET_")}
    env.update(SAMLET_WAREHOUSE=str(w.warehouse), SAMLET_USERS_FILE=str(w.users_file), SAMLET_SESSION_SECRET=SECRET,
               SAMLET_AUDIT_URL=audit_url)
    return env


# ---- a browser session against the app (FastAPI's TestClient; https so the Secure cookie is sent)


def client(app, **kwargs):
    from fastapi.testclient import TestClient

    return TestClient(app, base_url="https://testserver", follow_redirects=False, **kwargs)


def lookup(c, path: str, data: dict):
    """A lookup form posted as the browser does: the POST, then the page its redirect (post/redirect/get) leads to.
    A refusal answered at once (no redirect) is returned as it is."""
    r = c.post(path, data=data)
    if r.status_code == 303 and r.headers["location"].startswith(("/opslag/", "/compliance/opslag/")):
        return c.get(r.headers["location"])
    return r


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def login(c, user: str, password: str = PASSWORD):
    token = csrf_of(c.get("/login").text)
    return c.post("/login", data={"csrf": token, "brugernavn": user, "adgangskode": password})


def logged_in(app, user: str, password: str = PASSWORD):
    c = client(app)
    r = login(c, user, password)
    assert r.status_code == 303, r.text
    page = c.get(r.headers["location"])
    return c, csrf_of(page.text)


@contextmanager
def served(env: dict[str, str], log_path: Path, url_host: str = "127.0.0.1", workers: int = 1) -> Iterator[str]:
    """``samlet-overblik serve`` on a free port as its own process (the real uvicorn server and its logging);
    yields the base URL once the login page answers, and stops the server afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "samlet_overblik.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=lambda: (signal.signal(signal.SIGINT, signal.SIG_DFL), signal.signal(signal.SIGTERM, signal.SIG_DFL)))
    base = f"http://{url_host}:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(base + "/login", timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(log_path.read_text()) from None
                time.sleep(0.1)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
