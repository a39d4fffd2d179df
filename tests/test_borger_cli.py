"""`samlet-overblik borger` and `user add`: the overview as a user's department may see it, logged."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from test_web_support import PASSWORD, dashed, world

from samlet_overblik.access import audit


@pytest.fixture
def w(tmp_path_factory, small_municipality):
    return world(tmp_path_factory, small_municipality)


PURPOSE = "Opfølgning på indsats"


def cli(*args, env=None, stdin=None):
    return subprocess.run([sys.executable, "-m", "samlet_overblik.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env, input=stdin)


def lookup(*args, env, password=PASSWORD, purpose=PURPOSE):
    """``borger``/``lineage`` as a user typing their password (standard input) and choosing a purpose."""
    extra = ("--purpose", purpose) if "--purpose" not in args else ()
    return cli(*args, *extra, env=env, stdin=password + "\n")


@pytest.fixture
def env(w, tmp_path):
    e = {k: v for k, v in os.environ.items() if not k.startswith("SAMLET_")}
    e.update(SAMLET_USERS_FILE=str(w.users_file), SAMLET_AUDIT_URL=f"sqlite:///{tmp_path / 'audit.sqlite'}",
             COLUMNS="200")
    return e


def test_borger_json_and_text(w, env):
    out = lookup("borger", w.cpr, "--user", "anne", "--warehouse", str(w.warehouse), "--json", env=env)
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
    text = lookup("borger", dashed(w.cpr), "--user", "anne", "--warehouse", str(w.warehouse), env=env)
    assert text.returncode == 0, text.stderr
    assert "ikke delt med dig" in text.stdout and "Jobcenter / Beskæftigelse (din afdeling)" in text.stdout
    rows = audit.lookups(env["SAMLET_AUDIT_URL"], user_id="anne")
    assert len(rows) == 2 and {r["channel"] for r in rows} == {"cli:borger"} and rows[1]["purpose"] == "Opfølgning på indsats"


def test_borger_errors_are_one_line(w, env, tmp_path):
    bad = lookup("borger", "12345", "--user", "anne", "--warehouse", str(w.warehouse), env=env)
    assert bad.returncode == 2 and "ugyldigt CPR-nummer" in bad.stderr and "12345" not in bad.stderr
    nobody = lookup("borger", w.cpr, "--user", "zed", "--warehouse", str(w.warehouse), env=env)
    assert nobody.returncode == 2 and "ukendt bruger eller forkert adgangskode" in nobody.stderr
    carl = lookup("borger", w.cpr, "--user", "carl", "--warehouse", str(w.warehouse), env=env)
    assert carl.returncode == 2 and "sagsbehandlere" in carl.stderr and w.cpr not in carl.stderr
    (tmp_path / "blocked").mkdir()
    closed = lookup("borger", w.cpr, "--user", "anne", "--warehouse", str(w.warehouse),
                    env={**env, "SAMLET_AUDIT_URL": f"sqlite:///{tmp_path / 'blocked'}"})
    assert closed.returncode == 2 and "adgangsloggen" in closed.stderr and "Tidslinje" not in closed.stdout
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
    out = lookup("lineage", w.cpr, "--user", "anne", "--warehouse", str(w.warehouse), env=env,
                 purpose="compliance: samtykkesporing")
    assert out.returncode == 2 and "compliance" in out.stderr and w.cpr not in out.stderr
    rows = audit.lookups(env["SAMLET_AUDIT_URL"], user_id="anne")
    assert [(r["channel"], r["outcome"], r["person_key"]) for r in rows] == [("cli:lineage", "denied_role", None)]


def test_borger_and_lineage_authenticate_the_user(w, env):
    """No password, a wrong one or a stolen user id gets nothing; every failure is logged, and five within five
    minutes stop the next attempt even with the right password (the limit holds across processes)."""
    url = env["SAMLET_AUDIT_URL"]
    wrong = lookup("borger", w.cpr, "--user", "anne", "--warehouse", str(w.warehouse), env=env, password="gaet-igen")
    assert wrong.returncode == 2 and "forkert adgangskode" in wrong.stderr and wrong.stdout.strip() == ""
    empty = cli("borger", w.cpr, "--user", "anne", "--warehouse", str(w.warehouse), "--purpose", PURPOSE, env=env,
                stdin="")
    assert empty.returncode == 2 and "Tidslinje" not in empty.stdout and empty.stdout.strip() == ""
    rows = audit.lookups(url, user_id="anne")
    assert [(r["outcome"], r["channel"], r["person_key"]) for r in rows] == [("denied_login", "cli:borger", None)] * 2
    for _ in range(3):
        lookup("lineage", w.cpr, "--user", "anne", "--warehouse", str(w.warehouse), env=env, password="forkert-igen",
               purpose="compliance: samtykkesporing")
    blocked = lookup("borger", w.cpr, "--user", "anne", "--warehouse", str(w.warehouse), env=env)
    assert blocked.returncode == 2 and "for mange mislykkede forsøg" in blocked.stderr
    assert [r["outcome"] for r in audit.lookups(url, user_id="anne")].count("shown") == 0


def test_a_personal_token_replaces_the_password_and_can_be_revoked(w, env, tmp_path):
    import shutil

    users = tmp_path / "users.yaml"
    shutil.copy(w.users_file, users)
    users.chmod(0o600)
    e = {**env, "SAMLET_USERS_FILE": str(users)}
    issued = cli("user", "token", "anne", "--days", "7", env=e)
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert token.startswith("so_") and len(token) > 40 and token not in users.read_text()
    ok = cli("borger", w.cpr, "--user", "anne", "--warehouse", str(w.warehouse), "--json", "--purpose", PURPOSE,
             env={**e, "SAMLET_TOKEN": token}, stdin="")
    assert ok.returncode == 0, ok.stderr
    other = cli("borger", w.cpr, "--user", "bente", "--warehouse", str(w.warehouse), "--json", "--purpose", PURPOSE,
                env={**e, "SAMLET_TOKEN": token}, stdin="")
    assert other.returncode == 2 and "forkert token" in other.stderr  # anne's token is not bente's
    assert cli("user", "token", "anne", "--revoke", env=e).returncode == 0
    revoked = cli("borger", w.cpr, "--user", "anne", "--warehouse", str(w.warehouse), "--json", "--purpose", PURPOSE,
                  env={**e, "SAMLET_TOKEN": token}, stdin="")
    assert revoked.returncode == 2 and revoked.stdout.strip() == ""
    assert cli("user", "token", "anne", "--days", "400", env=e).returncode == 2


def test_borger_is_readable_at_80_columns_and_speaks_danish(w, env):
    out = lookup("borger", w.cpr, "--user", "anne", "--warehouse", str(w.warehouse), env={**env, "COLUMNS": "80"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert max(len(x) for x in lines) <= 80 and "…" not in out.stdout
    view = json.loads(lookup("borger", w.cpr, "--user", "anne", "--warehouse", str(w.warehouse), "--json",
                             env=env).stdout)
    flat = " ".join(x.strip() for x in lines)
    for record in view["indsatser"]:  # every title whole (wrapped lines joined), dates as dd-mm-åååå
        assert record["titel"] in flat
        if record["start"]:
            y, m, d = record["start"].split("-")
            assert f"{d}-{m}-{y}" in flat
    assert "afdeling(er)" not in out.stdout and "error" not in out.stderr
    bad = lookup("borger", "3201901234", "--user", "anne", "--warehouse", str(w.warehouse), env=env)
    assert bad.returncode == 2 and bad.stderr.startswith("samlet-overblik: fejl:") and "gyldig dato" in bad.stderr
    usage = cli("borger", w.cpr, "--warehouse", str(w.warehouse), env=env)
    assert usage.returncode == 2 and "fejl" in usage.stderr and "--user" in usage.stderr
