"""`samlet-overblik borger` and `user add`: the overview as a user's department may see it, logged."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from test_web_support import dashed, world

from samlet_overblik.access import audit


@pytest.fixture
def w(tmp_path_factory, small_municipality):
    return world(tmp_path_factory, small_municipality)


def cli(*args, env=None, stdin=None):
    return subprocess.run([sys.executable, "-m", "samlet_overblik.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env, input=stdin)


@pytest.fixture
def env(w, tmp_path):
    e = {k: v for k, v in os.environ.items() if not k.startswith("SAMLET_")}
    e.update(SAMLET_USERS_FILE=str(w.users_file), SAMLET_AUDIT_URL=f"sqlite:///{tmp_path / 'audit.sqlite'}",
             COLUMNS="200")
    return e


def test_borger_json_and_text(w, env):
    out = cli("borger", w.cpr, "--user", "anne", "--warehouse", str(w.warehouse), "--json", "--purpose", "Opfølgning på indsats",
              env=env)
    assert out.returncode == 0, out.stderr
    view = json.loads(out.stdout)
    assert view["afdeling"] == "beskaeftigelse" and view["ikke_delt"] == w.hidden
    assert {g["afdeling"] for g in view["afdelinger"]} >= {"beskaeftigelse", w.shared_from}
    assert all(i["grundlag"] and i["start"] is not None for i in view["indsatser"])
    assert w.cpr not in out.stdout
    # Each record's status is the unified view's (one rule: assets/unified/interventions.sql), carried in the export.
    import duckdb

    with duckdb.connect(str(w.warehouse), read_only=True) as con:
        unified = set(con.execute(
            """SELECT i.department, i.title, CAST(i.start_date AS VARCHAR), i.status FROM unified.interventions i
               JOIN identity.person_keys k USING (person_key) WHERE k.cpr = ?""", [w.cpr]).fetchall())
    shown = {(i["afdeling"], i["titel"], i["start"], i["status"]) for i in view["indsatser"]}
    assert shown and shown <= unified
    text = cli("borger", dashed(w.cpr), "--user", "anne", "--warehouse", str(w.warehouse), env=env)
    assert text.returncode == 0, text.stderr
    assert "ikke delt med dig" in text.stdout and "Jobcenter / Beskæftigelse (din afdeling)" in text.stdout
    rows = audit.lookups(env["SAMLET_AUDIT_URL"], user_id="anne")
    assert len(rows) == 2 and {r["channel"] for r in rows} == {"cli:borger"} and rows[1]["purpose"] == "Opfølgning på indsats"


def test_borger_errors_are_one_line(w, env, tmp_path):
    bad = cli("borger", "12345", "--user", "anne", "--warehouse", str(w.warehouse), env=env)
    assert bad.returncode == 2 and "ugyldigt CPR-nummer" in bad.stderr and "12345" not in bad.stderr
    nobody = cli("borger", w.cpr, "--user", "zed", "--warehouse", str(w.warehouse), env=env)
    assert nobody.returncode == 2 and "unknown user" in nobody.stderr
    carl = cli("borger", w.cpr, "--user", "carl", "--warehouse", str(w.warehouse), env=env)
    assert carl.returncode == 2 and "sagsbehandlere" in carl.stderr and w.cpr not in carl.stderr
    (tmp_path / "blocked").mkdir()
    closed = cli("borger", w.cpr, "--user", "anne", "--warehouse", str(w.warehouse),
                 env={**env, "SAMLET_AUDIT_URL": f"sqlite:///{tmp_path / 'blocked'}"})
    assert closed.returncode == 2 and "access log" in closed.stderr and "Tidslinje" not in closed.stdout
    assert closed.stdout.strip() == ""


def test_user_add_reads_password_from_stdin(tmp_path):
    from samlet_overblik.access.users import get_user, verify_password

    path = tmp_path / "users.yaml"
    e = {**os.environ, "SAMLET_USERS_FILE": str(path)}
    ok = cli("user", "add", "eva", "--name", "Eva Berg", "--role", "sagsbehandler", "--department", "social_voksen",
             env=e, stdin="et-godt-kodeord\n")
    assert ok.returncode == 0, ok.stderr
    assert verify_password(path, "eva", "et-godt-kodeord").department == "social_voksen"
    assert "et-godt-kodeord" not in path.read_text() and "$argon2id$" in path.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    no_dept = cli("user", "add", "finn", "--name", "Finn", "--role", "sagsbehandler", env=e, stdin="et-godt-kodeord\n")
    assert no_dept.returncode == 2 and "--department" in no_dept.stderr
    short = cli("user", "add", "finn", "--name", "Finn", "--role", "compliance", env=e, stdin="kort\n")
    assert short.returncode == 2 and "at least" in short.stderr
    assert get_user(path, "finn") is None


def test_lineage_by_a_caseworker_is_refused_and_logged(w, env):
    out = cli("lineage", w.cpr, "--user", "anne", "--warehouse", str(w.warehouse), env=env)
    assert out.returncode == 2 and "compliance" in out.stderr and w.cpr not in out.stderr
    rows = audit.lookups(env["SAMLET_AUDIT_URL"], user_id="anne")
    assert [(r["channel"], r["outcome"], r["person_key"]) for r in rows] == [("cli:lineage", "denied_role", None)]
