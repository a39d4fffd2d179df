"""Read-time enforcement: a withdrawal registered in the consent registry is hidden from every lookup at the next
watcher tick, before the exports are rebuilt; ``watch`` then rebuilds them with ``consent_refresh``."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from samlet_overblik.access import borger
from samlet_overblik.core import warehouse as wh
from samlet_overblik.consent.policy import load_policy
from samlet_overblik.consent.watcher import load_revocations, tick
from samlet_overblik.synthetic import generate
from samlet_overblik.access.users import User
from samlet_overblik.access.views import CitizenView

from pipeline_helpers import run

ANNE = User("anne", "Anne Jensen", "sagsbehandler", "beskaeftigelse")
PURPOSE = "Opfølgning på indsats"


@pytest.fixture(scope="module")
def municipality(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("readtime")
    generate(600, 5, out, noise="none", as_of=date(2026, 11, 1))
    return out


@pytest.fixture(scope="module")
def built(municipality, tmp_path_factory) -> Path:
    """One nightly run of the municipality; every test gets a copy of it (sources, sets and links as they are)."""
    folder = tmp_path_factory.mktemp("readtime-built")
    subprocess.run(["cp", "-r", str(municipality), str(folder / "sources")], check=True)
    run(folder / "sources", folder / "wh" / "samlet_overblik.duckdb")
    return folder


@pytest.fixture
def world(built, tmp_path, monkeypatch):
    for part in ("sources", "wh"):
        subprocess.run(["cp", "-a", str(built / part), str(tmp_path / part)], check=True)
    monkeypatch.setenv("SAMLET_AUDIT_URL", f"sqlite:///{tmp_path / 'audit.sqlite'}")
    return tmp_path / "sources", tmp_path / "wh" / "samlet_overblik.duckdb"


def _shared_basis(warehouse: Path, viewer: str = "beskaeftigelse") -> tuple[str, str]:
    """A consent basis that lets another department's records reach ``viewer``, and one citizen it concerns."""
    with duckdb.connect(str(wh.published_set(warehouse).export(viewer)), read_only=True) as con:
        rows = con.execute(
            "SELECT basis, any_value(cpr) FROM interventions WHERE basis LIKE 'samtykke:%' AND cpr IS NOT NULL "
            "GROUP BY basis ORDER BY count(*) DESC, basis LIMIT 1").fetchall()
    assert rows, "the generated consents open no flow to " + viewer
    return rows[0][0], rows[0][1]


def _withdraw(sources: Path, basis: str) -> None:
    """Withdraw a consent as a careless registry would: the withdrawal time set, the update stamp left alone."""
    sid = basis.removeprefix("samtykke:").split("@")[0]
    withdrawn = (datetime.now(timezone.utc) - timedelta(seconds=5)).strftime("%Y-%m-%d %H:%M:%S")
    with sqlite3.connect(sources / "samtykke.sqlite") as con:
        con.execute("UPDATE samtykke SET tilbagekaldt_tid = ? WHERE samtykke_id = ?", [withdrawn, sid])


def _bases_shown(view: CitizenView) -> set[str]:
    return {i.basis for i in view.part.records}


def _registry(sources: Path) -> str:
    return f"sqlite:///{sources / 'samtykke.sqlite'}"


