"""Many municipalities behind one web app (issue 14): the municipality is part of the user's record, a user reads
only their own, a request that names another is refused (403) and logged, each municipality's access log and
analytics key are its own."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from test_web_support import PASSWORD, SECRET, client, csrf_of, login, lookup

from samlet_overblik.access import audit
from samlet_overblik.access.users import add_user
from samlet_overblik.core.settings import load_settings
from samlet_overblik.runner import run_job
from samlet_overblik.synthetic.denmark import generate_municipalities

TENANTS = ("825", "563")
PURPOSE = "Opfølgning på indsats"


@pytest.fixture(scope="module")
def installation(tmp_path_factory):
    """Two municipalities run and published; 825 has its own analytics key, 563 only the installation's."""
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("tenants_web")
    sources, root = tmp / "sources", tmp / "wh"
    generate_municipalities(list(TENANTS), 0.03, 11, sources, as_of=dt.date(2026, 11, 1))
    env = {"SAMLET_TENANTS": ",".join(TENANTS), "SAMLET_WAREHOUSE_ROOT": str(root),
           "SAMLET_SOURCES_DIR": str(sources), "SAMLET_REFERENCE_TIME": "2026-11-01T12:00:00"}
    mp.delenv("SAMLET_AUDIT_URL", raising=False)
    mp.delenv("SAMLET_USERS_FILE", raising=False)
    mp.setenv("SAMLET_ANALYTICS_KEY", "installation-" + "i" * 30)
    mp.setenv("SAMLET_825_ANALYTICS_KEY", "kommune-825-" + "k" * 30)
    settings = load_settings(None, sources_dir=sources, env=env)
    for code in TENANTS:
        outcome = run_job(settings, "nightly", partition=code)
        assert outcome.success, outcome.failure
    users = root / "users.yaml"
    add_user(users, "anne", "Anne Læsø", "sagsbehandler", "beskaeftigelse", PASSWORD, kommune="825")
    add_user(users, "bo", "Bo Fanø", "sagsbehandler", "beskaeftigelse", PASSWORD, kommune="563")
    add_user(users, "nemo", "Nemo København", "sagsbehandler", "beskaeftigelse", PASSWORD, kommune="101")
    yield root, {**env, "SAMLET_SESSION_SECRET": SECRET}
    mp.undo()


@pytest.fixture
def app(installation, monkeypatch):
    from samlet_overblik.web import WebSettings, create_app

    root, env = installation
    monkeypatch.delenv("SAMLET_AUDIT_URL", raising=False)
    settings = WebSettings.from_env(env=env)
    assert settings.users_file == root / "users.yaml" and set(settings.tenant_warehouses) == set(TENANTS)
    return create_app(settings)


def job_centre_cpr(root: Path, code: str) -> str:
    with duckdb.connect(str(root / code / "exports" / "beskaeftigelse.duckdb"), read_only=True) as con:
        return con.execute("SELECT min(cpr) FROM interventions WHERE source_department = 'beskaeftigelse'").fetchone()[0]


def logged_in(app, user: str):
    c = client(app)
    assert login(c, user).status_code == 303
    return c, csrf_of(c.get("/soeg").text)


def test_a_user_reads_their_own_municipality_only_and_it_is_logged_there(installation, app):
    root, _ = installation
    own, other = job_centre_cpr(root, "825"), job_centre_cpr(root, "563")
    c, token = logged_in(app, "anne")
    assert "Læsø" in c.get("/soeg").text  # the page names the user's municipality
    r = lookup(c, "/soeg", {"csrf": token, "soegning": own, "formaal": PURPOSE})
    assert r.status_code == 200 and "<svg" in r.text
    # A citizen of another municipality is simply not in the user's data.
    r = lookup(c, "/soeg", {"csrf": token, "soegning": other, "formaal": PURPOSE})
    assert "<svg" not in r.text
    log_825, log_563 = (audit.audit_url(root / code, code) for code in TENANTS)
    assert [x["outcome"] for x in audit.lookups(log_825, user_id="anne")] == ["not_found", "shown"]
    assert audit.lookups(log_563, user_id="anne") == []
    assert (root / "825" / "audit.sqlite").is_file()


