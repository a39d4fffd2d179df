"""The access log: one row per lookup with user, role, department, person key, purpose, time and result count;
fail closed when it cannot be written — on SQLite (default) and on PostgreSQL."""

from __future__ import annotations

import pytest
from test_web_support import world

from samlet_overblik.access import audit, borger
from samlet_overblik.access.users import User

ANNE = User("anne", "Anne Jensen", "sagsbehandler", "beskaeftigelse")
PURPOSE = "Opfølgning på indsats"


@pytest.fixture
def w(tmp_path_factory, small_municipality):
    return world(tmp_path_factory, small_municipality)


def _lookup_and_check(w, url, monkeypatch):
    monkeypatch.setenv("SAMLET_AUDIT_URL", url)
    view = borger.citizen_view(borger.Stores(w.warehouse), ANNE, cpr=w.cpr, purpose=PURPOSE, channel="test")
    rows = audit.lookups(url, person_key=w.person_key)
    assert len(rows) == 1
    r = rows[0]
    assert (r["user_id"], r["role"], r["department"], r["purpose"], r["outcome"]) == (
        "anne", "sagsbehandler", "beskaeftigelse", PURPOSE, "shown")
    assert r["result_count"] == len(view.part.records) and r["logged_at"] is not None
    assert w.cpr not in repr(rows)  # person key, never the CPR
    assert audit.lookups(url, user_id="anne") == rows


def test_every_lookup_is_logged_sqlite(w, tmp_path, monkeypatch):
    _lookup_and_check(w, f"sqlite:///{tmp_path / 'audit.sqlite'}", monkeypatch)


@pytest.mark.integration
def test_every_lookup_is_logged_postgresql(w, pg_url, monkeypatch):
    _lookup_and_check(w, pg_url, monkeypatch)


def _fails_closed(w, url, monkeypatch):
    monkeypatch.setenv("SAMLET_AUDIT_URL", url)
    with pytest.raises(audit.AuditUnavailable):
        borger.citizen_view(borger.Stores(w.warehouse), ANNE, cpr=w.cpr, purpose=PURPOSE, channel="test")


def test_lookup_fails_closed_sqlite(w, tmp_path, monkeypatch):
    (tmp_path / "dir").mkdir()
    _fails_closed(w, f"sqlite:///{tmp_path / 'dir'}", monkeypatch)


@pytest.mark.integration
def test_lookup_fails_closed_postgresql(w, pg_url, monkeypatch):
    import sqlalchemy as sa

    # The log table exists, then the database refuses writes: the lookup must fail.
    audit.log_access(pg_url, user_id="x", role="sagsbehandler", department=None, person_key=None, purpose=PURPOSE,
                     channel="test", result_count=0)
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE access_log ADD CONSTRAINT no_more CHECK (id < 0) NOT VALID"))
    engine.dispose()
    _fails_closed(w, pg_url, monkeypatch)
    bad = sa.engine.make_url(pg_url).set(port=1).render_as_string(hide_password=False)  # nothing listens there
    _fails_closed(w, bad, monkeypatch)


def test_old_logs_gain_the_new_column(tmp_path):
    import sqlite3

    path = tmp_path / "audit.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE access_log (id INTEGER PRIMARY KEY, logged_at DATETIME NOT NULL, user_id VARCHAR(100) "
                    "NOT NULL, role VARCHAR(40) NOT NULL, department VARCHAR(40), person_key VARCHAR(40), purpose "
                    "VARCHAR(200) NOT NULL, channel VARCHAR(20) NOT NULL, result_count INTEGER NOT NULL, outcome "
                    "VARCHAR(40) NOT NULL)")
    url = f"sqlite:///{path}"
    audit.log_access(url, user_id="u", role="compliance", department=None, person_key="p1",
                     purpose="compliance: adgangslog", channel="t",
                     result_count=1, requested_department="social_voksen")
    assert audit.lookups(url, person_key="p1")[0]["requested_department"] == "social_voksen"


def test_denials_are_logged(w, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    monkeypatch.setenv("SAMLET_AUDIT_URL", url)
    stores = borger.Stores(w.warehouse)
    with pytest.raises(borger.AccessDenied):
        borger.citizen_view(stores, ANNE, cpr=w.cpr, purpose=PURPOSE, channel="t", requested_department="boern_familie")
    with pytest.raises(borger.AccessDenied):
        borger.citizen_view(stores, User("carl", "C", "compliance"), cpr=w.cpr, purpose=PURPOSE, channel="t")
    assert [r["outcome"] for r in audit.lookups(url)] == ["denied_role", "denied_department"]