def test_a_withdrawal_is_hidden_from_lookups_at_once_then_gone_from_the_exports(world):
    sources, warehouse = world
    basis, cpr = _shared_basis(warehouse)
    stores = borger.Stores(warehouse)
    before = borger.citizen_view(stores, ANNE, cpr=cpr, purpose=PURPOSE, channel="test")
    assert basis in _bases_shown(before)

    first = tick(warehouse, _registry(sources), load_policy())
    assert not first.refresh_needed and not first.revocations.entries  # nothing changed yet

    _withdraw(sources, basis)
    result = tick(warehouse, _registry(sources), load_policy())
    assert result.refresh_needed
    assert any(e[0] == "beskaeftigelse" and e[1] == basis for e in result.revocations.entries)
    assert load_revocations(warehouse).entries == result.revocations.entries
    after = borger.citizen_view(stores, ANNE, cpr=cpr, purpose=PURPOSE, channel="test")
    if isinstance(after, CitizenView):
        assert basis not in _bases_shown(after)
        hidden_now = len(before.part.records) - len(after.part.records)
        assert hidden_now > 0 and after.part.not_shared == before.part.not_shared + hidden_now
        assert after.overview is None and after.signals == [] and after.consent_changed_text
    # The exports still hold the rows until consent_refresh rebuilds them; then the watcher has nothing to hide.
    with duckdb.connect(str(wh.published_set(warehouse).export("beskaeftigelse")), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM interventions WHERE basis = ?", [basis]).fetchall()[0][0] > 0
    run(sources, warehouse, "consent_refresh")
    for dept in ("boern_familie", "beskaeftigelse", "social_voksen", "sundhed_aeldre"):
        with duckdb.connect(str(wh.published_set(warehouse).export(dept)), read_only=True) as con:
            assert con.execute("SELECT count(*) FROM interventions WHERE basis = ?", [basis]).fetchall() == [(0,)], dept
    settled = tick(warehouse, _registry(sources), load_policy())
    assert not settled.revocations.entries and not settled.refresh_needed


def test_an_unreachable_registry_hides_every_consent_basis_but_not_the_own_department(world, tmp_path):
    sources, warehouse = world
    basis, cpr = _shared_basis(warehouse)
    result = tick(warehouse, f"sqlite:///{tmp_path / 'gone' / 'samtykke.sqlite'}", load_policy())
    assert result.revocations.all_consents and result.revocations.reason == "registry_unreachable"
    assert not result.refresh_needed  # a refresh would fail closed and keep the exports: nothing to gain
    view = borger.citizen_view(borger.Stores(warehouse), ANNE, cpr=cpr, purpose=PURPOSE, channel="test")
    if isinstance(view, CitizenView):
        assert all(not b.startswith("samtykke:") for b in _bases_shown(view))


def test_a_damaged_revocation_file_hides_every_consent_basis(world):
    sources, warehouse = world
    tick(warehouse, _registry(sources), load_policy())
    (warehouse.parent / "revocations.json").write_text("{not json")
    assert load_revocations(warehouse).all_consents


def test_watch_once_hides_and_rebuilds(world):
    sources, warehouse = world
    basis, _cpr = _shared_basis(warehouse)
    _withdraw(sources, basis)
    cli = subprocess.run(
        [sys.executable, "-m", "samlet_overblik.cli", "watch", "--once", "--sources", str(sources),
         "--warehouse", str(warehouse)], capture_output=True, text=True, timeout=600)
    assert cli.returncode == 0, cli.stderr
    assert "starting consent_refresh" in cli.stdout
    with duckdb.connect(str(wh.published_set(warehouse).export("beskaeftigelse")), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM interventions WHERE basis = ?", [basis]).fetchall() == [(0,)]


def test_a_hard_deleted_consent_is_hidden_at_the_next_tick(world):
    sources, warehouse = world
    basis, cpr = _shared_basis(warehouse)
    sid = basis.removeprefix("samtykke:").split("@")[0]
    with sqlite3.connect(sources / "samtykke.sqlite") as con:
        con.execute("DELETE FROM samtykke_omfang WHERE samtykke_id = ?", [sid])
        con.execute("DELETE FROM samtykke WHERE samtykke_id = ?", [sid])
    result = tick(warehouse, _registry(sources), load_policy())
    rev = result.revocations
    # Either that basis alone is revoked, or (a registry that lost a large share of its consents) every one is.
    assert rev.hides("beskaeftigelse", basis, *next(
        (e[2], e[3]) for e in rev.entries if e[1] == basis)) if not rev.all_consents else rev.reason == "registry_shrunk"
    view = borger.citizen_view(borger.Stores(warehouse), ANNE, cpr=cpr, purpose=PURPOSE, channel="test")
    if isinstance(view, CitizenView):
        assert basis not in _bases_shown(view)


def test_a_missing_registry_file_is_unreachable_and_not_created(world):
    sources, warehouse = world
    registry = sources / "samtykke.sqlite"
    registry.rename(sources / "moved-away.sqlite")
    result = tick(warehouse, _registry(sources), load_policy())
    assert result.revocations.all_consents and result.revocations.reason == "registry_unreachable"
    assert not registry.exists()  # connecting must not leave an empty database where the registry belongs


def test_consent_refresh_rebuilds_only_the_exports_a_change_touches(world):
    """An export whose inputs did not change (same fingerprint) is the previous set's file, hard-linked; a withdrawal
    rebuilds exactly the exports that showed the withdrawn basis."""
    import json
    import os

    from samlet_overblik.sources.specs import departments

    sources, warehouse = world
    first = wh.published_set(warehouse)
    run(sources, warehouse, "consent_refresh")
    unchanged = wh.published_set(warehouse)
    assert unchanged.set_id != first.set_id
    for dept in departments():
        assert os.path.samefile(first.export(dept), unchanged.export(dept)), dept
    manifest = json.loads((unchanged.warehouse.parent / wh.MANIFEST).read_text())
    assert sorted(manifest["reused"]) == sorted(f"{d}.duckdb" for d in departments())

    basis, _ = _shared_basis(warehouse)
    showing = set()
    for dept in departments():
        with duckdb.connect(str(unchanged.export(dept)), read_only=True) as con:
            n = con.execute("SELECT (SELECT count(*) FROM interventions WHERE basis = $b) + "
                            "(SELECT count(*) FROM coordination_plans WHERE basis = $b) + "
                            "(SELECT count(*) FROM home_visits WHERE basis = $b)", {"b": basis}).fetchall()[0][0]
        if n:
            showing.add(dept)
    assert "beskaeftigelse" in showing and showing != set(departments())
    _withdraw(sources, basis)
    run(sources, warehouse, "consent_refresh")
    after = wh.published_set(warehouse)
    for dept in departments():
        same = os.path.samefile(unchanged.export(dept), after.export(dept))
        assert same == (dept not in showing), dept
        with duckdb.connect(str(after.export(dept)), read_only=True) as con:
            assert con.execute("SELECT count(*) FROM interventions WHERE basis = ?", [basis]).fetchall() == [(0,)]
            built_by, fingerprint = con.execute("SELECT run_id, fingerprint FROM export_info").fetchall()[0]
        assert fingerprint and built_by == (first.set_id if same else after.set_id)


def test_the_watcher_judges_again_on_every_change_and_only_then(world):
    """Between whole reads a tick reuses its last judgement (test_consent_watch_fingerprint: the fingerprint)."""
    sources, warehouse = world
    url, policy = _registry(sources), load_policy()
    time.sleep(2.1)  # the generated registry file settles
    first = tick(warehouse, url, policy)
    assert "registry unchanged" not in first.notes and first.registry_rows > 0
    again = tick(warehouse, url, policy)
    assert again.notes == ["registry unchanged"] and again.revocations == first.revocations
    assert again.digest == first.digest

    # A withdrawal: judged again at once, and the basis is revoked.
    basis, _ = _shared_basis(warehouse)
    _withdraw(sources, basis)
    changed = tick(warehouse, url, policy)
    assert "registry unchanged" not in changed.notes
    assert any(e[1] == basis for e in changed.revocations.entries) and changed.refresh_needed

    # The clock passing a consent's time limit is a change too, though the registry is the same.
    time.sleep(2.1)
    settled = tick(warehouse, url, policy)
    assert tick(warehouse, url, policy).notes == ["registry unchanged"]
    later = tick(warehouse, url, policy, now=datetime.now() + timedelta(days=3650))
    assert "registry unchanged" not in later.notes
    assert settled.revocations.entries <= later.revocations.entries

    # A whole read at least every full_read_every seconds, whatever the fingerprint says.
    assert "registry unchanged" not in tick(warehouse, url, policy, full_read_every=0).notes

    # A new set is judged at once, from the rows staged at the last whole read (no second read of the registry).
    run(sources, warehouse, "consent_refresh")
    after_publish = tick(warehouse, url, policy)
    assert after_publish.notes == ["registry unchanged: staged rows judged again"]
    assert not after_publish.revocations.entries and not after_publish.refresh_needed
    assert tick(warehouse, url, policy).notes == ["registry unchanged"]


def test_lineage_after_a_closed_run_explains_what_the_carried_exports_show(world):
    """A run that fails closed republishes no export: each department keeps the export an earlier run built. Lineage
    explained those with the closed run's decisions ("blocked: fail_closed") while they still showed the rows."""
    from samlet_overblik.consent.lineage import lineage_report

    sources, warehouse = world
    basis, cpr = _shared_basis(warehouse)
    built_by = wh.published_set(warehouse).set_id
    (sources / "samtykke.sqlite").rename(sources / "samtykke.offline")
    closed = run(sources, warehouse, "consent_refresh")
    assert wh.manifest(wh.published_set(warehouse))["carried_forward_from"] == built_by
    report = lineage_report(warehouse, cpr)
    shown = [d for d in report.latest_decisions if d.department == "beskaeftigelse" and d.basis == basis]
    assert shown and all(d.decision == "delt" and d.run_id == built_by for d in shown)
    assert not any(d.run_id == closed.run_id and d.department != d.owner and d.decision == "delt"
                   for d in report.latest_decisions)
    assert any("ført videre fra kørsel " + built_by in n for n in report.notes)
    # Once the set that built the exports is pruned, lineage says so instead of guessing.
    for _ in range(3):
        run(sources, warehouse, "consent_refresh")
    assert built_by not in wh.history(warehouse)["sets"]
    report = lineage_report(warehouse, cpr)
    assert not [d for d in report.latest_decisions if d.department == "beskaeftigelse" and d.department != d.owner]
    assert any("ikke længere er gemt" in n for n in report.notes), report.notes