def test_naming_another_municipality_is_refused_with_403_and_logged(installation, app):
    root, _ = installation
    own = job_centre_cpr(root, "825")
    c, token = logged_in(app, "anne")
    assert c.get("/soeg?kommune=563").status_code == 403
    assert c.get("/soeg", headers={"X-Kommune": "563"}).status_code == 403
    assert c.get("/soeg?kommune=825").status_code == 200  # naming one's own is fine
    r = c.post("/soeg", data={"csrf": token, "soegning": own, "formaal": PURPOSE, "kommune": "563"})
    assert r.status_code == 403 and "<svg" not in r.text
    api = c.post("/api/borger", json={"cpr": own, "formaal": PURPOSE, "kommune": "563"},
                 headers={"X-CSRF-Token": token})
    assert api.status_code == 403 and "indsatser" not in api.text
    assert c.get("/api/mig").json()["kommune"] == "825"
    denied = [x for x in audit.lookups(audit.audit_url(root / "825", "825"), user_id="anne")
              if x["outcome"] == "denied_tenant"]
    assert len(denied) == 4 and all(x["result_count"] == 0 for x in denied)
    # The other municipality's log never hears of it.
    assert audit.lookups(audit.audit_url(root / "563", "563"), user_id="anne") == []


def test_a_lookup_handle_of_one_municipality_is_nothing_in_another(installation, app):
    root, _ = installation
    c, token = logged_in(app, "bo")
    r = c.post("/soeg", data={"csrf": token, "soegning": job_centre_cpr(root, "563"), "formaal": PURPOSE})
    assert r.status_code == 303
    handle = r.headers["location"]
    assert c.get(handle).status_code == 200
    anne, _ = logged_in(app, "anne")
    assert anne.get(handle).status_code == 404


def test_a_user_of_a_municipality_not_served_cannot_log_in(app):
    c = client(app)
    r = login(c, "nemo")
    assert r.status_code == 403 and "ikke knyttet til en kommune" in r.text
    assert c.get("/soeg").status_code == 303  # no session


def test_each_municipality_publishes_analytics_with_its_own_key_only(installation):
    root, _ = installation
    assert (root / "825" / "exports" / "analytics.duckdb").is_file()
    # 563 has no key of its own: the installation's is never used for a tenant (it would join their pseudonyms).
    assert not (root / "563" / "exports" / "analytics.duckdb").exists()
    assert (root / "563" / "exports" / "beskaeftigelse.duckdb").is_file()


def test_one_access_log_url_for_every_municipality_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("SAMLET_AUDIT_URL", "postgresql+psycopg2://db/audit")
    with pytest.raises(audit.AuditUnavailable, match="must hold"):
        audit.audit_url(tmp_path, "825")
    monkeypatch.setenv("SAMLET_AUDIT_URL", "postgresql+psycopg2://db/audit_{kommunekode}")
    assert audit.audit_url(tmp_path, "825").endswith("/audit_825")
    assert audit.audit_url(tmp_path).endswith("/audit_installation")  # failed logins: the installation's own


def test_the_command_line_lookup_reads_the_users_own_municipality(installation):
    import json
    import os
    import subprocess
    import sys

    root, env = installation
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SAMLET_", "DAGSTER_"))}, **env}

    def borger(cpr: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "samlet_overblik.cli", "borger", cpr, "--user", "anne",
                               "--purpose", PURPOSE, "--json"], capture_output=True, text=True, timeout=120,
                              env=env, input=PASSWORD + "\n")

    own = borger(job_centre_cpr(root, "825"))
    assert own.returncode == 0, own.stderr
    assert json.loads(own.stdout)["afdeling"] == "beskaeftigelse"
    other = borger(job_centre_cpr(root, "563"))
    assert other.returncode != 0 and "findes ikke" in other.stderr
    assert [x["channel"] for x in audit.lookups(audit.audit_url(root / "825", "825"), user_id="anne")
            if x["channel"] == "cli:borger"] == ["cli:borger", "cli:borger"]
    assert audit.lookups(audit.audit_url(root / "563", "563"), user_id="anne") == []
